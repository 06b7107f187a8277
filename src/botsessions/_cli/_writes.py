"""Writing and deleting sessions from the command line, under the session lock.

A storage that implements ``LockingStorage`` (Redis, PostgreSQL) is written key by key
under the same lock a bot's update takes: a running bot is either done with the key or
waits until the write is committed, so neither loses the other's change. Several keys are
written concurrently (``jobs``). An exact expiry is written while the lock is still held:
the lease's own write first (it checks that the lock is still ours and renews it), then
the write with the expiry, then the release.

Other storages (SQLite, files, memory) have no lock across processes; they are written
directly, in batches when they implement ``ExpiringStorage``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Sequence
from typing import Any

from botsessions._cli._records import call
from botsessions.storage import ExpiringStorage, LockingStorage
from botsessions.storage._expiry import ExpiringEntry

__all__ = ["BATCH", "Writer", "remove"]

BATCH = 500


class Writer:
    """Writes ``(key, value, expires_at)`` entries into ``storage``; counts them.

    ``locked`` is false to skip the session lock even on a storage that has one (a bulk
    restore into a storage no bot uses yet). ``done`` is called with the number of entries
    each finished write covered (for progress).
    """

    __slots__ = ("_done", "_jobs", "_locked", "_storage", "written")

    def __init__(
        self,
        storage: Any,
        *,
        locked: bool = True,
        jobs: int = 8,
        done: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._storage = storage
        self._locked = locked and isinstance(storage, LockingStorage)
        self._jobs = jobs
        self._done = done
        self.written = 0

    @property
    def locked(self) -> bool:
        """Whether writes go through the session lock."""
        return self._locked

    async def write_all(self, entries: AsyncIterable[ExpiringEntry]) -> int:
        """Write every entry; returns how many were written."""
        if self._locked:
            await self._write_locked(entries)
        else:
            batch: list[ExpiringEntry] = []
            async for entry in entries:
                batch.append(entry)
                if len(batch) >= BATCH:
                    await self._write_batch(batch)
                    batch = []
            if batch:
                await self._write_batch(batch)
        return self.written

    async def _write_batch(self, batch: Sequence[ExpiringEntry]) -> None:
        storage = self._storage
        if isinstance(storage, ExpiringStorage):
            await storage.write_entries_with_expiry(batch)
        else:
            for key, value, _ in batch:
                await call(storage.write(key, value))
        self.written += len(batch)
        self._done(len(batch))

    async def _write_locked(self, entries: AsyncIterable[ExpiringEntry]) -> None:
        # At most ``jobs`` writes in flight; the first failure cancels the others.
        slots = asyncio.Semaphore(self._jobs)

        async def write(entry: ExpiringEntry) -> None:
            try:
                await self._write_one(*entry)
            finally:
                slots.release()
            self.written += 1
            self._done(1)

        async with asyncio.TaskGroup() as group:
            async for entry in entries:
                await slots.acquire()
                group.create_task(write(entry))

    async def _write_one(self, key: str, value: Any, expires_at: float | None) -> None:
        storage = self._storage
        lease = await storage.acquire(key, read=False)
        if expires_at is None or not isinstance(storage, ExpiringStorage):
            await lease.write(value)
            return
        try:
            await lease.write(value, keep=True)
            await storage.write_entries_with_expiry([(key, value, expires_at)])
        finally:
            await lease.release()


async def remove(storage: Any, key: str) -> bool:
    """Delete one session (under its lock when the storage has one); ``False`` if missing."""
    if isinstance(storage, LockingStorage):
        lease = await storage.acquire(key, read=True)
        if lease.value is None:
            await lease.release()
            return False
        await lease.delete()
        return True
    if await call(storage.read(key)) is None:
        return False
    await call(storage.delete(key))
    return True
