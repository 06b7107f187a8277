"""RecordingStorage: a storage wrapper that records every call, for tests."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from botsessions.storage._protocol import LockingStorage, SessionLease, StorageView, iterate
from botsessions.storage.memory import MemorySessionStorage

__all__ = ["RecordingStorage", "SyncRecordingStorage"]


class RecordingStorage:
    """Wraps a storage and records each call, to assert exactly which I/O an update did.

    ``calls`` lists ``("read", key)``, ``("write", key, value)``, ``("delete", key)``,
    ``("has", key)`` and ``("read_all_keys",)`` style tuples in call order (written values
    are copies, so later mutation cannot change the record). ``reads``, ``writes`` and
    ``deletes`` count the three calls the session engine makes.

    When the wrapped storage has the lock capability (``acquire``, as Redis and PostgreSQL
    storages do), the wrapper has it too, so the session engine locks through it as it
    would through the storage itself. Those calls are recorded as ``("acquire", key,
    read)`` and, for the lease it returns, ``("lease.write", key, value)``,
    ``("lease.delete", key)`` and ``("lease.release", key)``.

    Example::

        storage = RecordingStorage()                 # wraps a new MemorySessionStorage
        bot.use(session(initial=dict, storage=storage))
        ...
        assert storage.calls == [("read", "42"), ("write", "42", {"n": 1})]

    Args:
        storage: the storage to forward to (sync or async). Default: a new
            ``MemorySessionStorage``.
    """

    __slots__ = ("_view", "calls", "storage")

    def __new__(cls, storage: Any = None) -> RecordingStorage:
        if isinstance(storage, LockingStorage) and not issubclass(cls, _RecordsLeases):
            cls = _with_leases(cls)
        return super().__new__(cls)

    def __init__(self, storage: Any = None) -> None:
        self.storage = storage if storage is not None else MemorySessionStorage()
        self._view = StorageView(self.storage, locking=False)
        self.calls: list[tuple[Any, ...]] = []

    def __repr__(self) -> str:
        return f"RecordingStorage({self.storage!r}, calls={len(self.calls)})"

    @property
    def reads(self) -> int:
        """How many ``read`` calls were made."""
        return self._count("read")

    @property
    def writes(self) -> int:
        """How many ``write`` calls were made."""
        return self._count("write")

    @property
    def deletes(self) -> int:
        """How many ``delete`` calls were made."""
        return self._count("delete")

    def clear(self) -> None:
        """Forget the recorded calls (the stored data stays)."""
        self.calls.clear()

    def _count(self, name: str) -> int:
        return sum(1 for call in self.calls if call[0] == name)

    async def read(self, key: str) -> Any:
        self.calls.append(("read", key))
        return await self._view.read(key)

    async def write(self, key: str, value: Any) -> None:
        self.calls.append(("write", key, copy.deepcopy(value)))
        await self._view.write(key, value)

    async def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        await self._view.delete(key)

    async def has(self, key: str) -> bool:
        self.calls.append(("has", key))
        result = self.storage.has(key)
        return bool(await result if hasattr(result, "__await__") else result)

    async def read_all_keys(self) -> AsyncIterator[str]:
        self.calls.append(("read_all_keys",))
        for key in await iterate(self.storage.read_all_keys()):
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        self.calls.append(("read_all_values",))
        for value in await iterate(self.storage.read_all_values()):
            yield value

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        self.calls.append(("read_all_entries",))
        for entry in await iterate(self.storage.read_all_entries()):
            yield entry


class SyncRecordingStorage(RecordingStorage):
    """``RecordingStorage`` with plain (non-async) methods, over a synchronous storage.

    The session engine calls synchronous storages without awaiting them; use this class
    to count calls on that path (``MemorySessionStorage`` is synchronous).
    """

    __slots__ = ()

    def __init__(self, storage: Any = None) -> None:
        super().__init__(storage)
        if self._view.sync_read is None or self._view.sync_write is None:
            raise TypeError(f"{self.storage!r} is not synchronous; use RecordingStorage")

    def read(self, key: str) -> Any:
        self.calls.append(("read", key))
        return self.storage.read(key)

    def write(self, key: str, value: Any) -> None:  # type: ignore[override]
        self.calls.append(("write", key, copy.deepcopy(value)))
        self.storage.write(key, value)

    def delete(self, key: str) -> None:  # type: ignore[override]
        self.calls.append(("delete", key))
        self.storage.delete(key)


class _RecordsLeases:
    """Adds ``acquire`` to a recording storage whose storage has the lock capability."""

    __slots__ = ()
    calls: list[tuple[Any, ...]]
    storage: Any

    async def acquire(self, key: str, *, read: bool) -> SessionLease:
        self.calls.append(("acquire", key, read))
        lease: SessionLease = await self.storage.acquire(key, read=read)
        return _RecordingLease(lease, key, self.calls)


_variants: dict[type[RecordingStorage], type[RecordingStorage]] = {}


def _with_leases(cls: type[RecordingStorage]) -> type[RecordingStorage]:
    variant = _variants.get(cls)
    if variant is None:
        variant = type(cls.__name__, (_RecordsLeases, cls), {"__slots__": ()})
        variant.__doc__ = cls.__doc__
        _variants[cls] = variant
    return variant


class _RecordingLease:
    """A lease that records how it ends."""

    __slots__ = ("_calls", "_key", "_lease", "value")

    def __init__(self, lease: SessionLease, key: str, calls: list[tuple[Any, ...]]) -> None:
        self._lease = lease
        self._key = key
        self._calls = calls
        self.value: Any = lease.value

    async def write(self, value: Any) -> None:
        self._calls.append(("lease.write", self._key, copy.deepcopy(value)))
        await self._lease.write(value)

    async def delete(self) -> None:
        self._calls.append(("lease.delete", self._key))
        await self._lease.delete()

    async def release(self) -> None:
        self._calls.append(("lease.release", self._key))
        await self._lease.release()
