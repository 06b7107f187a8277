"""Where a W3 burst's time goes: 1,000 updates of one chat in one process, per storage.

The W3 burst of the bot layer (read the counter, sleep 1 ms, write + 1; lock on; after an
untimed update of another chat, which opens the storage's connections), with
every awaited call into the storage's locking protocol timed: ``acquire`` (lock, and read
when the session is loaded), the lease's ``write``/``delete``/``release``, and on
PostgreSQL ``flushed`` (the disk flush a kept write waits for while the next update
already runs, so it overlaps other rows and is shown apart). The handler stamps its own
start and end. Per update, the wall time splits into:

* the serial floor's share: one ``asyncio.sleep(0.001)`` measured serially in this process;
* the sleep's stretch: how much longer the handler's sleep took inside the burst;
* awaited storage calls (round trips and the server's work);
* the rest: the engine, the dispatch into the handler and the handover to the next
  update (the wake-up of its task).

Timing wrappers are installed on the storage and lease classes for this process only.
Run: ``python -m bench.burst_profile [--k 1000] [--redis-url URL] [--postgres-dsn DSN]``
(the Redis database given is flushed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from bench._common import W3_CHAT, make_updates
from bench._env import Env
from bench._ours_cases import serial_floor
from bench._ours_storage import make_store, maybe_await
from bench._servers import DEFAULT_POSTGRES_DSN
from bench.ours_bot import make_bot

LEASE_CALLS = ("write", "delete", "release", "flushed")


class Timings:
    """Seconds awaited per storage call, and how often each was called."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._patched: list[tuple[type, str, Any]] = []

    def wrap(self, cls: type, name: str, seen: Callable[[Any], None] | None = None) -> None:
        """Time ``cls.name`` (once); ``seen``, if given, gets each result."""
        original = getattr(cls, name, None)
        if original is None or any(c is cls and n == name for c, n, _ in self._patched):
            return
        seconds, calls = self.seconds, self.calls

        @functools.wraps(original)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = await original(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - started
                calls[name] += 1
            if seen is not None:
                seen(result)
            return result

        self._patched.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, timed)

    def watch(self, storage: Any) -> None:
        """Time ``storage.acquire`` and, from the first lease on, its lease class."""
        self.wrap(type(storage), "acquire", seen=self._watch_lease)

    def _watch_lease(self, lease: Any) -> None:
        for name in LEASE_CALLS:
            self.wrap(type(lease), name)

    def restore(self) -> None:
        for cls, name, original in reversed(self._patched):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
        self._patched.clear()


async def profile(kind: str, env: Env) -> dict[str, Any]:
    """One burst of ``env.k`` updates on ``kind``, its wall time split per update (µs)."""
    from botsessions import session

    store = await make_store(kind, env)
    timings = Timings()
    handler = [0.0]  # seconds inside the handler, summed
    if kind != "memory":
        timings.watch(store.storage)
    try:
        bot = make_bot()
        bot.use(session(initial=lambda: {"count": 0}, storage=store.storage))

        async def rmw(ctx: Any, next: Callable[[], Any]) -> None:
            started = time.perf_counter()
            value = ctx.session["count"]
            await asyncio.sleep(0.001)
            ctx.session["count"] = value + 1
            handler[0] += time.perf_counter() - started

        bot.on("message", rmw)
        updates = make_updates(env.k, 1, chat_base=W3_CHAT)
        await bot.handle_update(make_updates(1, 1, chat_base=W3_CHAT + 1)[0])  # connects
        floor = await serial_floor(env.k)
        timings.seconds.clear()
        timings.calls.clear()
        started = time.perf_counter()
        results = await asyncio.gather(
            *(bot.handle_update(u) for u in updates), return_exceptions=True
        )
        seconds = time.perf_counter() - started
        value = await maybe_await(store.storage.read(str(W3_CHAT)))
        stored = int(value.get("count", 0)) if isinstance(value, dict) else 0
    finally:
        timings.restore()
        await store.cleanup()
    errors = [r for r in results if isinstance(r, BaseException)]
    k = env.k
    per = 1e6 / k
    awaited = sum(s for name, s in timings.seconds.items() if name != "flushed")
    row: dict[str, Any] = {
        "storage": kind,
        "final": stored,
        "errors": len(errors),
        "total_us": seconds * per,
        "floor_us": floor * per,
        "stretch_us": handler[0] * per - floor * per,
        "storage_us": awaited * per,
        "calls": {name: timings.calls[name] / k for name in sorted(timings.calls)},
        "call_us": {
            name: timings.seconds[name] / timings.calls[name] * 1e6 for name in timings.calls
        },
        "flushed_us": timings.seconds["flushed"] * per,
    }
    row["rest_us"] = row["total_us"] - row["floor_us"] - row["stretch_us"] - row["storage_us"]
    row["vs_floor"] = seconds / floor
    return row


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| storage | × floor | µs/update | floor (1 ms sleep) | sleep stretch | awaited storage "
        "calls | rest: engine, dispatch, handover | storage calls per update (µs each) "
        "| final | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        calls = ", ".join(
            f"{name} {count:.3g} ({r['call_us'][name]:.0f})" for name, count in r["calls"].items()
        )
        if r["flushed_us"]:
            calls += f"; flushed overlaps the next update: {r['flushed_us']:.0f} µs/update"
        lines.append(
            f"| {r['storage']} | {r['vs_floor']:.2f} | {r['total_us']:.0f} | {r['floor_us']:.0f} "
            f"| {r['stretch_us']:.0f} | {r['storage_us']:.0f} | {r['rest_us']:.0f} "
            f"| {calls or '—'} | {r['final']} | {r['errors']} |"
        )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> None:
    env = Env(
        n=0,
        chats=1,
        reps=1,
        rotation=0,
        redis_url=args.redis_url,
        postgres_dsn=args.postgres_dsn,
        workdir="/tmp",
        count_ops=False,
        k=args.k,
    )
    rows = []
    for _ in range(args.runs):
        for kind in args.storages.split(","):
            rows.append(await profile(kind, env))
    print(render(rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst_profile", description=__doc__)
    parser.add_argument("--k", type=int, default=1000, help="updates in the burst")
    parser.add_argument("--runs", type=int, default=1, help="bursts per storage")
    parser.add_argument("--storages", default="memory,redis,postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--postgres-dsn", default=DEFAULT_POSTGRES_DSN)
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
