"""botsessions storages as the benchmark uses them: fresh per run, checked, then removed.

Only public API: the storage classes of ``botsessions.storage`` and the storage protocol
(``read``/``write``/``delete``, ``read_all_values``, ``close``, and ``acquire`` for the
lock capability).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench._common import Json
from bench._env import Env
from bench._servers import postgres_drop

# kind -> (label, phase)
STORAGES: dict[str, tuple[str, str]] = {
    "memory": ("MemorySessionStorage", "memory"),
    "redis": ("RedisStorage", "redis"),
    "sqlite": ("SQLiteStorage", "sql"),
    "files": ("FileStorage", "sql"),
    "postgres": ("PostgresStorage", "sql"),
}
LOCKABLE = ("redis", "postgres")


@dataclass
class Store:
    """One fresh storage instance plus how to check and remove what it stored."""

    storage: Any
    cleanup: Callable[[], Awaitable[None]]

    async def counter_sum(self) -> int:
        values = self.storage.read_all_values()
        if isinstance(values, Awaitable):
            values = await values
        items = [v async for v in values] if isinstance(values, AsyncIterable) else list(values)
        return sum(int(v.get("count", 0)) for v in items if isinstance(v, dict))


async def _close(storage: Any) -> None:
    close = getattr(storage, "close", None)
    if close is not None:
        result = close()
        if isinstance(result, Awaitable):
            await result


async def make_store(kind: str, env: Env) -> Store:
    """A new, empty storage of ``kind`` (its own table, directory or Redis database state)."""
    from botsessions import MemorySessionStorage
    from botsessions.storage import FileStorage, PostgresStorage, RedisStorage, SQLiteStorage

    if kind == "memory":
        storage: Any = MemorySessionStorage()

        async def nothing() -> None:
            return None

        return Store(storage, nothing)
    if kind == "redis":
        storage = RedisStorage(env.redis_url, prefix="bench:")

        async def flush() -> None:
            import redis.asyncio as aioredis

            await _close(storage)
            client = aioredis.Redis.from_url(env.redis_url)
            try:
                await client.flushdb()
            finally:
                await client.aclose()

        return Store(storage, flush)
    if kind in ("sqlite", "files"):
        directory = tempfile.mkdtemp(prefix=f"bench-{kind}-", dir=env.workdir)
        storage = (
            SQLiteStorage(f"{directory}/sessions.db")
            if kind == "sqlite"
            else FileStorage(f"{directory}/sessions")
        )

        async def remove() -> None:
            await _close(storage)
            shutil.rmtree(directory, ignore_errors=True)

        return Store(storage, remove)
    if kind == "postgres":
        table = f"bench_{uuid.uuid4().hex[:12]}"
        storage = PostgresStorage(env.postgres_dsn, table=table)

        async def drop() -> None:
            await _close(storage)
            await postgres_drop(env.postgres_dsn, table)

        return Store(storage, drop)
    raise ValueError(f"unknown storage kind {kind!r}")


class CountingStorage:
    """Counts the calls the session engine makes on a storage (no lock capability)."""

    def __init__(self, inner: Any, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls

    async def read(self, key: str) -> Any:
        self.calls["read"] += 1
        return await maybe_await(self.inner.read(key))

    async def write(self, key: str, value: Any) -> None:
        self.calls["write"] += 1
        await maybe_await(self.inner.write(key, value))

    async def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        await maybe_await(self.inner.delete(key))


class _CountingLease:
    def __init__(self, inner: Any, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls
        self.value = inner.value

    async def write(self, value: Any) -> None:
        self.calls["lease.write"] += 1
        await self.inner.write(value)

    async def delete(self) -> None:
        self.calls["lease.delete"] += 1
        await self.inner.delete()

    async def release(self) -> None:
        self.calls["lease.release"] += 1
        await self.inner.release()


class CountingLockingStorage(CountingStorage):
    """Counting proxy that keeps the storage's lock capability (``acquire``)."""

    async def acquire(self, key: str, *, read: bool) -> _CountingLease:
        self.calls["acquire(read=True)" if read else "acquire(read=False)"] += 1
        return _CountingLease(await self.inner.acquire(key, read=read), self.calls)


async def maybe_await(result: Any) -> Any:
    if isinstance(result, Awaitable):
        return await result
    return result


def counting(storage: Any, calls: Counter[str], locking: bool) -> CountingStorage:
    if locking and hasattr(storage, "acquire"):
        return CountingLockingStorage(storage, calls)
    return CountingStorage(storage, calls)


def workdir() -> str:
    return tempfile.mkdtemp(prefix="botsessions-bench-")


def per_update(calls: Counter[str], n: int) -> Json:
    return {name: count / n for name, count in sorted(calls.items())}
