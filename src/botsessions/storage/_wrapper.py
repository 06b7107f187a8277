"""StorageWrapper: the base class of storages that wrap another storage.

A wrapper changes what is stored (encryption, compression, a schema version) or watches
the calls (metrics, logging), and forwards everything else. Built on this class it also
keeps what a hand-written wrapper silently loses: the wrapped storage's lock
(``LockingStorage``) and lease handoff (``keep=True``), so sessions stay safe across
processes. ``enhance_storage()`` and ``botsessions.testing.RecordingStorage`` are built on
it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Self, TypeVar, cast

from botsessions.storage._lifecycle import AsyncClosing
from botsessions.storage._locking import LockingStorage, SessionLease

__all__ = [
    "StorageWrapper",
    "WrappedLease",
    "collect",
    "iterate",
    "maybe_await",
    "require_storage",
]

T = TypeVar("T")


async def maybe_await(result: Any) -> Any:
    """``result``, awaited when it is awaitable (what a sync-or-async method returned)."""
    return await result if inspect.isawaitable(result) else result


async def collect(items: Iterable[T] | AsyncIterable[T]) -> list[T]:
    """Collect a sync or async iterable (the two shapes ``read_all_*`` may return)."""
    if isinstance(items, AsyncIterable):
        return [item async for item in items]
    return list(items)


async def iterate(result: Any) -> AsyncIterator[Any]:
    """The items of a sync or async iterable, or of an awaitable that gives one."""
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, AsyncIterable):
        async for item in result:
            yield item
    else:
        for item in result:
            yield item


def require_storage(storage: Any) -> None:
    """Raise ``TypeError`` unless ``storage`` has ``read``, ``write`` and ``delete``."""
    for name in ("read", "write", "delete"):
        if not callable(getattr(storage, name, None)):
            raise TypeError(
                f"storage {storage!r} has no {name}() method; a storage needs "
                "read(key), write(key, value) and delete(key)"
            )


def _as_async(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if inspect.iscoroutinefunction(method):
        return cast(Callable[..., Awaitable[Any]], method)

    async def call(*args: Any) -> Any:
        return await maybe_await(method(*args))

    return call


class StorageWrapper(AsyncClosing):
    """Wrap any storage, override only what you change; the lock and its handoff stay.

    ``StorageWrapper(storage)`` forwards ``read``, ``write``, ``delete``, ``has`` and
    ``read_all_keys`` / ``read_all_values`` / ``read_all_entries`` to ``storage`` (sync or
    async: which it is, is decided once, here), and ``close()`` / ``async with`` too. Its
    own methods are coroutines. Subclass it and override:

    * ``transform_in(key, value)`` / ``transform_out(key, stored)``: the stored form of a
      value and back. Every path uses them: ``read``, ``write``, ``read_all_*`` and the
      leases of a locking storage. ``transform_out`` is never called for a missing
      session (``None``).
    * any of the methods above, calling ``super()`` to reach the wrapped storage, when a
      hook is not enough (async work, counting calls, side effects).
    * ``wrap_lease(key, lease)`` / ``open_lease(key, read=...)``: what the lease of a
      locking storage looks like through the wrapper (rarely needed; the default applies
      the two transform hooks).

    Example: a wrapper that keeps the lock of the storage it wraps::

        class Compressed(StorageWrapper):
            def transform_in(self, key, value):
                return {"z": base64_of(zlib.compress(json_bytes(value)))}

            def transform_out(self, key, stored):
                return json_value(zlib.decompress(from_base64(stored["z"])))

        storage = Compressed(RedisStorage("redis://localhost:6379/0"))
        bot.use(session(initial=dict, storage=storage))   # still locked across processes

    The lock: when ``storage`` implements ``LockingStorage`` (Redis, PostgreSQL, or another
    wrapper of one), the wrapper does too. Its ``acquire(key, read=...)`` takes the wrapped
    storage's lease and returns a ``WrappedLease`` whose ``value`` is the transformed value
    and whose ``write(value, keep=)``, ``delete(keep=)`` and ``release()`` forward to the
    wrapped lease (``keep=True`` included, so the session engine can hand the lease to the
    next update of the key). Over a storage without a lock the wrapper has no ``acquire``
    at all: ``isinstance(wrapper, LockingStorage)`` is ``False`` and the engine does not try
    to lock. ``isinstance(wrapper, YourWrapper)`` holds in both cases.

    Args:
        storage: the storage to wrap: any ``StorageAdapter``, sync or async.

    Raises:
        TypeError: ``storage`` lacks ``read``, ``write`` or ``delete``.
    """

    __slots__ = ("_delete", "_read", "_write", "storage")

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # LockingStorage is a runtime-checkable protocol: the engine decides whether to lock
        # by ``isinstance(storage, LockingStorage)``, which only asks whether ``acquire``
        # exists. A wrapper of a plain storage must therefore not have ``acquire`` at all,
        # and one of a locking storage must. So the class is chosen here: the locking twin
        # of ``cls`` (built once per class) adds ``acquire`` and nothing else, and keeps
        # every override of ``cls`` because ``cls`` comes first in its bases.
        storage = args[0] if args else kwargs.get("storage")
        if isinstance(storage, LockingStorage) and not issubclass(cls, _LockingWrapper):
            twin = _locking_twin(cls)
            return cast(Self, super().__new__(twin))  # the twin is a subclass of cls
        return super().__new__(cls)

    def __init__(self, storage: Any) -> None:
        require_storage(storage)
        self.storage = storage
        self._read = _as_async(storage.read)
        self._write = _as_async(storage.write)
        self._delete = _as_async(storage.delete)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.storage!r})"

    # -- hooks -------------------------------------------------------------------------------

    def transform_in(self, key: str, value: Any) -> Any:
        """The form of ``value`` to store under ``key``. Default: ``value`` unchanged."""
        return value

    def transform_out(self, key: str, stored: Any) -> Any:
        """The value to hand out for ``stored`` (never ``None``). Default: unchanged."""
        return stored

    # -- the storage interface ---------------------------------------------------------------

    async def read(self, key: str) -> Any:
        """The stored value of ``key`` through ``transform_out``; ``None`` when missing."""
        stored = await self._read(key)
        return None if stored is None else self.transform_out(key, stored)

    async def write(self, key: str, value: Any) -> None:
        """Store ``transform_in(key, value)`` in the wrapped storage."""
        await self._write(key, self.transform_in(key, value))

    async def delete(self, key: str) -> None:
        """Delete ``key`` from the wrapped storage."""
        await self._delete(key)

    async def has(self, key: str) -> bool:
        """Whether ``key`` is stored (the wrapped ``has``, or a ``read`` when it has none)."""
        has = getattr(self.storage, "has", None)
        if callable(has):
            return bool(await maybe_await(has(key)))
        return await self._read(key) is not None

    async def read_all_keys(self) -> AsyncIterator[str]:
        """Every stored key (needs ``read_all_keys`` or ``read_all_entries`` of the storage)."""
        keys = getattr(self.storage, "read_all_keys", None)
        if callable(keys):
            for key in await collect(await maybe_await(keys())):
                yield key
            return
        async for key, _ in self.read_all_entries():
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        """Every stored value, through ``transform_out``."""
        async for _, value in self.read_all_entries():
            yield value

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        """Every ``(key, value)``, through ``transform_out``.

        Raises:
            TypeError: the wrapped storage can enumerate neither entries nor keys.
        """
        for key, stored in await self._stored_entries():
            if stored is not None:
                yield key, self.transform_out(key, stored)

    async def _stored_entries(self) -> list[tuple[str, Any]]:
        """The wrapped storage's ``(key, stored value)`` pairs, as it stores them."""
        storage = self.storage
        entries = getattr(storage, "read_all_entries", None)
        if callable(entries):
            return await collect(await maybe_await(entries()))
        keys = getattr(storage, "read_all_keys", None)
        if callable(keys):
            return [
                (key, await self._read(key)) for key in await collect(await maybe_await(keys()))
            ]
        raise TypeError(
            f"{storage!r} cannot list its sessions: it has neither read_all_entries() "
            "nor read_all_keys()"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the wrapped storage, if it can be closed."""
        close = getattr(self.storage, "close", None)
        if callable(close):
            await maybe_await(close())

    # -- the lock (used only when the wrapped storage has one) -------------------------------

    async def open_lease(self, key: str, *, read: bool) -> SessionLease:
        """What ``acquire`` does: take the wrapped storage's lease, then ``wrap_lease`` it.

        The wrapped lease is released if wrapping fails, so an error here never leaves the
        key locked.
        """
        lease: SessionLease = await self.storage.acquire(key, read=read)
        try:
            return await self.wrap_lease(key, lease)
        except BaseException:
            await lease.release()
            raise

    async def wrap_lease(self, key: str, lease: SessionLease) -> SessionLease:
        """The lease handed to the engine for ``lease``. Default: a ``WrappedLease``."""
        value = None if lease.value is None else self.transform_out(key, lease.value)
        return WrappedLease(self, key, lease, value)


class _LockingWrapper(StorageWrapper):
    """Adds the lock capability to a wrapper whose wrapped storage has it."""

    __slots__ = ()

    async def acquire(self, key: str, *, read: bool) -> SessionLease:
        """Lock ``key`` in the wrapped storage (see ``LockingStorage``)."""
        return await self.open_lease(key, read=read)


_twins: dict[type[StorageWrapper], type[StorageWrapper]] = {}


def _locking_twin(cls: type[StorageWrapper]) -> type[StorageWrapper]:
    twin = _twins.get(cls)
    if twin is None:
        namespace = {
            "__slots__": (),
            "__doc__": cls.__doc__,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
        }
        bases = (_LockingWrapper,) if cls is StorageWrapper else (cls, _LockingWrapper)
        twin = _twins[cls] = type(cls.__name__, bases, namespace)
    return twin


class WrappedLease:
    """The lease of a wrapped storage, seen through its wrapper's transform hooks.

    ``value`` is the transformed value read under the lock; ``write`` stores
    ``transform_in(value)`` through the wrapped lease. ``keep`` is forwarded as given, so
    handoff works exactly as with the wrapped storage. Subclass it (and return it from
    ``StorageWrapper.wrap_lease``) to watch or change how leases end.
    """

    __slots__ = ("inner", "key", "owner", "value")

    def __init__(self, owner: StorageWrapper, key: str, inner: SessionLease, value: Any) -> None:
        self.owner, self.key, self.inner, self.value = owner, key, inner, value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key!r} of {self.inner!r}>"

    async def write(self, value: Any, *, keep: bool = False) -> None:
        """Write ``value`` under the lease; release it unless ``keep`` (see ``SessionLease``)."""
        await self._write_inner(self.owner.transform_in(self.key, value), keep=keep)
        self.value = value

    async def _write_inner(self, stored: Any, *, keep: bool) -> None:
        # ``keep`` is passed only when set, so a lease written before the protocol had it
        # still ends normally.
        if keep:
            await self.inner.write(stored, keep=True)
        else:
            await self.inner.write(stored)

    async def delete(self, *, keep: bool = False) -> None:
        """Delete the session under the lease; release it unless ``keep``."""
        if keep:
            await self.inner.delete(keep=True)
        else:
            await self.inner.delete()
        self.value = None

    async def release(self) -> None:
        """Release without writing; idempotent and silent, as the wrapped lease is."""
        await self.inner.release()
