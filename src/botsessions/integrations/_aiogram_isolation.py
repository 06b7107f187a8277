"""SessionIsolation: aiogram's event isolation on a botsessions storage's lock.

aiogram's ``FSMContextMiddleware`` enters ``events_isolation.lock(key)`` before it loads
the state, and leaves it after the handler (and every later middleware) returned. Here
that lock is two locks, taken in order:

1. an in-process FIFO lock per key (``engine.locks.KeyedLock``), so updates of one chat
   in this process queue here instead of at the storage, and a chat nobody talks to
   costs no bookkeeping;
2. when the storage implements the locking protocol (``LockingStorage``: Redis,
   PostgreSQL, or a wrapper of one), the storage's lease on the same key, which serializes
   updates across processes and reads the stored FSM record in the same round trip.

While the lease is held, the task's context carries it (a context variable), and an
``FSMStorage`` over the *same storage object* whose record key is the lock's key reads
the record from ``lease.value`` and writes through the lease (``keep=True``). A burst of
updates for one chat then costs one write round trip per changed update: when another
update of the key already waits in this process, the ending update hands the lease over
with the in-process lock instead of unlocking and locking again (a chain is capped by
``engine.handoff.may_hand_on``, so that waiters in other processes get their turn).

On a lease that can commit before the disk flush (``FlushingLease``: PostgreSQL) the
FSM's writes do so, and the update waits for their flush only after it handed the lease
on: the next update's handler runs meanwhile, and an update still ends only once its
writes are durable (``bench.fsm`` on PostgreSQL shows the gain).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, cast

from botsessions.engine.handoff import FlushingLease, defers_flush, may_hand_on
from botsessions.engine.locks import KeyedLock
from botsessions.integrations._aiogram_api import (
    BaseEventIsolation,
    KeyBuilder,
    StorageKey,
    key_builder_or_default,
)
from botsessions.storage._locking import LockingStorage, SessionLease

__all__ = ["HeldLease", "SessionIsolation", "held_lease"]


class HeldLease:
    """A storage lease held by ``SessionIsolation`` for the handler of one update.

    ``FSMStorage`` uses it through ``held_lease()``: ``mutex`` serializes the handler's
    own concurrent FSM calls on the lease, and ``broken`` marks a lease whose write
    failed (it is then released, never handed on). ``flushing`` is the lease when its
    kept writes may skip the disk flush (``FlushingLease``), and ``flush_mark`` what the
    current update wrote that way: the isolation waits for it once the update ends.
    """

    __slots__ = (
        "broken",
        "count",
        "flush_mark",
        "flushing",
        "lease",
        "mutex",
        "name",
        "since",
        "storage",
    )

    def __init__(self, storage: Any, name: str, lease: SessionLease) -> None:
        self.storage = storage
        self.name = name
        self.lease = lease
        self.flushing = cast(FlushingLease, lease) if defers_flush(lease) else None
        self.flush_mark = 0
        self.mutex = asyncio.Lock()
        self.broken = False
        self.count = 0  # handoffs so far in this chain
        self.since = 0.0  # when the chain's first handoff happened

    def __repr__(self) -> str:
        return f"<HeldLease {self.name!r} handed {self.count}x>"

    async def drop(self) -> None:
        """Release the lease: nobody is left to take it over (``KeyedLock`` payload)."""
        with contextlib.suppress(Exception):
            await self.lease.release()


class _Holding:
    """One update's hold on a lease; a task started by its handler may outlive it."""

    __slots__ = ("active", "held")

    def __init__(self, held: HeldLease) -> None:
        self.held = held
        self.active = True


_NONE_HELD: Mapping[str, _Holding] = MappingProxyType({})
_HELD: ContextVar[Mapping[str, _Holding]] = ContextVar("botsessions_fsm_leases", default=_NONE_HELD)


def held_lease(name: str) -> HeldLease | None:
    """The lease ``SessionIsolation`` holds on record key ``name`` for this task, if any.

    A task that copied the context of a handler (``asyncio.create_task``) sees the lease
    only while that handler's update still holds it, never the next update's.
    """
    holding = _HELD.get().get(name)
    return holding.held if holding is not None and holding.active else None


class SessionIsolation(BaseEventIsolation):
    """aiogram event isolation on a botsessions storage: per key, across processes.

    Pass it as ``Dispatcher(events_isolation=SessionIsolation(store))`` next to
    ``storage=FSMStorage(store)``: updates that share an FSM key run one at a time, in
    arrival order, in this process; with a storage that locks (``RedisStorage``,
    ``PostgresStorage``, or ``enhance_storage`` over one) also across every process that
    uses the same storage. Give both objects the *same storage object* and the same key
    builder, so that the lock's key is the FSM record's key: the FSM then reads and
    writes through the held lock instead of locking again.

    Args:
        storage: any botsessions storage. Without the locking protocol (memory, SQLite,
            files) the isolation is per process only.
        key_builder: how a ``StorageKey`` becomes the lock's key; aiogram's
            ``DefaultKeyBuilder()`` when ``None``. Use the ``FSMStorage``'s.

    The storage owns its lock settings: ``lock_wait`` (``LockTimeoutError`` when the
    lock is not acquired in time) and ``lock_lease`` (a crashed process's lock frees
    itself after it). ``close()`` closes nothing: the storage is yours to close.
    """

    def __init__(self, storage: Any, *, key_builder: KeyBuilder | None = None) -> None:
        self.storage = storage
        self.key_builder: KeyBuilder = key_builder_or_default(key_builder)
        self._leased = isinstance(storage, LockingStorage)
        self._locks = KeyedLock()

    def __repr__(self) -> str:
        return f"SessionIsolation({self.storage!r})"

    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        """Hold ``key`` for the duration of the ``async with`` block (one update).

        Raises:
            LockError: this task already holds ``key`` (waiting would never end).
            LockTimeoutError: the storage's lock was not acquired within its ``lock_wait``.
        """
        name = self.key_builder.build(key)
        locks = self._locks
        handed = await locks.acquire(name, asyncio.current_task())
        if not self._leased:
            try:
                yield
            finally:
                locks.release(name)
            return
        held = handed if isinstance(handed, HeldLease) else None
        if held is None:
            try:
                lease = await self.storage.acquire(name, read=True)
            except BaseException:
                locks.release(name)
                raise
            held = HeldLease(self.storage, name, lease)
        holding = _Holding(held)
        outer = _HELD.get().get(name)  # another isolation's hold on the same name, if any
        _HELD.set({**_HELD.get(), name: holding})
        try:
            yield
        finally:
            holding.active = False
            remaining = dict(_HELD.get())
            if remaining.get(name) is holding:
                if outer is None:
                    del remaining[name]
                else:
                    remaining[name] = outer
                _HELD.set(remaining)
            await self._end(name, held)

    async def _end(self, name: str, held: HeldLease) -> None:
        """Hand the lease to the next local update of ``name``, or release both locks;
        then wait until what this update wrote is on disk."""
        flushing, mark = held.flushing, held.flush_mark
        held.flush_mark = 0  # the next holder counts its own writes
        if not self._hand_over(name, held):
            self._locks.release(name)
            await held.drop()  # a release also flushes
        if flushing is not None and mark:
            await flushing.flushed(mark)

    def _hand_over(self, name: str, held: HeldLease) -> bool:
        locks = self._locks
        if held.broken or not locks.waiting(name):
            return False
        if held.count == 0:
            held.since = time.monotonic()
        if not may_hand_on(held.count, held.since):
            return False
        held.count += 1
        return locks.hand_over(name, held)

    async def close(self) -> None:
        """Nothing to close: the storage belongs to the caller."""
