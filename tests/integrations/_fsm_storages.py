"""botsessions storages for the aiogram FSM tests: one kind, one namespace, many objects.

``Stores(kind, ...)`` builds storage objects that all see the same data (``new()``), as a
bot restarted over the same database would, then closes them and removes the data. The
fixtures ``stores`` (every kind), ``locking_stores`` (memory and Redis) and
``redis_store`` are imported by the test modules that use them, with the shared ``KEY``,
its ``RECORD`` key and ``feed()``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey

from botsessions import enhance_storage
from botsessions.storage import (
    FileStorage,
    MemorySessionStorage,
    PostgresStorage,
    RedisStorage,
    SQLiteStorage,
)
from tests.integrations import _updates

KEY = StorageKey(bot_id=42, chat_id=-100, user_id=7)
RECORD = "fsm:-100:7"  # DefaultKeyBuilder() of KEY
SERVER_KINDS = ("redis", "postgres", "enhanced-redis")
PERSISTENT_KINDS = ("sqlite", "files", "enhanced-sqlite", *SERVER_KINDS)
ALL_KINDS = ("memory", *PERSISTENT_KINDS)
LOCK_WAIT = 60.0


class Stores:
    """Storage objects of one ``kind`` over one namespace (``name``: prefix or table)."""

    def __init__(
        self,
        kind: str,
        *,
        directory: Path,
        name: str,
        redis_url: str | None = None,
        postgres_dsn: str | None = None,
    ) -> None:
        self.kind = kind
        self.directory = directory
        self.name = name
        self.redis_url = redis_url
        self.postgres_dsn = postgres_dsn
        self.built: list[Any] = []
        self._memory: MemorySessionStorage[Any] | None = None

    def new(self) -> Any:
        """A new storage object over the same data (a restart, except for ``memory``)."""
        storage = self._build(self.kind.removeprefix("enhanced-"))
        if self.kind.startswith("enhanced-"):
            storage = enhance_storage(storage=storage, ttl=3600)
        self.built.append(storage)
        return storage

    def _build(self, kind: str) -> Any:
        if kind == "memory":
            if self._memory is None:
                self._memory = MemorySessionStorage()
            return self._memory
        if kind == "sqlite":
            return SQLiteStorage(self.directory / "fsm.db")
        if kind == "files":
            return FileStorage(self.directory / "fsm", fsync=False)
        if kind == "redis":
            assert self.redis_url is not None
            return RedisStorage(self.redis_url, prefix=f"{self.name}:", lock_wait=LOCK_WAIT)
        if kind == "postgres":
            assert self.postgres_dsn is not None
            return PostgresStorage(
                self.postgres_dsn, table=self.name, lock_wait=LOCK_WAIT, max_size=4
            )
        raise ValueError(f"unknown storage kind {kind!r}")

    async def aclose(self) -> None:
        """Close every storage built, then remove the data from the servers."""
        for storage in self.built:
            close = getattr(storage, "close", None)
            if close is not None and inspect.iscoroutinefunction(close):
                await close()
        if self.redis_url is not None and "redis" in self.kind:
            await drop_redis(self.redis_url, f"{self.name}:")
        if self.postgres_dsn is not None and self.kind == "postgres":
            await drop_postgres(self.postgres_dsn, self.name)


async def read(storage: Any, key: str) -> Any:
    """What ``storage`` holds under ``key`` (sync and async storages alike)."""
    value = storage.read(key)
    return await value if inspect.isawaitable(value) else value


async def write(storage: Any, key: str, value: Any) -> None:
    """Store ``value`` under ``key`` directly (sync and async storages alike)."""
    result = storage.write(key, value)
    if inspect.isawaitable(result):
        await result


async def drop_redis(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        names = [name async for name in client.scan_iter(match=f"{prefix}*", count=1000)]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()


async def drop_postgres(dsn: str, table: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        for name in ("acquire", "save", "remove"):
            await connection.execute(f'DROP FUNCTION IF EXISTS "{table}__{name}"')
    finally:
        await connection.close()


def stores_for(request: pytest.FixtureRequest, kind: str, tmp_path: Path, name: str) -> Stores:
    redis_url = request.getfixturevalue("redis_url") if "redis" in kind else None
    postgres_dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    return Stores(
        kind, directory=tmp_path, name=name, redis_url=redis_url, postgres_dsn=postgres_dsn
    )


@pytest.fixture(params=ALL_KINDS)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Stores]:
    built = stores_for(request, request.param, tmp_path, unique_name)
    yield built
    await built.aclose()


@pytest.fixture
async def redis_store(redis_url: str, unique_name: str) -> AsyncIterator[RedisStorage]:
    storage = RedisStorage(redis_url, prefix=f"{unique_name}:", lock_wait=30.0)
    yield storage
    await storage.close()
    await drop_redis(redis_url, f"{unique_name}:")


@pytest.fixture(params=["memory", "redis"])
async def locking_stores(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Stores]:
    built = stores_for(request, request.param, tmp_path, unique_name)
    yield built
    await built.aclose()


async def feed(dp: Dispatcher, bot: Bot, update_id: int, chat_id: int, text: str = "hi") -> Any:
    return await dp.feed_raw_update(bot, _updates.message(update_id, chat_id, text=text))
