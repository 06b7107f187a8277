"""Where a Redis update's time goes: the W2 counter and the untouched session, lock on.

Each workload feeds ``--n`` updates over ``--chats`` chats to the bot layer with
``session(storage=RedisStorage(...))`` (after one warm-up update per chat), once plainly
timed and once under cProfile. The profile's own time per function is summed into areas:

* waiting for Redis: the event loop's ``epoll`` wait, which is where a round trip's
  network and server time is spent;
* the socket's ``send`` and ``recv`` (with client and server on one CPU, the server runs
  its command inside the client's ``send``);
* the event loop (``asyncio``, ``selectors`` and their builtins);
* redis-py (``redis/``), botsessions' Redis storage and lock (``botsessions/storage``),
  the engine and the bot layer (the rest of ``botsessions``), JSON (``orjson``), other.

cProfile inflates Python code (every call is timed), so the areas are given as shares of
the profiled total next to the plain time per update, and the GET round trip of a plain
redis-py client measured in the same process: overhead / GET is the round-trip ratio of
``python -m bench``. Pin the process and the server to one CPU, as the full run does, to
compare with its figures: ``taskset -c 1 python -m bench.redis_profile``.
Run: ``python -m bench.redis_profile [--n 4000] [--redis-url URL]`` (the database given
is flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import Counter
from typing import Any

from bench._common import make_updates
from bench._env import Env
from bench._ours_cases import Case
from bench._ours_storage import make_store
from bench._servers import redis_get_rtt_us
from bench.ours_bot import _glue, _handler, make_bot

WORKLOADS = {
    "changed": Case("W2-redis", "redis", "count"),
    "unchanged": Case("W2u-redis", "redis", "ignore"),
}
AREAS = (
    "waiting for Redis (epoll)",
    "socket send and receive",
    "event loop",
    "redis-py",
    "botsessions storage",
    "engine and bot layer",
    "JSON (orjson)",
    "other",
)


def area(path: str, name: str) -> str:
    """The area a profiled function belongs to, from its file and name."""
    if path == "~":  # a builtin: the name says whose it is
        if "poll" in name:
            return AREAS[0]
        if "_socket.socket" in name:
            return AREAS[1]
        if "orjson" in name:
            return AREAS[6]
        if any(part in name for part in ("_asyncio", "select", "_contextvars")):
            return AREAS[2]
        return AREAS[7]
    if "/redis/" in path:  # redis-py, its asyncio client included
        return AREAS[3]
    if "/botsessions/storage/" in path:
        return AREAS[4]
    if "/botsessions/" in path:
        return AREAS[5]
    if "/asyncio/" in path or path.endswith(("selectors.py", "socket.py")):
        return AREAS[2]
    return AREAS[7]


async def profile(workload: str, env: Env) -> dict[str, Any]:
    """µs per update of ``workload``, plainly and per area of the profile."""
    case = WORKLOADS[workload]
    updates = make_updates(env.chats + 2 * env.n, env.chats)
    bare = make_bot()
    bare.on("message", _handler("ignore", [0]))
    store = await make_store("redis", env)
    try:
        feed, _ = await _glue(case, store.storage, [0])
        for update in updates[: env.chats]:  # every chat's first visit writes its session
            await feed(update)
        timed, profiled = updates[env.chats : env.chats + env.n], updates[env.chats + env.n :]
        started = time.perf_counter()
        for update in timed:
            await bare.handle_update(update)
        w0 = time.perf_counter() - started
        started = time.perf_counter()
        for update in timed:
            await feed(update)
        seconds = time.perf_counter() - started
        rtt = await redis_get_rtt_us(env.redis_url)
        profiler = cProfile.Profile()
        profiler.enable()
        for update in profiled:
            await feed(update)
        profiler.disable()
    finally:
        await store.cleanup()
    stats: Any = pstats.Stats(profiler)
    areas: Counter[str] = Counter()
    for (path, _, name), (_, _, tottime, _, _) in stats.stats.items():
        areas[area(path, name)] += tottime
    total = sum(areas.values())
    overhead = (seconds - w0) / env.n * 1e6
    return {
        "workload": workload,
        "us_per_update": seconds / env.n * 1e6,
        "overhead_us": overhead,
        "get_rtt_us": rtt,
        "vs_get": overhead / rtt,
        "shares": {name: areas[name] / total for name in AREAS},
        "calls_per_update": stats.total_calls / env.n,
    }


def render(rows: list[dict[str, Any]]) -> str:
    head = "| workload | overhead µs/update | GET µs | overhead / GET | Python calls | "
    head += " | ".join(AREAS) + " |"
    lines = [head, "|---|" + "---:|" * (4 + len(AREAS))]
    for r in rows:
        shares = " | ".join(f"{r['shares'][name]:.0%}" for name in AREAS)
        lines.append(
            f"| {r['workload']} | {r['overhead_us']:.0f} | {r['get_rtt_us']:.0f} "
            f"| {r['vs_get']:.2f} | {r['calls_per_update']:.0f} | {shares} |"
        )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> None:
    env = Env(
        n=args.n,
        chats=args.chats,
        reps=1,
        rotation=0,
        redis_url=args.redis_url,
        postgres_dsn="",
        workdir="/tmp",
        count_ops=False,
    )
    print(render([await profile(workload, env) for workload in WORKLOADS]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_profile", description=__doc__)
    parser.add_argument("--n", type=int, default=4000, help="updates per measurement")
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
