"""Fixtures of the command line tests: one storage of each built-in kind, by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from botsessions.storage import FileStorage, PostgresStorage, RedisStorage, SQLiteStorage
from tests.storage._workers import drop_table

BACKENDS = ["sqlite", "files", "redis", "postgres"]


@dataclass
class Backend:
    """A storage the CLI reaches by ``url`` and the test by ``storage`` (the same data)."""

    name: str
    url: str
    storage: Any


def backend_for(
    name: str, tmp_path: Path, unique_name: str, redis_url: str, postgres_dsn: str
) -> Backend:
    """A fresh, empty storage of kind ``name``."""
    if name == "sqlite":
        path = tmp_path / f"{unique_name}.db"
        return Backend(name, f"sqlite://{path}", SQLiteStorage(path))
    if name == "files":
        directory = tmp_path / unique_name
        return Backend(name, f"file://{directory}", FileStorage(directory, fsync=False))
    if name == "redis":
        prefix = f"{unique_name}:"
        return Backend(name, f"{redis_url}?prefix={prefix}", RedisStorage(redis_url, prefix=prefix))
    sep = "&" if "?" in postgres_dsn else "?"
    return Backend(
        name,
        f"{postgres_dsn}{sep}table={unique_name}",
        PostgresStorage(postgres_dsn, table=unique_name),
    )


async def cleanup(backend: Backend, unique_name: str, redis_url: str, postgres_dsn: str) -> None:
    """Close the test's storage and remove what the test left in the shared servers."""
    if backend.name == "redis":
        names = [key async for key in backend.storage.read_all_keys()]
        for key in names:
            await backend.storage.delete(key)
    await backend.storage.close()
    if backend.name == "postgres":
        await drop_table(postgres_dsn, unique_name)


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Backend]:
    """Each built-in persistent storage in turn (Redis and PostgreSQL: the real servers)."""
    name: str = request.param
    redis_url = postgres_dsn = ""
    if name == "redis":
        redis_url = request.getfixturevalue("redis_url")
    if name == "postgres":
        postgres_dsn = request.getfixturevalue("postgres_dsn")
    chosen = backend_for(name, tmp_path, unique_name, redis_url, postgres_dsn)
    yield chosen
    await cleanup(chosen, unique_name, redis_url, postgres_dsn)
