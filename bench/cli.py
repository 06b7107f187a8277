"""Operator command line: export and import throughput per storage (sessions/s).

For each storage (SQLite, files, Redis, PostgreSQL) ``n`` sessions are written, then the
real command runs in a fresh process, as an operator runs it: ``botsessions sessions
export`` to a JSON Lines file, and ``botsessions sessions import`` of that file into an
empty storage of the same kind, under the session lock (Redis and PostgreSQL) and with
``--no-lock``. Times include the process start (about a second), so small ``n`` understate
the rate.

Run alone: ``python -m bench --only cli``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._common import Json
from bench._runner import Progress
from botsessions.storage import FileStorage, PostgresStorage, RedisStorage, SQLiteStorage

STORAGES = ("sqlite", "files", "redis", "postgres")


def _storage(kind: str, name: str, directory: Path, redis_url: str, dsn: str) -> tuple[str, Any]:
    if kind == "sqlite":
        path = directory / f"{name}.db"
        return f"sqlite://{path}", SQLiteStorage(path)
    if kind == "files":
        return f"file://{directory / name}", FileStorage(directory / name, fsync=False)
    if kind == "redis":
        return f"{redis_url}?prefix={name}:", RedisStorage(redis_url, prefix=f"{name}:")
    return f"{dsn}?table={name}", PostgresStorage(dsn, table=name)


def _timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "botsessions", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


async def _seed(storage: Any, n: int) -> None:
    expires = time.time() + 3600
    async with storage:
        await _write(storage, n, expires)


async def _write(storage: Any, n: int, expires: float) -> None:
    for start in range(0, n, 1000):
        await storage.write_entries_with_expiry(
            [
                (f"chat:{i}", {"count": i, "text": "héllo"}, expires if i % 2 else None)
                for i in range(start, min(n, start + 1000))
            ]
        )


async def _drop(kind: str, storage: Any, dsn: str, name: str) -> None:
    # Each asyncio.run() has its own loop: the storage of this one is built here.
    if kind == "redis":
        keys = [key async for key in storage.read_all_keys()]
        for start in range(0, len(keys), 1000):
            await storage._client.delete(*(f"{name}:{key}" for key in keys[start : start + 1000]))
    await storage.close()
    if kind == "postgres":
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            for fn in ("acquire", "save", "remove"):
                await conn.execute(f'DROP FUNCTION IF EXISTS "{name}__{fn}"')
        finally:
            await conn.close()


def _one(kind: str, n: int, redis_url: str, dsn: str, directory: Path) -> Json:
    source_name = f"bench_cli_{uuid.uuid4().hex[:8]}"
    url, _ = _storage(kind, source_name, directory, redis_url, dsn)
    asyncio.run(_seed(_storage(kind, source_name, directory, redis_url, dsn)[1], n))
    dump = directory / f"{kind}.jsonl"
    result: Json = {"n": n}
    try:
        result["export_per_s"] = n / _timed("sessions", "export", "--storage", url, "-o", str(dump))
        modes = [("import_locked_per_s", ()), ("import_no_lock_per_s", ("--no-lock",))]
        if kind in ("sqlite", "files"):
            modes = [("import_per_s", ())]  # no cross-process lock: always direct
        for label, extra in modes:
            target_name = f"bench_cli_{uuid.uuid4().hex[:8]}"
            target_url, _ = _storage(kind, target_name, directory, redis_url, dsn)
            try:
                seconds = _timed("sessions", "import", *extra, "--storage", target_url, str(dump))
                result[label] = n / seconds
            finally:
                target = _storage(kind, target_name, directory, redis_url, dsn)[1]
                asyncio.run(_drop(kind, target, dsn, target_name))
    finally:
        source = _storage(kind, source_name, directory, redis_url, dsn)[1]
        asyncio.run(_drop(kind, source, dsn, source_name))
    return result


def run(n: int, redis_url: str, postgres_dsn: str, progress: Progress) -> Json:
    """Export and import rates (sessions/s) of ``n`` sessions on every storage."""
    results: Json = {}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as directory:
        for kind in STORAGES:
            progress.show(f"cli: export/import of {n} sessions on {kind}")
            try:
                results[kind] = _one(kind, n, redis_url, postgres_dsn, Path(directory))
            except Exception as exc:  # one unreachable server must not lose the others
                results[kind] = {"error": repr(exc)}
    progress.step()
    return results
