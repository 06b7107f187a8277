"""Local lease handoff: a waiting update of the same key inherits the storage lease."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from botsessions import LeaseLostError, StorageError, enhance_storage, lazy_session, session
from botsessions.engine.handoff import HANDOFF_LIMIT, HeldLease, LeaseAction, end_lease
from botsessions.engine.locks import KeyedLock
from botsessions.engine.protocols import HostMiddleware
from botsessions.storage import PostgresStorage, RedisStorage
from botsessions.storage._protocol import LockingStorage
from tests.flushing_support import FlushingStorage
from tests.services import RedisServer
from tests.session_support import DictBacked, FakeContext, Handler, nothing, run, touch
from tests.storage._workers import drop_table
from tests.test_engine import FakeLockingStorage


class KeepingLease:
    """A lease of ``KeepingStorage``: fenced by its token, like a real one."""

    def __init__(self, owner: KeepingStorage, key: str, token: int, value: Any) -> None:
        self.owner, self.key, self.token, self.value = owner, key, token, value

    async def write(self, value: Any, *, keep: bool = False) -> None:
        await self.owner.trip("write+keep" if keep else "write", self)
        self.owner.data[self.key] = value
        self.value = value
        if not keep:
            self.owner.unlock(self)

    async def delete(self, *, keep: bool = False) -> None:
        await self.owner.trip("delete+keep" if keep else "delete", self)
        self.owner.data.pop(self.key, None)
        self.value = None
        if not keep:
            self.owner.unlock(self)

    async def release(self) -> None:
        if self.owner.holders.get(self.key) == self.token:
            self.owner.counts["release"] += 1
            await asyncio.sleep(0)
            self.owner.unlock(self)


class KeepingStorage(DictBacked):
    """A locking storage whose leases support ``keep``; counts every round trip.

    Its lock is real (a second ``acquire`` of a held key waits), every call yields to the
    event loop like a round trip would, and ``fail_next`` injects a lost lease.
    """

    def __init__(self) -> None:
        super().__init__()
        self.holders: dict[str, int] = {}
        self.freed: dict[str, asyncio.Event] = {}
        self.counts: Counter[str] = Counter()
        self.tokens = itertools.count(1)
        self.fail_next = False
        self.on_write: Callable[[], None] | None = None

    async def acquire(self, key: str, *, read: bool) -> KeepingLease:
        self.counts["acquire"] += 1
        await asyncio.sleep(0)
        while key in self.holders:
            await asyncio.wait_for(self.freed.setdefault(key, asyncio.Event()).wait(), 5)
        token = self.holders[key] = next(self.tokens)
        return KeepingLease(self, key, token, self.data.get(key) if read else None)

    async def trip(self, what: str, lease: KeepingLease) -> None:
        self.counts[what] += 1
        await asyncio.sleep(0)
        if self.on_write is not None:
            self.on_write()
        if self.fail_next:
            self.fail_next = False
            self.holders.pop(lease.key, None)  # the lease expired meanwhile
        if self.holders.get(lease.key) != lease.token:
            raise LeaseLostError("lost", key=lease.key)

    def unlock(self, lease: KeepingLease) -> None:
        if self.holders.get(lease.key) == lease.token:
            del self.holders[lease.key]
            freed = self.freed.pop(lease.key, None)
            if freed is not None:
                freed.set()


@pytest.fixture
def no_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chains are capped by count only, so the counts below do not depend on speed."""
    monkeypatch.setattr("botsessions.engine.handoff.HANDOFF_WINDOW", math.inf)


async def bump(ctx: FakeContext) -> None:
    count = ctx.session["count"]
    await asyncio.sleep(0)
    ctx.session["count"] = count + 1


async def burst(mw: HostMiddleware, n: int, handler: Handler = bump) -> list[Any]:
    updates = (run(mw, FakeContext(), handler) for _ in range(n))
    return await asyncio.gather(*updates, return_exceptions=True)


def counter(storage: Any) -> HostMiddleware:
    return session(initial=lambda: {"count": 0}, storage=storage)


def assert_all_free(storage: KeepingStorage, mw: Any) -> None:
    assert storage.holders == {}
    for plan in mw.manager.plans:
        assert len(plan.locks) == 0


def test_the_fake_satisfies_the_lock_protocol() -> None:
    assert isinstance(KeepingStorage(), LockingStorage)


async def test_an_update_with_nobody_waiting_writes_and_releases_in_one_call() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    for _ in range(3):
        await run(mw, FakeContext(), bump)
    assert storage.data["42"] == {"count": 3}
    assert storage.counts == Counter({"acquire": 3, "write": 3})
    assert_all_free(storage, mw)


@pytest.mark.usefixtures("no_window")
async def test_a_thousand_concurrent_updates_count_to_a_thousand_locking_once_per_chain() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    assert await burst(mw, 1000) == [None] * 1000
    assert storage.data["42"] == {"count": 1000}
    chains = math.ceil(1000 / (HANDOFF_LIMIT + 1))
    # Each chain: one lock, a kept write per handoff, and a last write that releases.
    assert storage.counts == Counter(
        {"acquire": chains, "write+keep": 1000 - chains, "write": chains}
    )
    assert_all_free(storage, mw)


@pytest.mark.usefixtures("no_window")
async def test_the_handoff_count_cap_releases_the_lease_for_other_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("botsessions.engine.handoff.HANDOFF_LIMIT", 3)
    storage = KeepingStorage()
    mw = counter(storage)
    await burst(mw, 10)
    assert storage.data["42"] == {"count": 10}
    assert storage.counts == Counter({"acquire": 3, "write+keep": 7, "write": 3})


async def test_the_handoff_time_cap_releases_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botsessions.engine.handoff.HANDOFF_WINDOW", 0.0)
    storage = KeepingStorage()
    mw = counter(storage)
    await burst(mw, 10)
    assert storage.data["42"] == {"count": 10}
    assert storage.counts == Counter({"acquire": 10, "write": 10})


async def test_updates_that_leave_the_session_unchanged_hand_over_without_a_round_trip() -> None:
    storage = KeepingStorage()
    storage.data["42"] = {"count": 5}
    mw = counter(storage)
    await burst(mw, 10, touch)
    await burst(mw, 10, nothing)
    assert storage.counts == Counter({"acquire": 2, "release": 2})
    assert_all_free(storage, mw)


@pytest.mark.usefixtures("no_window")
async def test_a_failed_handler_writes_nothing_and_hands_the_lease_on_unchanged() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    calls = itertools.count()

    async def every_other_fails(ctx: FakeContext) -> None:
        await bump(ctx)
        if next(calls) % 2:
            raise RuntimeError("boom")

    results = await burst(mw, 10, every_other_fails)
    assert [isinstance(r, RuntimeError) for r in results] == [False, True] * 5
    assert storage.data["42"] == {"count": 5}
    # The last update failed: nothing to write, so it releases the lease.
    assert storage.counts == Counter({"acquire": 1, "write+keep": 5, "release": 1})
    assert_all_free(storage, mw)


async def test_a_lease_lost_during_a_handoff_fails_that_update_and_the_next_locks_again() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    storage.data["42"] = {"count": 0}
    storage.fail_next = True  # the first update's kept write finds its lease gone
    results = await burst(mw, 3)
    assert isinstance(results[0], LeaseLostError)
    assert results[1:] == [None, None]
    assert storage.data["42"] == {"count": 2}  # the failed update wrote nothing
    assert storage.counts == Counter({"acquire": 2, "write+keep": 2, "write": 1})
    assert_all_free(storage, mw)


def cancel_on_first_write(storage: KeepingStorage, task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` just after the first write's handoff, before ``task`` wakes up.

    Scheduled during the first update's kept write, the cancellation runs after the
    lease was handed to ``task`` and before ``task`` resumes to take it.
    """
    loop = asyncio.get_running_loop()

    def on_write() -> None:
        storage.on_write = None
        loop.call_soon(task.cancel)

    storage.on_write = on_write


async def test_a_waiter_cancelled_as_the_lease_reaches_it_passes_it_to_the_next() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    tasks = [asyncio.create_task(run(mw, FakeContext(), bump)) for _ in range(3)]
    cancel_on_first_write(storage, tasks[1])
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], asyncio.CancelledError)
    assert storage.data["42"] == {"count": 2}
    assert storage.counts == Counter({"acquire": 1, "write+keep": 1, "write": 1})
    assert_all_free(storage, mw)


async def test_a_last_waiter_cancelled_as_the_lease_reaches_it_releases_the_lease() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    tasks = [asyncio.create_task(run(mw, FakeContext(), bump)) for _ in range(2)]
    cancel_on_first_write(storage, tasks[1])
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], asyncio.CancelledError)
    assert storage.counts == Counter({"acquire": 1, "write+keep": 1, "release": 1})
    assert_all_free(storage, mw)
    await run(mw, FakeContext(), bump)  # the key is free again, in storage and in process
    assert storage.data["42"] == {"count": 2}


async def test_storages_without_keep_lock_and_unlock_every_update() -> None:
    storage = FakeLockingStorage()
    mw = session(initial=lambda: 0, storage=storage)

    async def add(ctx: FakeContext) -> None:
        ctx.session += 1

    await burst(mw, 5, add)
    assert storage.data["42"] == 5
    assert [c[0] for c in storage.calls] == ["acquire", "lease.write"] * 5


async def test_deletes_are_kept_and_handed_over_too() -> None:
    storage = KeepingStorage()
    mw = counter(storage)
    calls = itertools.count()

    async def delete_then_count(ctx: FakeContext) -> None:
        if next(calls) == 0:
            ctx.session = None
        else:
            ctx.session["count"] += 1

    await burst(mw, 4, delete_then_count)
    assert storage.data["42"] == {"count": 3}
    assert storage.counts == Counter({"acquire": 1, "delete+keep": 1, "write+keep": 2, "write": 1})


async def test_lazy_sessions_hand_over_at_their_lock_points() -> None:
    storage = KeepingStorage()
    mw = lazy_session(initial=lambda: {"count": 0}, storage=storage)

    async def lazy_bump(ctx: FakeContext) -> None:
        data = await ctx.session
        data["count"] += 1

    async def assign(ctx: FakeContext) -> None:
        ctx.session = {"count": 100}

    await burst(mw, 10, lazy_bump)
    assert storage.data["42"] == {"count": 10}
    assert storage.counts == Counter({"acquire": 1, "write+keep": 9, "write": 1})
    storage.counts.clear()
    await burst(mw, 5, assign)
    await burst(mw, 5, nothing)  # never touches the session: never locks
    assert storage.data["42"] == {"count": 100}
    assert storage.counts == Counter({"acquire": 1, "write+keep": 4, "write": 1})
    assert_all_free(storage, mw)


async def test_multi_session_fragments_hand_over_their_leases_key_by_key() -> None:
    storage = KeepingStorage()
    mw = session(
        type="multi",
        a={"initial": lambda: {"count": 0}, "storage": storage, "prefix": "a-"},
        b={"initial": lambda: {"count": 0}, "storage": storage, "prefix": "b-"},
    )

    async def both(ctx: FakeContext) -> None:
        a = ctx.session.a["count"]
        await asyncio.sleep(0)
        ctx.session.a["count"] = a + 1
        ctx.session.b["count"] += 2

    await burst(mw, 10, both)
    assert storage.data == {"a-42": {"count": 10}, "b-42": {"count": 20}}
    assert storage.counts == Counter({"acquire": 2, "write+keep": 18, "write": 2})
    assert_all_free(storage, mw)


async def test_a_failing_multi_update_hands_its_leases_on_unchanged() -> None:
    storage = KeepingStorage()
    mw = session(
        type="multi",
        a={"initial": lambda: {"count": 0}, "storage": storage, "prefix": "a-"},
        b={"initial": lambda: {"count": 0}, "storage": storage, "prefix": "b-"},
    )
    calls = itertools.count()

    async def second_fails(ctx: FakeContext) -> None:
        ctx.session.a["count"] += 1
        ctx.session.b["count"] += 1
        if next(calls) == 1:
            raise RuntimeError("boom")

    results = await burst(mw, 3, second_fails)
    assert isinstance(results[1], RuntimeError)
    assert storage.data == {"a-42": {"count": 2}, "b-42": {"count": 2}}
    assert storage.counts == Counter({"acquire": 2, "write+keep": 2, "write": 2})
    assert_all_free(storage, mw)


async def test_enhance_storage_forwards_keep_and_hands_over_unwrapped_values() -> None:
    inner = KeepingStorage()
    mw = session(initial=lambda: {"count": 0}, storage=enhance_storage(storage=inner, ttl=60))
    await burst(mw, 10)
    assert inner.data["42"]["__d"] == {"count": 10}
    assert inner.counts == Counter({"acquire": 1, "write+keep": 9, "write": 1})
    assert inner.holders == {}


async def test_enhance_storage_over_a_lease_without_keep_does_not_hand_over() -> None:
    inner = FakeLockingStorage()
    mw = session(initial=lambda: 0, storage=enhance_storage(storage=inner))

    async def add(ctx: FakeContext) -> None:
        ctx.session += 1

    await burst(mw, 3, add)
    assert inner.data["42"] == {"__d": 3}
    assert [c[0] for c in inner.calls] == ["acquire", "lease.write"] * 3


class TestFlushAfterHandoff:
    """A lease that can commit before its disk flush is handed on before the flush."""

    @staticmethod
    async def write_handing_on(lease: Any, locks: KeyedLock, handed: list[bool]) -> bool:
        """``end_lease`` writing ``{"n": 1}`` on key "k", noting when it hands on."""
        return await end_lease(
            lease, None, locks, "k", LeaseAction.WRITE, {"n": 1}, handed=lambda: handed.append(True)
        )

    @staticmethod
    async def queued(locks: KeyedLock, key: str) -> asyncio.Task[Any]:
        waiter = asyncio.create_task(locks.acquire(key, None))
        await asyncio.sleep(0)  # one step: it finds the key held and joins the line
        assert locks.waiting(key) == 1
        return waiter

    async def test_the_next_update_gets_the_lease_before_the_flush_and_the_writer_waits(
        self,
    ) -> None:
        storage, locks = FlushingStorage(), KeyedLock()
        locks.try_acquire("k", None)
        lease = await storage.acquire("k", read=True)
        waiter = await self.queued(locks, "k")
        handed: list[bool] = []
        ending = asyncio.create_task(self.write_handing_on(lease, locks, handed))
        held = await waiter
        assert isinstance(held, HeldLease)
        assert held.lease is lease
        assert held.lease.value == {"n": 1}  # committed before the handoff
        assert handed == [True]
        assert not ending.done()  # still waiting for the disk
        storage.disk_ready.set()
        assert await ending is True
        assert storage.counts == Counter({"acquire": 1, "write+keep-flush": 1, "flush": 1})
        await lease.write({"n": 2})  # the next holder ends it as usual, flushing
        assert storage.data["k"] == {"n": 2}
        assert storage.locked == set()

    async def test_without_handed_a_kept_write_is_flushed_before_the_handoff(self) -> None:
        storage, locks = FlushingStorage(), KeyedLock()
        locks.try_acquire("k", None)
        lease = await storage.acquire("k", read=True)
        waiter = await self.queued(locks, "k")
        assert await end_lease(lease, None, locks, "k", LeaseAction.DELETE) is True
        assert storage.counts == Counter({"acquire": 1, "delete+keep": 1})
        held = await waiter
        await held.lease.release()

    async def test_a_failed_flush_fails_the_writer_after_the_handoff(self) -> None:
        storage, locks = FlushingStorage(), KeyedLock()
        storage.fail_flush = True
        storage.disk_ready.set()
        locks.try_acquire("k", None)
        lease = await storage.acquire("k", read=True)
        waiter = await self.queued(locks, "k")
        handed: list[bool] = []
        with pytest.raises(StorageError, match="flush failed"):
            await self.write_handing_on(lease, locks, handed)
        assert handed == [True]  # the key is the next update's: its holder releases it
        held = await waiter
        await held.lease.release()
        assert locks.locked("k")
        locks.release("k")

    async def test_when_the_waiter_gave_up_the_lease_is_released_and_flushed(self) -> None:
        storage, locks = FlushingStorage(), KeyedLock()
        storage.disk_ready.set()
        locks.try_acquire("k", None)
        lease = await storage.acquire("k", read=True)
        waiter = await self.queued(locks, "k")
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not locks.waiting("k")
        handed: list[bool] = []
        assert not await self.write_handing_on(lease, locks, handed)
        assert handed == []
        assert storage.counts == Counter({"acquire": 1, "write": 1})  # nobody waits: no keep
        assert storage.locked == set()


class TestRealStorages:
    @pytest.mark.usefixtures("no_window")
    async def test_a_burst_on_redis_costs_one_script_call_per_update_plus_one_per_chain(
        self, private_redis: RedisServer
    ) -> None:
        admin = aioredis.Redis.from_url(private_redis.url)
        async with RedisStorage(private_redis.url) as storage:
            mw = counter(storage)
            await run(mw, FakeContext(), bump)  # loads the scripts
            await admin.config_resetstat()
            assert await burst(mw, 50) == [None] * 50
            stats = await admin.info("commandstats")
            assert await storage.read("42") == {"count": 51}
            assert not await admin.exists(b"\xffbotsessions.lock:42")  # the lock was released
        await admin.aclose()
        chains = math.ceil(50 / (HANDOFF_LIMIT + 1))
        # Without the handoff: 100 (lock and read, then write and unlock, per update).
        assert stats["cmdstat_evalsha"]["calls"] == chains + 50
        inside = ("evalsha", "get", "set", "del", "exists", "pexpire", "lindex", "lpop", "llen")
        sent = {k for k in stats if k.startswith("cmdstat_") and "config" not in k}
        assert sent <= {f"cmdstat_{c}" for c in inside}

    async def test_a_burst_on_postgres_counts_every_update(
        self, postgres_dsn: str, unique_name: str
    ) -> None:
        try:
            async with PostgresStorage(postgres_dsn, table=unique_name) as storage:
                mw = counter(storage)
                assert await burst(mw, 100) == [None] * 100
                assert await storage.read("42") == {"count": 100}
                lease = await storage.acquire("42", read=True)  # the lock was released
                await lease.release()
        finally:
            await drop_table(postgres_dsn, unique_name)


class TestSessionsOverAFlushingLease:
    """``session()`` over a storage whose kept writes can wait for the disk later."""

    async def test_the_next_update_runs_before_the_flush_and_each_ends_once_on_disk(
        self,
    ) -> None:
        storage = FlushingStorage()
        mw = counter(storage)
        seen: list[int] = []
        all_ran = asyncio.Event()

        async def bump_and_note(ctx: FakeContext) -> None:
            seen.append(ctx.session["count"])
            ctx.session["count"] += 1
            if len(seen) == 3:
                all_ran.set()

        updates = [asyncio.create_task(run(mw, FakeContext(), bump_and_note)) for _ in range(3)]
        await all_ran.wait()  # every handler ran, though no write reached the disk yet
        assert seen == [0, 1, 2]
        assert not any(update.done() for update in updates[:2])  # waiting for the disk
        storage.disk_ready.set()
        await asyncio.gather(*updates)
        assert storage.data["42"] == {"count": 3}
        assert storage.locked == set()
        assert all(len(plan.locks) == 0 for plan in mw.manager.plans)  # type: ignore[attr-defined]

    async def test_a_failed_flush_fails_its_update_and_the_next_one_keeps_the_key(
        self,
    ) -> None:
        storage = FlushingStorage()
        storage.fail_flush = True
        mw = counter(storage)
        started = asyncio.Event()

        async def second(ctx: FakeContext) -> None:
            ctx.session["count"] += 10
            started.set()

        first = asyncio.create_task(run(mw, FakeContext(), bump))
        await asyncio.sleep(0)
        later = asyncio.create_task(run(mw, FakeContext(), second))
        await started.wait()  # the second update holds the key now
        storage.disk_ready.set()
        results = await asyncio.gather(first, later, return_exceptions=True)
        assert isinstance(results[0], StorageError)
        assert storage.data["42"] == {"count": 11}
        assert storage.locked == set()
        assert all(len(plan.locks) == 0 for plan in mw.manager.plans)  # type: ignore[attr-defined]
