"""The locking conformance suite: checks a ``LockingStorage`` against its real backend.

Subclass ``LockingConformance`` in a test module (the name must start with ``Test``) and
provide a ``locking_storage`` fixture returning a ``LockingStorageSpec``: an importable
factory (``"package.module:function"``) and JSON-compatible keyword options. The suite
calls it in this process and in worker processes it starts, so every storage it builds
must reach the same backend and namespace::

    # mypackage/testing.py
    def make_storage(*, lease=None, url, prefix):
        return MyStorage(url, prefix=prefix, lock_wait=30, lock_lease=lease or 30)

    # tests/test_my_locking.py
    class TestMyStorageLocking(LockingConformance):
        @pytest.fixture
        def locking_storage(self, unique_prefix):
            return LockingStorageSpec(
                "mypackage.testing:make_storage",
                {"url": "myproto://localhost", "prefix": unique_prefix},
            )

The factory gets ``lease=None`` for the storage's own lease, or ``lease=seconds`` (the
class attribute ``lease``, 1 s by default) for the tests that wait for a lease to expire.
Give it a lock wait well above the lease (30 s is fine). It may return the storage or an
awaitable of it; storages with ``close()`` are closed after each test.

Checked: mutual exclusion in one process and across processes, expiry after SIGKILL,
refused writes after a lost lease, ``keep=True``, idempotent release, FIFO order, and
cancellation of waiters and holders.

Two hooks reach into the backend, where only the backend can tell:

* ``count_waiters(spec, key)``: how many acquirers wait in line for ``key`` (return
  ``None``, the default, when it cannot be told: the FIFO test is then skipped).
* ``lose_leases(spec, keys)``: make the held leases of ``keys`` lost. The default blocks
  this process (so it cannot renew) until a worker process has taken the keys over, which
  suits leases that expire by time; override it for others (PostgreSQL: terminate the
  holding connection).

The tests run their own event loop (``asyncio.run``), so they need no pytest plugin.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from botsessions._errors import LeaseLostError
from botsessions.storage._locking import LockingStorage
from botsessions.testing._conformance_harness import with_storages
from botsessions.testing._locking_harness import LockingHarness, Make
from botsessions.testing._locking_worker import LockingStorageSpec, expect, spawn

__all__ = ["LockingConformance", "LockingStorageSpec"]


class LockingConformance(LockingHarness):
    """What every ``LockingStorage`` must guarantee. Subclass it; see the module docs.

    Class attributes: ``lease`` (seconds, the short lease of the expiry tests),
    ``processes`` and ``increments`` (the cross-process counter: that many workers, each
    doing that many updates), ``prompt`` (seconds a free lock may take to be acquired; keep
    it below the storage's default lease, so a leaked lock is noticed).
    """

    # -- basics ------------------------------------------------------------------------------

    @with_storages("locking_storage")
    async def test_the_storage_offers_the_lock_capability(self, make: Make) -> None:
        assert isinstance(await make(), LockingStorage)

    @with_storages("locking_storage")
    async def test_acquire_reads_the_value_and_write_releases(self, make: Make) -> None:
        storage = await make()
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        assert lease.value == {"count": 1}
        await lease.write({"count": 2})
        await lease.release()  # already ended: no effect
        again = await self._acquire_promptly(storage, "chat")  # the write unlocked it
        assert again.value == {"count": 2}
        await again.release()
        blind = await storage.acquire("chat", read=False)
        assert blind.value is None
        await blind.delete()
        assert await storage.read("chat") is None
        missing = await self._acquire_promptly(storage, "chat")
        assert missing.value is None
        await missing.release()

    @with_storages("locking_storage")
    async def test_release_is_idempotent_and_frees_the_key(self, make: Make) -> None:
        storage, other = await make(), await make()
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        await lease.release()
        await lease.release()
        taken = await self._acquire_promptly(other, "chat")
        assert taken.value == {"count": 1}
        await lease.release()  # still silent while another holder has the key
        await self._commit(storage, "chat", taken, {"count": 2})

    # -- mutual exclusion --------------------------------------------------------------------

    @with_storages("locking_storage")
    async def test_a_second_holder_waits_and_sees_the_first_ones_write(self, make: Make) -> None:
        storage, other = await make(), await make()
        first = await storage.acquire("chat", read=True)
        second = asyncio.create_task(other.acquire("chat", read=True))
        done, _ = await asyncio.wait({second}, timeout=0.05)
        assert not done  # still waiting for the first holder
        await first.write({"count": 1})
        lease = await second
        assert lease.value == {"count": 1}
        await lease.release()

    @with_storages("locking_storage")
    async def test_holders_in_one_process_never_overlap(self, make: Make) -> None:
        storages = [await make() for _ in range(4)]
        inside = 0

        async def increments(storage: Any) -> None:
            nonlocal inside
            for _ in range(10):
                lease = await storage.acquire("chat", read=True)
                inside += 1
                assert inside == 1, "two holders of one key at once"
                current = (lease.value or {"count": 0})["count"]
                await asyncio.sleep(0)
                inside -= 1
                await lease.write({"count": current + 1})

        await asyncio.gather(*(increments(storage) for storage in storages))
        assert await storages[0].read("chat") == {"count": 40}

    @with_storages("locking_storage")
    async def test_holders_in_several_processes_lose_no_update(
        self, make: Make, locking_storage: LockingStorageSpec
    ) -> None:
        storage = await make()
        await storage.write("chat", {"count": 0})  # also creates tables before the workers
        config = {"key": "chat", "increments": self.increments}
        workers = [await spawn("count", locking_storage, **config) for _ in range(self.processes)]
        for worker in workers:
            await expect(worker, "ready")
        for worker in workers:  # start together: all are connected
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        for worker in workers:
            await expect(worker, "done")
            await worker.wait()
        total = self.processes * self.increments
        assert await storage.read("chat") == {"count": total}

    # -- expiry and lost leases --------------------------------------------------------------

    @with_storages("locking_storage")
    async def test_a_killed_holder_frees_the_key_within_the_lease(
        self, make: Make, locking_storage: LockingStorageSpec
    ) -> None:
        storage = await make(lease=self.lease)
        await storage.write("chat", {"count": 5})
        holder = await spawn("hold", locking_storage, lease=self.lease, key="chat")
        await expect(holder, "locked")  # it committed count 6 and holds the lock
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        lease = await self._acquire_once_expired(storage)
        assert lease.value == {"count": 6}  # what it committed is kept
        await self._commit(storage, "chat", lease, {"count": 7})

    @with_storages("locking_storage")
    async def test_a_lost_lease_refuses_write_and_delete_and_leaves_the_data(
        self, make: Make, locking_storage: LockingStorageSpec
    ) -> None:
        storage = await make(lease=self.lease)
        for key in ("a", "b"):
            await storage.write(key, {"count": 1})
        a, b = [await storage.acquire(key, read=True) for key in ("a", "b")]
        await self.lose_leases(locking_storage, ["a", "b"])
        after = [await storage.read("a"), await storage.read("b")]
        with pytest.raises(LeaseLostError) as caught:
            await a.write({"count": 100})
        assert caught.value.key == "a"
        with pytest.raises(LeaseLostError):
            await b.delete()
        await a.release()  # silent once lost
        await b.release()
        assert [await storage.read("a"), await storage.read("b")] == after
        lease = await self._acquire_promptly(storage, "a")  # nobody holds it
        await self._commit(storage, "a", lease, {"count": 2})

    # -- keep, FIFO, cancellation ------------------------------------------------------------

    @with_storages("locking_storage")
    async def test_write_with_keep_commits_and_keeps_the_lock(
        self, make: Make, locking_storage: LockingStorageSpec
    ) -> None:
        storage, other = await make(), await make()
        lease = await storage.acquire("chat", read=True)
        await lease.write({"count": 1}, keep=True)
        assert lease.value == {"count": 1}
        assert await other.read("chat") == {"count": 1}  # committed and visible
        waiter = asyncio.create_task(other.acquire("chat", read=True))
        await self._until_waiting(locking_storage, "chat", 1)
        await lease.delete(keep=True)
        assert lease.value is None
        assert await other.read("chat") is None
        await lease.write({"count": 2}, keep=True)
        assert not waiter.done()  # the lock was kept throughout
        await lease.write({"count": 3})
        second = await waiter
        assert second.value == {"count": 3}
        await second.release()

    @with_storages("locking_storage")
    async def test_waiters_are_served_first_come_first_served(
        self, make: Make, locking_storage: LockingStorageSpec
    ) -> None:
        storage = await make()
        if await self.count_waiters(locking_storage, "chat") is None:
            pytest.skip("override count_waiters() to check the order of waiters")
        order: list[str] = []

        async def update(source: Any, name: str) -> None:
            lease = await source.acquire("chat", read=True)
            order.append(name)
            await lease.write({"last": name})

        holder = await storage.acquire("chat", read=True)
        tasks = []
        for number in range(1, 4):
            other = await make()
            tasks.append(asyncio.create_task(update(other, f"waiter {number}")))
            await self._until_waiting(locking_storage, "chat", number)
        await holder.write({"last": "holder"})
        await update(storage, "holder again")  # queues behind the three waiters
        await asyncio.gather(*tasks)
        assert order == ["waiter 1", "waiter 2", "waiter 3", "holder again"]
        assert await storage.read("chat") == {"last": "holder again"}

    @with_storages("locking_storage")
    async def test_a_cancelled_waiter_leaves_the_line(
        self, make: Make, locking_storage: LockingStorageSpec
    ) -> None:
        storage, other = await make(), await make()
        holder = await self._acquire_promptly(storage, "chat")
        waiter = asyncio.create_task(other.acquire("chat", read=True))
        if not await self._until_waiting(locking_storage, "chat", 1):
            await asyncio.wait({waiter}, timeout=0.2)  # any point of the wait will do
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await holder.write({"count": 1})
        lease = await self._acquire_promptly(storage, "chat")  # not left to the cancelled
        assert lease.value == {"count": 1}
        # The line is empty now (a backend may drop a cancelled waiter only once the
        # lock comes to it, as PostgreSQL does; the key is free in time either way).
        await self._until_waiting(locking_storage, "chat", 0)
        await lease.release()

    @with_storages("locking_storage")
    async def test_a_cancelled_holder_frees_the_key_within_a_lease(self, make: Make) -> None:
        storage, other = await make(lease=self.lease), await make(lease=self.lease)
        await storage.write("chat", {"count": 1})
        for where in ("holding", "write"):
            holding = asyncio.Event()
            task = asyncio.create_task(_hold_then(storage, where, holding, self.prompt))
            await holding.wait()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            lease = await self._acquire_once_expired(other)
            assert lease.value in ({"count": 1}, {"count": 2})  # the write all or nothing
            await lease.write({"count": 1})

    @with_storages("locking_storage")
    async def test_a_cancelled_acquire_raises_and_leaks_no_lock(self, make: Make) -> None:
        storage, other = await make(lease=self.lease), await make(lease=self.lease)
        for steps in range(6):  # cancel after 0, 1, ... passes of the event loop
            holding = asyncio.Event()
            task = asyncio.create_task(_hold_then(storage, "holding", holding, self.prompt))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            (outcome,) = await asyncio.gather(task, return_exceptions=True)
            assert isinstance(outcome, asyncio.CancelledError), (
                f"acquire() swallowed the cancellation (after {steps} loop passes): the "
                "cancelled update went on holding the lock"
            )
            lease = await self._acquire_once_expired(other, read=False)
            await lease.release()


async def _hold_then(storage: Any, where: str, holding: asyncio.Event, bound: float) -> None:
    """A holder that gets cancelled while ``where`` ("holding" or "write"); it releases as
    it ends. It holds for ``bound`` seconds at most, so a lost cancellation shows."""
    lease = await storage.acquire("chat", read=True)
    try:
        if where == "write":
            holding.set()
            await lease.write({"count": 2})
        else:
            holding.set()
            await asyncio.sleep(bound)
    finally:
        await lease.release()
