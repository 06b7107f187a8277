"""Child processes of the scale-out rows (``bench._scaleout``): W2, W3 and burst workers.

    python -m bench._scaleout_child w2 KIND URL --n N --chats C --reps R [--nodes URL,...]
    python -m bench._scaleout_child w3 KIND URL --k K
    python -m bench._scaleout_child worker --index I --updates U --plan JSON

``KIND`` is ``cluster`` (``URL`` a ``redis+cluster://`` URL; ``--nodes`` the nodes'
``redis://`` URLs, for their command counts) or ``mysql`` (a ``mysql://`` URL). W2 and W3
print one JSON document on stdout. A worker follows ``bench._w3_worker``'s protocol:
per burst of the plan it prints ``ready``, blocks on the burst's barrier descriptor,
handles its updates of the shared chat at once and prints ``result {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from bench._common import (
    W3_CHAT,
    Json,
    Prepared,
    Workload,
    emit,
    make_updates,
    now,
    run_workloads,
    summary,
)
from bench._common import progress as child_progress
from bench._ours_cases import serial_floor
from bench._ours_storage import counting, per_update
from bench._servers import redis_commands

KINDS = ("cluster", "mysql")
LABELS = {"cluster": "RedisStorage on Redis Cluster (3 primaries)", "mysql": "MySQLStorage"}
LOCK_WAIT = 120.0  # the bursts are measured, not the lock timeout
PAUSE = 0.001
COUNT_UPDATES = 5000
WARM_CHAT = W3_CHAT + 1
# Client bookkeeping (slot map, pool set-up) and the checks' enumeration are not counted.
_NOT_COUNTED = {"cluster", "command", "config", "info", "ping", "scan", "mget", "client", "hello"}


async def _mysql_connect(url: str) -> Any:
    import asyncmy

    parts = urlsplit(url)
    return await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")),
        autocommit=True,
    )


async def mysql_query(url: str, statement: str) -> list[Any]:
    """Run one statement on a connection of its own; return its rows."""
    conn = await _mysql_connect(url)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
            return list(await cursor.fetchall())
    finally:
        conn.close()


def make_storage(kind: str, url: str, name: str, lock_wait: float = LOCK_WAIT) -> Any:
    """``name`` is the key prefix on the cluster, the table on MariaDB/MySQL."""
    from botsessions.storage import MySQLStorage, RedisStorage

    if kind == "cluster":
        return RedisStorage(url, prefix=name, lock_wait=lock_wait)
    if kind == "mysql":
        return MySQLStorage(url, table=name, lock_wait=lock_wait)
    raise ValueError(f"unknown scale-out storage {kind!r}; use one of {KINDS}")


def fresh_name(kind: str, what: str) -> str:
    """A key prefix or table name no other run uses."""
    tag = uuid.uuid4().hex[:10]
    return f"bench:{what}:{tag}:" if kind == "cluster" else f"bench_{what}_{tag}"


async def remove(kind: str, url: str, name: str, storage: Any) -> None:
    """Delete what ``storage`` stored (its keys, or its table), and close it."""
    if kind == "cluster":
        for key in [k async for k in storage.read_all_keys()]:
            await storage.delete(key)
    await storage.close()
    if kind == "mysql":
        await mysql_query(url, f"DROP TABLE IF EXISTS `{name}`")


async def rtt_us(kind: str, url: str, reps: int = 2000) -> float:
    """One plain driver round trip (``RedisCluster`` GET, asyncmy ``SELECT 1``), in µs."""
    if kind == "cluster":
        import redis.asyncio as aioredis

        client = aioredis.RedisCluster.from_url("redis://" + url.split("://", 1)[1])
        probe = f"bench:rtt:{uuid.uuid4().hex[:8]}"
        try:
            await client.set(probe, b"{}")

            async def get() -> Any:
                return await client.get(probe)

            return await _time_calls(get, reps)
        finally:
            await client.delete(probe)
            await client.aclose()
    conn = await _mysql_connect(url)
    try:
        async with conn.cursor() as cursor:

            async def select_one() -> Any:
                await cursor.execute("SELECT 1")
                return await cursor.fetchall()

            return await _time_calls(select_one, reps)
    finally:
        conn.close()


async def _time_calls(call: Callable[[], Awaitable[Any]], reps: int) -> float:
    for _ in range(200):
        await call()
    started = now()
    for _ in range(reps):
        await call()
    return (now() - started) / reps * 1e6


def _initial() -> dict[str, int]:
    return {"count": 0}


async def _count(ctx: Any, next: Any) -> None:
    ctx.session["count"] += 1


async def _rmw(ctx: Any, next: Any) -> None:
    value = ctx.session["count"]
    await asyncio.sleep(PAUSE)
    ctx.session["count"] = value + 1


def _bot(storage: Any, handler: Callable[[Any, Any], Awaitable[None]], locking: bool) -> Any:
    from bench.ours_bot import make_bot
    from botsessions import session

    bot = make_bot()
    if storage is not None:
        bot.use(session(initial=_initial, storage=storage, locking=locking))
    bot.on("message", handler)
    return bot


def _w0(updates: list[Json]) -> Workload:
    async def build(n: int) -> Prepared:
        handled = [0]

        async def ignore(ctx: Any, next: Any) -> None:
            handled[0] += 1

        async def verify(done: int) -> Json:
            return {"handled": handled[0], "ok": handled[0] == done}

        return Prepared(_bot(None, ignore, True).handle_update, updates, verify)

    return Workload("W0", "Bot.handle_update, no session, no-op handler", build)


def _w2(kind: str, url: str, updates: list[Json], locking: bool) -> Workload:
    async def build(n: int) -> Prepared:
        name = fresh_name(kind, "w2")
        storage = make_storage(kind, url, name, lock_wait=10.0)

        async def verify(n: int) -> Json:
            total = sum([int(v["count"]) async for v in storage.read_all_values()])
            return {"sum": total, "ok": total == n}

        async def close() -> None:
            await remove(kind, url, name, storage)

        return Prepared(_bot(storage, _count, locking).handle_update, updates, verify, close)

    lock = "cross-process lock on" if locking else "locking=False"
    return Workload(
        f"W2-{kind}" + ("" if locking else "-nolock"),
        f"{LABELS[kind]}, {lock}: counter += 1",
        build,
        extra={"storage": kind, "locking": locking},
    )


async def _set_stats(nodes: Sequence[str]) -> None:
    import redis.asyncio as aioredis

    for node in nodes:
        client = aioredis.Redis.from_url(node)
        try:
            await client.config_resetstat()
        finally:
            await client.aclose()


async def _counts(
    kind: str, url: str, updates: list[Json], locking: bool, nodes: Sequence[str]
) -> Json:
    """Untimed pass: storage calls per update, and the cluster nodes' commands per update."""
    calls: Counter[str] = Counter()
    name = fresh_name(kind, "w2c")
    storage = make_storage(kind, url, name, lock_wait=10.0)
    bot = _bot(counting(storage, calls, locking), _count, locking)
    try:
        await bot.handle_update(make_updates(1, 1, chat_base=W3_CHAT)[0])  # connects
        await storage.delete(str(W3_CHAT))
        calls.clear()
        await _set_stats(nodes)
        for update in updates:
            await bot.handle_update(update)
        commands: Counter[str] = Counter()
        for node in nodes:
            for command, count in (await redis_commands(node)).items():
                if command.split("|")[0] not in _NOT_COUNTED:
                    commands[command] += count
    finally:
        await remove(kind, url, name, storage)
    found: Json = {"storage_calls_per_update": per_update(calls, len(updates))}
    if nodes:
        found["redis_commands_per_update"] = {
            command: count / len(updates) for command, count in sorted(commands.items())
        }
    return found


async def w2(kind: str, url: str, *, n: int, chats: int, reps: int, nodes: Sequence[str]) -> Json:
    """W0 and the counter with the lock on and off; overheads and round trips summarized."""
    child_progress(f"W2 {LABELS[kind]}: driver round trip")
    rtt = await rtt_us(kind, url)
    updates = make_updates(n, chats)
    loaded = [_w2(kind, url, updates, locking) for locking in (True, False)]
    raw = await run_workloads(f"W2 {kind}", [_w0(updates), *loaded], n, reps)
    rows: Json = {}
    for w in loaded:
        row = raw[w.name]
        rows[w.name] = {
            "label": row["label"],
            "storage": kind,
            "locking": row["locking"],
            "updates_per_s": summary(row["updates_per_s"]),
            "overhead_us": summary(row["overhead_us"]),
            "round_trips": summary([o / rtt for o in row["overhead_us"]]),
            "checks": row["checks"],
        }
        child_progress(f"W2 {LABELS[kind]}: storage calls {w.name}")
        counted = updates[: min(n, COUNT_UPDATES)]
        rows[w.name].update(await _counts(kind, url, counted, row["locking"], nodes))
    return {
        "kind": kind,
        "label": LABELS[kind],
        "rtt_us": rtt,
        "w0_updates_per_s": summary(raw["W0"]["updates_per_s"]),
        "workloads": rows,
    }


async def w3(kind: str, url: str, *, k: int) -> Json:
    """``k`` updates of one chat at once in this process, lock on; the W3 row."""
    child_progress(f"W3 {LABELS[kind]}")
    name = fresh_name(kind, "w3")
    storage = make_storage(kind, url, name)
    try:
        bot = _bot(storage, _rmw, True)
        await bot.handle_update(make_updates(1, 1, chat_base=WARM_CHAT)[0])  # connects
        updates = make_updates(k, 1, chat_base=W3_CHAT)
        floor = await serial_floor(k)
        started = now()
        results = await asyncio.gather(*map(bot.handle_update, updates), return_exceptions=True)
        seconds = now() - started
        stored = await storage.read(str(W3_CHAT))
    finally:
        await remove(kind, url, name, storage)
    final = int(stored.get("count", 0)) if isinstance(stored, dict) else 0
    errors = [r for r in results if isinstance(r, BaseException)]
    return {
        "system": "botsessions",
        "config": f"{LABELS[kind]}, cross-process lock on",
        "storage": kind,
        "final": final,
        "lost": k - final,
        "errors": len(errors),
        "first_error": repr(errors[0]) if errors else None,
        "seconds": seconds,
        "serial_floor_s": floor,
        "vs_floor": seconds / floor,
    }


async def worker(spec: Json, *, index: int, updates: int) -> Json:
    """One burst of one worker process: warm up, ``ready``, barrier, ``updates`` at once."""
    async with make_storage(spec["kind"], spec["url"], spec["name"]) as storage:
        bot = _bot(storage, _rmw, True)
        warm = WARM_CHAT + index
        await bot.handle_update(make_updates(1, 1, chat_base=warm)[0])
        await storage.delete(str(warm))
        stream = make_updates(updates, 1, chat_base=W3_CHAT, first_update_id=2 + index * updates)
        print("ready", flush=True)
        barrier: int = spec["fd"]
        os.read(barrier, 1)  # returns when the parent closes the write end
        os.close(barrier)
        started = time.monotonic()
        results = await asyncio.gather(*map(bot.handle_update, stream), return_exceptions=True)
        done = time.monotonic()
    errors = [r for r in results if isinstance(r, BaseException)]
    return {
        "started": started,
        "done": done,
        "errors": len(errors),
        "first_error": repr(errors[0]) if errors else None,
        "api_calls": 0,  # make_bot() has no server to call: a call would fail the update
    }


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._scaleout_child")
    parser.add_argument("mode", choices=["w2", "w3", "worker"])
    parser.add_argument("kind", nargs="?", choices=KINDS)
    parser.add_argument("url", nargs="?")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--nodes", default="", help="comma list of the cluster nodes' URLs")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--updates", type=int, default=250)
    parser.add_argument("--plan", default="[]", help="JSON list of bursts")
    args = parser.parse_args(argv)
    if args.mode == "worker":
        for spec in json.loads(args.plan):
            found = await worker(spec, index=args.index, updates=args.updates)
            print("result " + json.dumps(found), flush=True)
        return
    if args.kind is None or args.url is None:
        parser.error(f"{args.mode} needs KIND and URL")
    if args.mode == "w2":
        nodes = [node for node in args.nodes.split(",") if node]
        emit(await w2(args.kind, args.url, n=args.n, chats=args.chats, reps=args.reps, nodes=nodes))
    else:
        emit(await w3(args.kind, args.url, k=args.k))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
