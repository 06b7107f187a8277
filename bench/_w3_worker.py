"""One worker process of the cross-process W3 burst (started by ``bench.crossprocess``).

    python -m bench._w3_worker --index I --updates U --plan '<json list of bursts>'

Each burst of the plan names a storage (``redis`` URL + key prefix, or ``postgres`` DSN +
table) and a barrier file descriptor inherited from the parent. For each burst the worker
builds a botsessions ``Bot`` with ``session(storage=...)`` and the W3 handler (read the
counter, ``await asyncio.sleep(0.001)``, write it + 1), handles one warm-up update of a
chat of its own (connections, scripts and statements ready), prints ``ready`` and blocks
reading the barrier. The parent releases every worker at once by closing the pipe's write
end (all readers see end-of-file together); the worker then handles its ``U`` updates of
the shared chat concurrently and prints ``result {json}`` with ``time.monotonic()`` stamps
(a system-wide clock, so the parent can compare them with its release time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._common import W3_CHAT, Json, make_updates

LOCK_WAIT = 120.0  # the burst is measured, not the lock timeout: never time out here
WARM_CHAT = W3_CHAT + 1


def make_storage(backend: str, target: str, name: str) -> Any:
    """The storage of one burst: ``name`` is the Redis key prefix or the PostgreSQL table."""
    from botsessions.storage import PostgresStorage, RedisStorage

    if backend == "redis":
        return RedisStorage(target, prefix=name, lock_wait=LOCK_WAIT)
    if backend == "postgres":
        return PostgresStorage(target, table=name, lock_wait=LOCK_WAIT)
    raise ValueError(f"unknown backend {backend!r}; use redis or postgres")


def _initial() -> dict[str, int]:
    return {"count": 0}


def _rmw(pause: float) -> Callable[[Any, Any], Awaitable[None]]:
    async def rmw(ctx: Any, next: Any) -> None:
        value = ctx.session["count"]
        await asyncio.sleep(pause)
        ctx.session["count"] = value + 1

    return rmw


async def burst(spec: Json, *, index: int, updates: int, pause: float) -> Json:
    """Warm up, report ready, wait at the barrier, then handle ``updates`` at once."""
    from bench.ours_bot import make_bot
    from botsessions import session

    async with make_storage(spec["backend"], spec["target"], spec["name"]) as storage:
        bot = make_bot()
        bot.use(session(initial=_initial, storage=storage))
        bot.on("message", _rmw(pause))
        warm_chat = WARM_CHAT + index
        await bot.handle_update(make_updates(1, 1, chat_base=warm_chat)[0])
        await storage.delete(str(warm_chat))
        stream = make_updates(updates, 1, chat_base=W3_CHAT, first_update_id=2 + index * updates)
        print("ready", flush=True)
        barrier: int = spec["fd"]
        os.read(barrier, 1)  # blocks until the parent closes the write end
        os.close(barrier)
        started = time.monotonic()
        results = await asyncio.gather(
            *(bot.handle_update(u) for u in stream), return_exceptions=True
        )
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
    parser = argparse.ArgumentParser(prog="python -m bench._w3_worker")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--updates", type=int, required=True)
    parser.add_argument("--pause", type=float, default=0.001)
    parser.add_argument("--plan", required=True, help="JSON list of bursts")
    args = parser.parse_args(argv)
    for spec in json.loads(args.plan):
        result = await burst(spec, index=args.index, updates=args.updates, pause=args.pause)
        print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
