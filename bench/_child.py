"""Entry point of one benchmark child process: one system, one phase, JSON on stdout.

    python -m bench._child <system> <phase> [options]

Each system runs in a fresh interpreter so that no framework's objects (parsed updates,
caches, GC generations) slow down another's measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

from bench._common import Json, emit
from bench._env import Env, drive

SYSTEMS = {
    "botsessions": "bench.ours_bot",
    "botsessions+aiogram": "bench.ours_aiogram",
    "botsessions+ptb": "bench.ours_ptb",
    "aiogram": "bench.peer_aiogram",
    "python-telegram-bot": "bench.peer_ptb",
}
PACKAGES = (
    "botsessions",
    "aiogram",
    "python-telegram-bot",
    "pydantic",
    "aiohttp",
    "redis",
    "hiredis",
    "asyncpg",
    "aiosqlite",
    "orjson",
)


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


async def main(argv: list[str]) -> Json:
    parser = argparse.ArgumentParser(prog="python -m bench._child")
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("phase", choices=["memory", "redis", "sql", "w3"])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--rotation", type=int, default=0)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--postgres-dsn", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--count-ops", action="store_true")
    parser.add_argument("--slow", action="store_true")
    args = parser.parse_args(argv)
    env = Env(
        n=args.n,
        chats=args.chats,
        reps=args.reps,
        rotation=args.rotation,
        redis_url=args.redis_url,
        postgres_dsn=args.postgres_dsn,
        workdir=args.workdir,
        count_ops=args.count_ops,
        k=args.k,
    )
    module = importlib.import_module(SYSTEMS[args.system])
    if args.phase == "w3":
        rows = await module.concurrency(env, args.slow)
        result: Json = {"system": args.system, "phase": "w3", "rows": rows}
    else:
        result = await drive(args.system, args.phase, env, module.workloads)
    result["versions"] = versions()
    return result


if __name__ == "__main__":
    emit(asyncio.run(main(sys.argv[1:])))
