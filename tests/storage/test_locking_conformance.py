"""The locking conformance suite over the server storages, and over wrappers of Redis.

Wrapped storages must keep the lock: ``enhance_storage``, ``RecordingStorage`` and a plain
``StorageWrapper`` around ``RedisStorage`` pass the same suite as ``RedisStorage`` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from botsessions.testing.locking import LockingConformance, LockingStorageSpec
from tests.storage import _cluster


def _redis_queue(prefix: str, key: str) -> bytes:
    """The Redis list in which the waiters for ``key`` line up (RedisStorage's layout)."""
    try:
        from botsessions.storage.redis._lock import BOOKKEEPING
    except ImportError:  # the layout before lock keys left the session key space
        return f"{prefix}botsessions.wait:{key}".encode()
    return prefix.encode() + BOOKKEEPING + b"wait:" + key.encode()


class RedisLocking(LockingConformance):
    """The suite over a storage built by ``factory`` on the shared Redis."""

    factory = "tests.storage._factories:redis"

    @pytest.fixture
    def locking_storage(self, redis_url: str, unique_name: str) -> Iterator[LockingStorageSpec]:
        yield LockingStorageSpec(self.factory, {"url": redis_url, "prefix": f"{unique_name}:"})
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            for name in client.scan_iter(match=f"{unique_name}:*", count=1000):
                client.delete(name)
        finally:
            client.close()

    async def count_waiters(self, spec: LockingStorageSpec, key: str) -> int | None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(spec.options["url"])
        try:
            waiting: int = await client.llen(_redis_queue(spec.options["prefix"], key))
        finally:
            await client.aclose()
        return waiting


class TestRedisStorageLocking(RedisLocking):
    pass


class TestEnhancedRedisLocking(RedisLocking):
    factory = "tests.storage._factories:enhanced_redis"


class TestRecordingRedisLocking(RedisLocking):
    factory = "tests.storage._factories:recording_redis"


class TestStorageWrapperRedisLocking(RedisLocking):
    factory = "tests.storage._factories:wrapped_redis"


_HOLDERS = """
SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted = $1 AND a.query LIKE '%' || $2 || '__acquire%'
"""


class TestPostgresStorageLocking(LockingConformance):
    @pytest.fixture
    def locking_storage(self, postgres_dsn: str, unique_name: str) -> Iterator[LockingStorageSpec]:
        yield LockingStorageSpec(
            "tests.storage._factories:postgres", {"dsn": postgres_dsn, "table": unique_name}
        )
        asyncio.run(_drop(postgres_dsn, unique_name))

    async def count_waiters(self, spec: LockingStorageSpec, key: str) -> int | None:
        return len(await _backends(spec, granted=False))

    async def lose_leases(self, spec: LockingStorageSpec, keys: list[str]) -> None:
        # A PostgreSQL lock lives as long as its connection: losing it means losing that.
        holders = await _backends(spec, granted=True)
        assert len(holders) == len(keys), holders
        connection = await asyncpg.connect(spec.options["dsn"])
        try:
            for pid in holders:
                assert await connection.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        finally:
            await connection.close()


async def _backends(spec: LockingStorageSpec, *, granted: bool) -> list[int]:
    """The backends holding (or waiting for) a session lock of the spec's table."""
    connection = await asyncpg.connect(spec.options["dsn"])
    try:
        rows = await connection.fetch(_HOLDERS, granted, spec.options["table"])
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def _drop(dsn: str, table: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        for name in ("acquire", "save", "remove"):
            await connection.execute(f'DROP FUNCTION IF EXISTS "{table}__{name}"')
    finally:
        await connection.close()


redis_cluster = _cluster.redis_cluster  # the shared cluster fixture


class TestRedisClusterLocking(LockingConformance):
    """RedisStorage's lock on a three-primary cluster (``tests/storage/_cluster.py``)."""

    @pytest.fixture
    def locking_storage(self, redis_cluster: Any, unique_name: str) -> Iterator[LockingStorageSpec]:
        prefix = f"{unique_name}:"
        yield LockingStorageSpec(
            "tests.storage._factories:redis", {"url": redis_cluster.url, "prefix": prefix}
        )
        import redis

        client = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
        try:
            for name in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(name)
        finally:
            client.close()

    async def count_waiters(self, spec: LockingStorageSpec, key: str) -> int | None:
        from redis.asyncio.cluster import RedisCluster

        from botsessions.storage.redis._lock import bookkeeping_base

        raw = key.encode()
        queue = bookkeeping_base(spec.options["prefix"].encode(), raw, cluster=True)
        client = RedisCluster.from_url(spec.options["url"].replace("redis+cluster", "redis"))
        try:
            waiting: int = await client.llen(queue + b"wait:" + raw)
        finally:
            await client.aclose()
        return waiting


class TestMySQLStorageLocking(LockingConformance):
    """MySQLStorage's ``GET_LOCK`` lock; a lock is lost with its connection."""

    @pytest.fixture
    def locking_storage(self, unique_name: str) -> Iterator[LockingStorageSpec]:
        from tests.storage._mysql import dropped, mysql_url

        url = mysql_url()
        with dropped(url, {unique_name}):
            yield LockingStorageSpec(
                "tests.storage._mysql:mysql", {"url": url, "table": unique_name}
            )

    @staticmethod
    def _lock_name(spec: LockingStorageSpec, key: str) -> str:
        from urllib.parse import urlsplit

        from botsessions.storage.mysql._sql import lock_name

        database = urlsplit(spec.options["url"]).path.lstrip("/")
        return lock_name(database, spec.options["table"], key)

    async def count_waiters(self, spec: LockingStorageSpec, key: str) -> int | None:
        from tests.storage._mysql import admin_run

        rows = await admin_run(
            spec.options["url"],
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE STATE = 'User lock' AND INFO LIKE %s",
            (f"%{self._lock_name(spec, key)}%",),
        )
        waiting: int = rows[0][0]
        return waiting

    async def lose_leases(self, spec: LockingStorageSpec, keys: list[str]) -> None:
        # A MySQL user lock lives as long as its connection: losing it means losing that.
        from tests.storage._mysql import admin_run

        url = spec.options["url"]
        for key in keys:
            ((holder,),) = await admin_run(
                url, "SELECT IS_USED_LOCK(%s)", (self._lock_name(spec, key),)
            )
            assert holder is not None, key
            await admin_run(url, f"KILL CONNECTION {int(holder)}")
