"""RecordingStorage: a storage wrapper that records every call, for tests."""

from __future__ import annotations

import copy
import inspect
from collections.abc import AsyncIterator
from typing import Any, cast

from botsessions.storage._locking import SessionLease
from botsessions.storage._wrapper import StorageWrapper, WrappedLease, collect, maybe_await
from botsessions.storage.memory import MemorySessionStorage

__all__ = ["RecordingStorage", "SyncRecordingStorage"]

Call = tuple[Any, ...]


class RecordingStorage(StorageWrapper):
    """Wraps a storage and records each call, to assert exactly which I/O an update did.

    ``calls`` lists ``("read", key)``, ``("write", key, value)``, ``("delete", key)``,
    ``("has", key)`` and ``("read_all_keys",)`` style tuples in call order (written values
    are copies, so later mutation cannot change the record). ``reads``, ``writes`` and
    ``deletes`` count the three calls the session engine makes.

    When the wrapped storage has the lock capability (``acquire``, as Redis and PostgreSQL
    storages do), the wrapper has it too, so the session engine locks through it as it
    would through the storage itself, lease handoff included. Those calls are recorded as
    ``("acquire", key, read)`` and, for the lease it returns, ``("lease.write", key,
    value)``, ``("lease.delete", key)`` and ``("lease.release", key)``; a write or delete
    that keeps the lock (``keep=True``, a handoff to the next update of the key) ends with
    ``{"keep": True}``: ``("lease.write", key, value, {"keep": True})``.

    Example::

        storage = RecordingStorage()                 # wraps a new MemorySessionStorage
        bot.use(session(initial=dict, storage=storage))
        ...
        assert storage.calls == [("read", "42"), ("write", "42", {"n": 1})]

    Args:
        storage: the storage to forward to (sync or async). Default: a new
            ``MemorySessionStorage``.
    """

    __slots__ = ("calls",)

    def __init__(self, storage: Any = None) -> None:
        super().__init__(storage if storage is not None else MemorySessionStorage())
        self.calls: list[Call] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.storage!r}, calls={len(self.calls)})"

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
        return await super().read(key)

    async def write(self, key: str, value: Any) -> None:
        self.calls.append(("write", key, _snapshot(value)))
        await super().write(key, value)

    async def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        await super().delete(key)

    async def has(self, key: str) -> bool:
        self.calls.append(("has", key))
        return await super().has(key)

    async def read_all_keys(self) -> AsyncIterator[str]:
        self.calls.append(("read_all_keys",))
        for key in await collect(await maybe_await(self.storage.read_all_keys())):
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        self.calls.append(("read_all_values",))
        for value in await collect(await maybe_await(self.storage.read_all_values())):
            yield value

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        self.calls.append(("read_all_entries",))
        for entry in await collect(await maybe_await(self.storage.read_all_entries())):
            yield entry

    async def open_lease(self, key: str, *, read: bool) -> SessionLease:
        self.calls.append(("acquire", key, read))
        return await super().open_lease(key, read=read)

    async def wrap_lease(self, key: str, lease: SessionLease) -> SessionLease:
        return _RecordingLease(self, key, lease, lease.value)


class SyncRecordingStorage(RecordingStorage):
    """``RecordingStorage`` with plain (non-async) methods, over a synchronous storage.

    The session engine calls synchronous storages without awaiting them; use this class
    to count calls on that path (``MemorySessionStorage`` is synchronous).
    """

    __slots__ = ()

    def __init__(self, storage: Any = None) -> None:
        super().__init__(storage)
        for name in ("read", "write"):
            if inspect.iscoroutinefunction(getattr(self.storage, name)):
                raise TypeError(f"{self.storage!r} is not synchronous; use RecordingStorage")

    def read(self, key: str) -> Any:
        self.calls.append(("read", key))
        return self.storage.read(key)

    def write(self, key: str, value: Any) -> None:  # type: ignore[override]
        self.calls.append(("write", key, _snapshot(value)))
        self.storage.write(key, value)

    def delete(self, key: str) -> None:  # type: ignore[override]
        self.calls.append(("delete", key))
        self.storage.delete(key)


class _RecordingLease(WrappedLease):
    """A lease that records how it ends, then forwards (``keep`` included)."""

    __slots__ = ()

    def _record(self, *call: Any, keep: bool) -> None:
        owner = cast(RecordingStorage, self.owner)  # only RecordingStorage builds this lease
        owner.calls.append((*call, {"keep": True}) if keep else call)

    async def write(self, value: Any, *, keep: bool = False) -> None:
        self._record("lease.write", self.key, _snapshot(value), keep=keep)
        await super().write(value, keep=keep)

    async def delete(self, *, keep: bool = False) -> None:
        self._record("lease.delete", self.key, keep=keep)
        await super().delete(keep=keep)

    async def release(self) -> None:
        self._record("lease.release", self.key, keep=False)
        await super().release()


def _snapshot(value: Any) -> Any:
    """A copy of ``value`` to record, so later changes to it do not alter the record.

    A value too deep to copy is recorded as it is: the wrapped storage refuses it anyway (with
    the ``TypeError`` every storage gives for values nested too deep), and recording must not
    turn that into a ``RecursionError`` of its own.
    """
    try:
        return copy.deepcopy(value)
    except RecursionError:
        return value
