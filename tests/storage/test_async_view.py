"""``as_async``: the same admin coroutine over memory, SQLite and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from botsessions.storage import (
    MemorySessionStorage,
    RedisStorage,
    SQLiteStorage,
    StorageWrapper,
    as_async,
)


async def report(storage: Any) -> dict[str, Any]:
    """Admin code written once: every session, read through the async view."""
    view = as_async(storage)
    found = {}
    async for key in view.read_all_keys():
        found[key] = await view.read(key)
    assert sorted([k async for k, _ in view.read_all_entries()]) == sorted(found)
    assert await view.has("chat-1")
    return found


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def make(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, unique_name: str
) -> AsyncIterator[Callable[[], Any]]:
    made: list[Any] = []

    def build() -> Any:
        if request.param == "memory":
            storage: Any = MemorySessionStorage()
        elif request.param == "sqlite":
            storage = SQLiteStorage(tmp_path / "sessions.db")
        else:
            storage = RedisStorage(redis_url, prefix=unique_name)
        made.append(storage)
        return storage

    yield build
    for storage in made:
        if callable(getattr(storage, "close", None)):
            await as_async(storage).close()
    if request.param == "redis":
        client = aioredis.Redis.from_url(redis_url)
        names = [name async for name in client.scan_iter(match=f"{unique_name}*")]
        if names:
            await client.delete(*names)
        await client.aclose()


async def test_the_same_admin_coroutine_works_over_every_storage(make: Callable[[], Any]) -> None:
    storage = make()
    view = as_async(storage)
    await view.write("chat-1", {"count": 1})
    await view.write("chat-2", [2])
    await view.write("gone", 0)
    await view.delete("gone")
    assert await report(storage) == {"chat-1": {"count": 1}, "chat-2": [2]}


async def test_the_view_shares_the_storage_and_leaves_its_own_interface_alone() -> None:
    storage = MemorySessionStorage[Any]()
    storage.write("k", 1)  # still synchronous
    view = as_async(storage)
    assert await view.read("k") == 1
    await view.write("k", 2)
    assert storage.read("k") == 2
    assert as_async(view) is view  # a wrapper is already an async view
    assert isinstance(view, StorageWrapper)


def test_something_that_is_not_a_storage_is_refused() -> None:
    with pytest.raises(TypeError, match="read"):
        as_async(object())
