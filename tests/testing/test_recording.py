"""RecordingStorage records each call and forwards it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from botsessions import MemorySessionStorage, session
from botsessions.storage import RedisStorage
from botsessions.storage._locking import LockingStorage
from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage
from tests.session_support import FakeContext, nothing, run
from tests.storage._fakes import FakeLockingStorage


async def test_calls_are_recorded_in_order_and_counted() -> None:
    storage = RecordingStorage()
    value = {"n": 1}
    await storage.write("a", value)
    value["n"] = 2  # the record keeps what was written
    assert await storage.read("a") == {"n": 1}
    assert await storage.has("a")
    await storage.delete("a")
    assert [k async for k in storage.read_all_keys()] == []
    assert storage.calls == [
        ("write", "a", {"n": 1}),
        ("read", "a"),
        ("has", "a"),
        ("delete", "a"),
        ("read_all_keys",),
    ]
    assert (storage.reads, storage.writes, storage.deletes) == (1, 1, 1)
    storage.clear()
    assert storage.calls == []


def test_the_sync_variant_needs_a_sync_storage() -> None:
    storage = SyncRecordingStorage(MemorySessionStorage())
    storage.write("a", 1)
    assert storage.read("a") == 1
    assert storage.calls == [("write", "a", 1), ("read", "a")]
    with pytest.raises(TypeError, match="not synchronous"):
        SyncRecordingStorage(RecordingStorage())


def test_a_storage_without_locks_gives_a_wrapper_without_locks() -> None:
    assert not isinstance(RecordingStorage(), LockingStorage)
    assert not isinstance(SyncRecordingStorage(), LockingStorage)


class TestLockingStorage:
    @pytest.fixture
    async def redis(self, redis_url: str, unique_name: str) -> AsyncIterator[RedisStorage]:
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            yield storage
            async for key in storage.read_all_keys():
                await storage.delete(key)

    async def test_the_lock_capability_is_forwarded_and_recorded(self, redis: RedisStorage) -> None:
        storage = RecordingStorage(redis)
        assert isinstance(storage, LockingStorage)
        assert isinstance(storage, RecordingStorage)
        mw = session(initial=lambda: {"n": 0}, storage=storage)

        async def bump(ctx: FakeContext) -> None:
            ctx.session["n"] += 1

        await run(mw, FakeContext(), bump)
        await run(mw, FakeContext(), nothing)
        assert storage.calls == [
            ("acquire", "42", True),
            ("lease.write", "42", {"n": 1}),
            ("acquire", "42", True),
            ("lease.release", "42"),
        ]
        assert await redis.read("42") == {"n": 1}

    async def test_a_deleting_update_is_recorded_on_its_lease(self, redis: RedisStorage) -> None:
        await redis.write("42", {"n": 5})
        storage = RecordingStorage(redis)

        async def forget(ctx: FakeContext) -> None:
            ctx.session = None

        await run(session(storage=storage), FakeContext(), forget)
        assert storage.calls == [("acquire", "42", True), ("lease.delete", "42")]
        assert await redis.read("42") is None

    async def test_handoff_stays_on_and_keep_is_recorded(self, redis: RedisStorage) -> None:
        storage = RecordingStorage(redis)
        mw = session(initial=lambda: {"n": 0}, storage=storage)

        async def bump(ctx: FakeContext) -> None:
            await asyncio.sleep(0)  # the handler awaits: the other updates queue up
            ctx.session["n"] += 1

        await asyncio.gather(*(run(mw, FakeContext(), bump) for _ in range(5)))
        assert await redis.read("42") == {"n": 5}
        kept = [call for call in storage.calls if call[-1] == {"keep": True}]
        assert kept, storage.calls  # the lease went from update to update
        assert [call[0] for call in storage.calls].count("acquire") < 5


async def test_a_lease_records_keep_and_forwards_it() -> None:
    inner = FakeLockingStorage()
    storage = RecordingStorage(inner)
    lease = await storage.acquire(  # type: ignore[attr-defined]  # the locking twin
        "k", read=False
    )
    await lease.write({"n": 1}, keep=True)
    await lease.delete(keep=True)
    await lease.write({"n": 2})
    assert storage.calls == [
        ("acquire", "k", False),
        ("lease.write", "k", {"n": 1}, {"keep": True}),
        ("lease.delete", "k", {"keep": True}),
        ("lease.write", "k", {"n": 2}),
    ]
    assert inner.calls[1:] == [
        ("write", "k", {"n": 1}, True),
        ("delete", "k", True),
        ("write", "k", {"n": 2}, False),
    ]
