"""A locking storage whose kept writes can skip the disk flush (as ``PostgresLease``'s can).

The "disk" is an event: ``flushed(mark)`` waits for ``disk_ready`` while a kept write
without flush is outstanding, so a test decides when the flush completes; ``fail_flush``
makes it fail instead. Every call is counted and yields to the event loop like a round trip.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from botsessions import StorageError
from tests.session_support import DictBacked


class FlushingLease:
    """A held key of ``FlushingStorage`` (a ``FlushingLease`` in ``engine.handoff``)."""

    def __init__(self, owner: FlushingStorage, key: str, value: Any) -> None:
        self.owner, self.key, self.value = owner, key, value
        self.flush_mark = 0
        self.on_disk = 0
        self.ended = False

    async def write(self, value: Any, *, keep: bool = False, flush: bool = True) -> None:
        await self._change(value, "write", keep=keep, flush=flush)

    async def delete(self, *, keep: bool = False, flush: bool = True) -> None:
        await self._change(None, "delete", keep=keep, flush=flush)

    async def _change(self, value: Any, what: str, *, keep: bool, flush: bool) -> None:
        self.owner.counts[what + ("+keep" if keep else "") + ("" if flush else "-flush")] += 1
        await asyncio.sleep(0)
        if value is None:
            self.owner.data.pop(self.key, None)
        else:
            self.owner.data[self.key] = value
        self.value = value
        if keep and not flush:
            self.flush_mark += 1
        else:
            self.on_disk = self.flush_mark
        if not keep:
            self._end()

    async def release(self) -> None:
        if not self.ended:
            self.owner.counts["release"] += 1
            await asyncio.sleep(0)
            self.on_disk = self.flush_mark
            self._end()

    async def flushed(self, mark: int) -> None:
        if self.on_disk >= mark:
            return
        self.owner.counts["flush"] += 1
        await self.owner.disk_ready.wait()
        if self.owner.fail_flush:
            raise StorageError("flush failed", key=self.key)
        self.on_disk = max(self.on_disk, mark)

    def _end(self) -> None:
        self.ended = True
        self.owner.locked.discard(self.key)


class FlushingStorage(DictBacked):
    """A locking storage (one holder per key) whose leases are ``FlushingLease``."""

    def __init__(self) -> None:
        super().__init__()
        self.locked: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.disk_ready = asyncio.Event()
        self.fail_flush = False

    async def acquire(self, key: str, *, read: bool) -> FlushingLease:
        assert key not in self.locked, "the fake's lock is never contended in these tests"
        self.counts["acquire"] += 1
        await asyncio.sleep(0)
        self.locked.add(key)
        return FlushingLease(self, key, self.data.get(key) if read else None)
