from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import services


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server (shared; isolate data with ``unique_prefix``)."""
    with services.redis_url() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a real PostgreSQL server (shared; isolate data with ``unique_name``)."""
    with services.postgres_dsn() as dsn:
        yield dsn


@pytest.fixture
def private_redis() -> Iterator[services.RedisServer]:
    """A redis-server process owned by one test, which may stop and restart it."""
    with services.private_redis() as server:
        yield server


@pytest.fixture
def unique_name() -> str:
    """A fresh identifier for a table name or key prefix, unique to this test."""
    return f"t_{uuid.uuid4().hex[:12]}"
