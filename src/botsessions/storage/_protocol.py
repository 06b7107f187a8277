"""The storage interface, the optional lock capability, and the view the engine uses.

* ``StorageAdapter``: what users implement. ``read``/``write``/``delete`` may be plain
  methods or coroutines; ``has`` and ``read_all_*`` are optional.
* ``LockingStorage`` / ``SessionLease``: the optional capability of storages that can lock
  one key across processes (Redis, PostgreSQL). The engine uses it automatically.
  ``KeepingLease``: a lease that can also write and keep the lock, so the next update of
  the session in this process goes on under it (see ``botsessions._handoff``).
* ``StorageView``: built once per storage when a session is built. It records which
  methods are coroutines, so the per-update path never has to ask again.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from botsessions.storage._locking import LockingStorage, SessionLease

T = TypeVar("T")

__all__ = ["KeepingLease", "LockingStorage", "SessionLease", "StorageAdapter", "StorageView"]


class StorageAdapter(Protocol[T]):
    """Where sessions live between updates.

    Implement ``read``, ``write`` and ``delete``, as plain methods or as coroutines.
    ``read`` returns ``None`` when there is no session; a backend failure must raise,
    never look like a missing session. Values are JSON-compatible (dict, list, str, int,
    float, bool, None): the session engine encodes typed sessions before writing.

    Optional methods, used by tools and by ``enhance_storage`` but never by the engine::

        def has(self, key: str) -> bool | Awaitable[bool]: ...
        def read_all_keys(self) -> Iterable[str] | AsyncIterable[str]: ...
        def read_all_values(self) -> Iterable[T] | AsyncIterable[T]: ...
        def read_all_entries(self) -> Iterable[tuple[str, T]] | AsyncIterable[tuple[str, T]]: ...
    """

    def read(self, key: str) -> T | Awaitable[T | None] | None: ...

    def write(self, key: str, value: T) -> Awaitable[None] | None: ...

    def delete(self, key: str) -> Awaitable[None] | None: ...


# Transitional alias: every lease of the locking protocol accepts ``keep``.
KeepingLease = SessionLease


_PLAIN = frozenset({dict, list, str, int, float, bool, bytes})


def _is_pending(result: Any) -> bool:
    """Whether a sync-looking method handed back something to await (rare, checked cheaply)."""
    return result is not None and type(result) not in _PLAIN and inspect.isawaitable(result)


class StorageView:
    """The engine's view of one storage: async methods, sync ones kept callable directly.

    ``sync_read`` / ``sync_write`` / ``sync_delete`` are the storage's own bound methods
    when they are plain functions (the engine calls them without an ``await``), else
    ``None``. ``read`` / ``write`` / ``delete`` always work with ``await``.
    ``lease`` is the storage's ``acquire`` when it offers the lock capability.
    ``read_blob`` / ``write_blob`` are the storage's private JSON-bytes methods when it
    keeps sessions as JSON bytes in this process (``MemorySessionStorage``), else ``None``.
    """

    __slots__ = (
        "delete",
        "lease",
        "read",
        "read_blob",
        "storage",
        "sync_delete",
        "sync_read",
        "sync_write",
        "write",
        "write_blob",
    )

    def __init__(self, storage: Any, *, locking: bool = True) -> None:
        for name in ("read", "write", "delete"):
            if not callable(getattr(storage, name, None)):
                raise TypeError(
                    f"storage {storage!r} has no {name}() method; a storage needs "
                    "read(key), write(key, value) and delete(key)"
                )
        self.storage = storage
        self.sync_read = _sync_or_none(storage.read)
        # A storage may offer a faster write for values the session codec already proved to
        # be fresh, exact JSON (MemorySessionStorage skips its own verification then).
        trusted = _private(storage, "_write_json")
        self.sync_write = trusted if trusted is not None else _sync_or_none(storage.write)
        self.sync_delete = _sync_or_none(storage.delete)
        self.read = _as_async(storage.read)
        self.write = _as_async(storage.write)
        self.delete = _as_async(storage.delete)
        self.lease: Callable[..., Awaitable[SessionLease]] | None = (
            storage.acquire if locking and isinstance(storage, LockingStorage) else None
        )
        read_blob = _private(storage, "_read_blob")
        write_blob = _private(storage, "_write_blob")
        blobs = self.lease is None and read_blob is not None and write_blob is not None
        self.read_blob: Callable[[str], Any] | None = read_blob if blobs else None
        self.write_blob: Callable[[str, bytes], None] | None = write_blob if blobs else None


def _private(storage: Any, name: str) -> Callable[..., Any] | None:
    """``storage.<name>``, a shortcut of the class that defines it, unless a subclass
    overrides ``read``/``write``/``delete`` (the shortcut would bypass the override)."""
    cls = type(storage)
    owner = next((c for c in cls.__mro__ if name in c.__dict__), None)
    if owner is None:
        return None
    for method in ("read", "write", "delete"):
        if getattr(cls, method, None) is not getattr(owner, method, None):
            return None
    found: Callable[..., Any] = getattr(storage, name)
    return found


def _sync_or_none(method: Callable[..., Any]) -> Callable[..., Any] | None:
    return None if inspect.iscoroutinefunction(method) else method


def _as_async(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if inspect.iscoroutinefunction(method):
        return method

    async def call(*args: Any) -> Any:
        result = method(*args)
        if _is_pending(result):
            result = await result
        return result

    return call


async def iterate(items: Iterable[T] | AsyncIterable[T]) -> list[T]:
    """Collect a sync or async iterable (the two shapes ``read_all_*`` may return)."""
    if isinstance(items, AsyncIterable):
        return [item async for item in items]
    return list(items)


is_pending = _is_pending
