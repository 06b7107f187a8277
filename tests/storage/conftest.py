"""Fixtures shared by the Redis and PostgreSQL storage tests (plain and locking)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis


@pytest.fixture
async def redis_client(redis_url: str, unique_name: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the shared Redis; deletes every key under ``unique_name`` afterwards."""
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    names = [name async for name in redis.scan_iter(match=f"{unique_name}*", count=1000)]
    if names:
        await redis.delete(*names)
    await redis.aclose()


@pytest.fixture
async def pg_admin(postgres_dsn: str, unique_name: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the shared PostgreSQL; drops the ``unique_name`` table afterwards."""
    connection = await asyncpg.connect(postgres_dsn)
    yield connection
    await connection.execute(f'DROP TABLE IF EXISTS "{unique_name}"')
    for name in ("acquire", "save", "remove"):
        await connection.execute(f'DROP FUNCTION IF EXISTS "{unique_name}__{name}"')
    await connection.close()
