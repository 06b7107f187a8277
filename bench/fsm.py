"""FSM across processes: 4 aiogram bot processes × 250 updates of one chat, one FSM storage.

Each worker (``python -m bench.fsm --worker ...``) is an aiogram ``Dispatcher`` whose
handler does ``data = await state.get_data()``, ``await asyncio.sleep(0.001)``,
``await state.update_data(n=data.get("n", 0) + 1)``, fed through
``dp.feed_raw_update`` (no network). Configurations, all in one run:

* ``FSMStorage`` + ``SessionIsolation`` over botsessions' ``RedisStorage``;
* the same over ``PostgresStorage``;
* aiogram's own ``RedisStorage`` + ``RedisEventIsolation`` (its lock polls every 0.1 s).

The workers start in parallel, warm up on a chat of their own, print ``ready`` and wait
for a line on stdin; the parent releases them together and times the burst from the
release to the last worker done (``time.monotonic()``, a system-wide clock). The serial
floor is 1,000 × the handler's own time: the mean of the same handler run serially in
this process over aiogram's ``MemoryStorage`` (no I/O). ``n`` must end at exactly 1,000.
botsessions' configurations run ``--runs`` bursts (3) and report the median one, with the
spread of the ratio to the floor; aiogram's (about 15 s a burst) runs once.

Run alone: ``python -m bench.fsm [--redis-url URL] [--postgres-dsn DSN] [--runs 3]
[--no-aiogram]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from typing import Any

from bench._common import Json
from bench._runner import BENCH_DIR, Progress
from bench._servers import DEFAULT_POSTGRES_DSN, postgres_drop

CONFIGS = ("botsessions-redis", "botsessions-postgres", "aiogram-redis")
LABELS = {
    "botsessions-redis": "FSMStorage + SessionIsolation, RedisStorage",
    "botsessions-postgres": "FSMStorage + SessionIsolation, PostgresStorage",
    "aiogram-redis": "aiogram RedisStorage + RedisEventIsolation",
}
CHAT = 777_100
PAUSE = 0.001
FLOOR_SAMPLES = 300
RUNS = 3
START_TIMEOUT = 180.0
BURST_TIMEOUT = 900.0


def _update(update_id: int, chat_id: int) -> Json:
    sender = {"id": chat_id, "is_bot": False, "first_name": "User"}
    chat = {"id": chat_id, "type": "private"}
    message = {"message_id": update_id, "date": 1_700_000_000, "chat": chat, "from": sender}
    return {"update_id": update_id, "message": {**message, "text": "count"}}


def _fsm(config: str, target: str, name: str) -> tuple[Any, Any, Any]:
    """(aiogram storage, aiogram isolation, what to close) of one configuration."""
    if config == "aiogram-redis":
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisStorage as AiogramRedisStorage

        # redis-py 8 caps a pool at 100 connections; every waiter of aiogram's lock polls
        # on its own connection, so 250 concurrent updates need more.
        storage = AiogramRedisStorage.from_url(
            target,
            connection_kwargs={"max_connections": 10_000},
            key_builder=DefaultKeyBuilder(prefix=name),
        )
        return storage, storage.create_isolation(), storage
    from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation
    from botsessions.storage import PostgresStorage, RedisStorage

    if config == "botsessions-redis":
        store: Any = RedisStorage(target, prefix=f"{name}:", lock_wait=BURST_TIMEOUT)
    else:
        store = PostgresStorage(target, table=name, lock_wait=BURST_TIMEOUT, max_size=4)
    return FSMStorage(store), SessionIsolation(store), store


def _counter_handler(pause: float) -> Any:
    async def count(message: Any, state: Any) -> None:
        data = await state.get_data()
        await asyncio.sleep(pause)
        await state.update_data(n=data.get("n", 0) + 1)

    return count


async def worker(config: str, target: str, name: str, updates: int, index: int) -> None:
    """One bot process: warm up, ``ready``, wait for stdin, feed ``updates`` at once."""
    from aiogram import Bot, Dispatcher

    storage, isolation, owned = _fsm(config, target, name)
    bot = Bot("42:TEST")
    try:
        dp = Dispatcher(storage=storage, events_isolation=isolation)
        dp.message.register(_counter_handler(PAUSE))
        await dp.feed_raw_update(bot, _update(1, CHAT + 1 + index))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        first = 100 + index * updates
        results = await asyncio.gather(
            *(dp.feed_raw_update(bot, _update(first + i, CHAT)) for i in range(updates)),
            return_exceptions=True,
        )
        done = time.monotonic()
        errors = [r for r in results if isinstance(r, BaseException)]
        first_error = repr(errors[0]) if errors else None
        report = {
            "started": started,
            "done": done,
            "errors": len(errors),
            "first_error": first_error,
        }
        print("done " + json.dumps(report), flush=True)
    finally:
        await bot.session.close()
        await owned.close()


async def handler_time(samples: int = FLOOR_SAMPLES) -> float:
    """Mean seconds of the handler alone: serially, over aiogram's MemoryStorage."""
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.fsm.storage.memory import MemoryStorage

    state = FSMContext(MemoryStorage(), StorageKey(bot_id=42, chat_id=CHAT, user_id=CHAT))
    count = _counter_handler(PAUSE)
    started = time.monotonic()
    for _ in range(samples):
        await count(None, state)
    return (time.monotonic() - started) / samples


async def _final_count(config: str, target: str, name: str) -> int:
    from aiogram.fsm.storage.base import StorageKey

    storage, _, owned = _fsm(config, target, name)
    try:
        data = await storage.get_data(StorageKey(bot_id=42, chat_id=CHAT, user_id=CHAT))
    finally:
        await owned.close()
    return int(data.get("n", 0))


async def _cleanup(config: str, target: str, name: str) -> None:
    if config == "botsessions-postgres":
        await postgres_drop(target, name)
        return
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(target)
    try:
        names = [k async for k in client.scan_iter(match=f"{name}:*", count=1000)]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()


async def burst(config: str, target: str, *, processes: int, per_process: int) -> Json:
    """One timed burst of ``processes`` × ``per_process`` updates for one configuration."""
    name = f"bench_fsm_{uuid.uuid4().hex[:10]}"
    argv = ["--config", config, "--target", target, "--name", name]
    argv += ["--updates", str(per_process)]
    workers = [
        await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "bench.fsm", "--worker", *argv, "--index", str(i)],
            cwd=BENCH_DIR.parent,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(processes)
    ]
    try:
        for w in workers:
            assert w.stdout is not None
            line = await asyncio.wait_for(w.stdout.readline(), START_TIMEOUT)
            if line.strip() != b"ready":
                _, err = await w.communicate()
                raise RuntimeError(f"{config} worker failed: {err.decode()[-1500:]}")
        floor = await handler_time() * processes * per_process
        released = time.monotonic()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(b"go\n")
        await asyncio.gather(*(w.stdin.drain() for w in workers if w.stdin is not None))
        outputs = await asyncio.wait_for(
            asyncio.gather(*(w.communicate() for w in workers)), BURST_TIMEOUT
        )
        reports = []
        for (out, err), w in zip(outputs, workers, strict=True):
            if w.returncode != 0:
                raise RuntimeError(f"{config} worker exited {w.returncode}: {err.decode()[-1500:]}")
            reports.append(json.loads(out.decode().strip().removeprefix("done ")))
        final = await _final_count(config, target, name)
    finally:
        for w in workers:
            if w.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.kill()
                await w.wait()
        await _cleanup(config, target, name)
    seconds = max(r["done"] for r in reports) - released
    total = processes * per_process
    return {
        "config": LABELS[config],
        "processes": processes,
        "per_process": per_process,
        "final": final,
        "lost": total - final,
        "errors": sum(r["errors"] for r in reports),
        "first_error": next((r["first_error"] for r in reports if r["first_error"]), None),
        "seconds": seconds,
        "serial_floor_s": floor,
        "vs_floor": seconds / floor,
        "barrier_spread_s": max(r["started"] for r in reports) - released,
    }


async def measure(
    *,
    redis_url: str,
    postgres_dsn: str,
    processes: int = 4,
    per_process: int = 250,
    runs: int = RUNS,
    configs: tuple[str, ...] = CONFIGS,
    progress: Progress | None = None,
) -> Json:
    """``runs`` bursts of each botsessions configuration, one of aiogram's; a failed
    configuration is listed under ``failures``."""
    targets = {"botsessions-postgres": postgres_dsn}
    rows: list[Json] = []
    failures: dict[str, str] = {}
    for config in configs:
        if progress is not None:
            progress.show(f"FSM across processes: {LABELS[config]}")
        target = targets.get(config, redis_url)
        bursts: list[Json] = []
        try:
            # aiogram's own isolation takes about 15 s a burst: it runs once.
            for _ in range(1 if config == "aiogram-redis" else runs):
                bursts.append(
                    await burst(config, target, processes=processes, per_process=per_process)
                )
        except Exception as exc:  # that row says why it is missing; the rest still runs
            failures[LABELS[config]] = f"{type(exc).__name__}: {exc}"[-1500:]
        if bursts:
            rows.append(_combined(bursts))
    return {"rows": rows, "failures": failures, "pause_s": PAUSE}


def _combined(bursts: list[Json]) -> Json:
    """One row for the bursts of one configuration: the median burst, the worst final ``n``, every
    lost update and error, and each burst's ratio to the floor (``vs_floor_runs``)."""
    ratios = [float(b["vs_floor"]) for b in bursts]
    middle = sorted(range(len(bursts)), key=ratios.__getitem__)[(len(bursts) - 1) // 2]
    row = dict(bursts[middle])  # the median burst: its time and floor go together
    row["final"] = min(int(b["final"]) for b in bursts)
    row["lost"] = sum(int(b["lost"]) for b in bursts)
    row["errors"] = sum(int(b["errors"]) for b in bursts)
    row["first_error"] = next((b["first_error"] for b in bursts if b["first_error"]), None)
    row["vs_floor_runs"] = ratios
    return row


def render(result: Json | None) -> str:
    """The phase as a Markdown section (empty when it did not run)."""
    if not result:
        return ""
    lines = [
        "",
        "## aiogram FSM across processes",
        "",
        "4 processes × 250 updates of one chat; handler: get_data, sleep 1 ms, update_data."
        " With several bursts: the median one's figures, × floor [min, max].",
        "",
        "| configuration | n at the end | errors | seconds | serial floor (s) | × floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        ratios = r.get("vs_floor_runs") or [r["vs_floor"]]
        spread = f" [{min(ratios):.2f}, {max(ratios):.2f}]" if len(ratios) > 1 else ""
        lines.append(
            f"| {r['config']} | {r['final']:,} | {r['errors']} | {r['seconds']:.2f} "
            f"| {r['serial_floor_s']:.2f} | {r['vs_floor']:.2f}{spread} |"
        )
    lines += [
        f"| {label} | failed: {why[:200]} | | | | |" for label, why in result["failures"].items()
    ]
    return "\n".join(lines) + "\n"


def run(*, redis_url: str, postgres_dsn: str, progress: Progress | None = None) -> Json:
    """Synchronous entry point of the combined runner (``python -m bench``)."""
    return asyncio.run(measure(redis_url=redis_url, postgres_dsn=postgres_dsn, progress=progress))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fsm", description=__doc__)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=CONFIGS)
    parser.add_argument("--target")
    parser.add_argument("--name")
    parser.add_argument("--updates", type=int, default=250)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres-dsn", default=DEFAULT_POSTGRES_DSN)
    parser.add_argument("--runs", type=int, default=RUNS, help="bursts per botsessions config")
    parser.add_argument("--no-aiogram", action="store_true", help="skip RedisEventIsolation")
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(worker(args.config, args.target, args.name, args.updates, args.index))
        return
    configs = tuple(c for c in CONFIGS if not (args.no_aiogram and c == "aiogram-redis"))
    result = asyncio.run(
        measure(
            redis_url=args.redis_url,
            postgres_dsn=args.postgres_dsn,
            runs=args.runs,
            configs=configs,
        )
    )
    sys.stdout.write(render(result))
    print(json.dumps(result, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
