"""A session built once: per property, everything the per-update path needs.

``make_plan`` turns validated ``SessionOptions`` into a ``PropertyPlan`` when
``session()`` is called. The storage's *shape* is decided there, once, and kept as one
access object, so no update asks again which methods are coroutines or whether the
storage locks:

``Shape.MEMORY_BYTES``
    A ``JSONBytesStorage`` (``MemorySessionStorage``): plain methods that hand over and
    take JSON bytes. The stored form the engine keeps is those bytes; the end of an
    update compares bytes. The only shape with a synchronous path (``Access.sync``).
``Shape.SYNC``
    ``read``/``write``/``delete`` are plain methods. One that still returns an awaitable
    (a wrapper around an async client) is awaited.
``Shape.ASYNC``
    Some of them are coroutines: all three are awaited.
``Shape.LEASED``
    A ``LockingStorage`` with ``locking=True``: every update takes a lease (lock and read
    in one call) and ends it with a write, a delete or a release (``engine.handoff``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import weakref
from collections.abc import Callable
from typing import Any, TypeAlias

from botsessions._options import SessionOptions
from botsessions.engine.codec import Codec, codec_for
from botsessions.engine.locks import KeyedLock
from botsessions.storage._locking import LockingStorage, SessionLease
from botsessions.storage._protocol import NOT_JSON_BYTES, JSONBytesStorage
from botsessions.storage.memory import MemorySessionStorage

__all__ = [
    "Access",
    "KeyFunction",
    "PropertyPlan",
    "Shape",
    "coerce_key",
    "completed",
    "make_plan",
]

KeyFunction: TypeAlias = Callable[[Any], Any]
"""A ``get_session_key``: ``(ctx) -> str | None``, or a coroutine function giving that."""

# Types a storage method's result can have that are never awaitables (checked before the
# slower ``inspect.isawaitable``).
_NEVER_PENDING = frozenset({dict, list, str, int, float, bool, bytes})


class Shape(enum.Enum):
    """How a property's storage is driven (see the module docstring)."""

    MEMORY_BYTES = "memory-bytes"
    SYNC = "sync"
    ASYNC = "async"
    LEASED = "leased"


def _pending(result: Any) -> bool:
    return (
        result is not None
        and result.__class__ not in _NEVER_PENDING
        and (inspect.isawaitable(result))
    )


async def _settled(result: Any) -> Any:
    return await result if _pending(result) else result


async def completed(result: Any) -> Any:
    """``await result`` (what a storage's write, delete or lease call returned), to its
    end even when the awaiting task is cancelled meanwhile; then the cancellation is
    raised.

    A write that was cancelled half-way may go on regardless (a worker thread cannot be
    stopped), so the update that holds the key's lock must not let go of the key before
    its write is over: else a later update's write could land first and be overwritten.
    """
    if not _pending(result):
        return result
    inner = asyncio.ensure_future(result)
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        while not inner.done():  # cancelled again meanwhile: still wait, cancel once
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait((inner,))
        if not inner.cancelled():
            inner.exception()  # retrieved: the cancellation is what this update reports
        raise


class Access:
    """The engine's access to one property's storage, in the form its shape needs.

    ``read``/``write``/``delete`` always work with ``await``; for ``MEMORY_BYTES`` the
    ``*_now`` twins work without. ``write`` and ``delete`` run to their end even when the
    update is cancelled meanwhile (``completed``). The *stored form* is what ``read``
    returns and what ``write`` takes: JSON bytes or a JSON value for ``MEMORY_BYTES``, a
    JSON value otherwise. ``encode``/``decode`` (the codec's functions for that form,
    bound once) turn session values into it and back: a copy each way, so the stored form
    read at the start stays exact for the comparison at the end.
    """

    __slots__ = ("codec", "decode", "encode", "storage")

    shape: Shape
    sync = False
    leased = False

    def __init__(self, storage: Any, codec: Codec) -> None:
        self.storage = storage
        self.codec = codec
        # encode(value) raises TypeError naming the offending path when it is not JSON.
        self.encode: Callable[[Any], Any] = codec.encode
        self.decode: Callable[[Any, str], Any] = codec.decode

    def __repr__(self) -> str:
        return f"<{self.shape.value} access to {self.storage!r}>"

    async def read(self, key: str) -> Any:
        return await _settled(self.storage.read(key))

    async def write(self, key: str, stored: Any) -> None:
        await completed(self.storage.write(key, stored))

    async def delete(self, key: str) -> None:
        await completed(self.storage.delete(key))

    async def acquire(self, key: str, *, read: bool) -> SessionLease:
        raise TypeError(f"{self!r} has no leases")  # pragma: no cover - only LEASED is asked


class _SyncAccess(Access):
    __slots__ = ()
    shape = Shape.SYNC


class _AsyncAccess(Access):
    __slots__ = ()
    shape = Shape.ASYNC


class _LeasedAccess(Access):
    __slots__ = ()
    shape = Shape.LEASED
    leased = True

    async def acquire(self, key: str, *, read: bool) -> SessionLease:
        lease: SessionLease = await self.storage.acquire(key, read=read)
        return lease


class _MemoryBytesAccess(Access):
    """``JSONBytesStorage``: the stored form is the JSON bytes themselves, read and written
    without an ``await``.

    ``read_now`` is the storage's ``read_json_bytes``: it may give ``NOT_JSON_BYTES`` for a
    session kept in another form, which ``read_other`` (the storage's ``read``) then reads.
    """

    __slots__ = ("read_now", "read_other", "write_bytes")
    shape = Shape.MEMORY_BYTES
    sync = True

    def __init__(self, storage: Any, codec: Codec) -> None:
        super().__init__(storage, codec)
        self.encode = codec.encode_bytes
        self.decode = codec.decode_bytes
        self.read_now: Callable[[str], Any] = storage.read_json_bytes
        self.read_other: Callable[[str], Any] = storage.read
        self.write_bytes: Callable[[str, bytes], None] = storage.write_json_bytes

    def write_now(self, key: str, stored: Any) -> None:
        if stored.__class__ is bytes:
            self.write_bytes(key, stored)
        else:  # what orjson could not give as exact bytes (an int beyond 64 bits)
            self.storage.write(key, stored)

    def delete_now(self, key: str) -> None:
        self.storage.delete(key)

    async def read(self, key: str) -> Any:
        stored = self.read_now(key)
        return self.read_other(key) if stored is NOT_JSON_BYTES else stored

    async def write(self, key: str, stored: Any) -> None:
        self.write_now(key, stored)

    async def delete(self, key: str) -> None:
        self.delete_now(key)


def _bytes_fast_path(storage: Any) -> bool:
    """Whether ``storage``'s JSON-bytes methods may stand in for its ``read``/``write``:
    only when both come from the class that also defines ``read``, ``write`` and
    ``delete`` as the storage has them (a subclass's overrides are never bypassed)."""
    if not isinstance(storage, JSONBytesStorage):
        return False
    cls = type(storage)
    owner = next(c for c in cls.__mro__ if "read_json_bytes" in c.__dict__)
    names = ("read", "write", "delete", "write_json_bytes")
    return all(getattr(cls, name) is getattr(owner, name, None) for name in names)


def access_for(storage: Any, codec: Codec, *, locking: bool) -> Access:
    """The access object for ``storage`` (its shape decided here, once).

    Raises:
        TypeError: ``storage`` lacks ``read``, ``write`` or ``delete``.
    """
    for name in ("read", "write", "delete"):
        if not callable(getattr(storage, name, None)):
            raise TypeError(
                f"storage {storage!r} has no {name}() method; a storage needs "
                "read(key), write(key, value) and delete(key)"
            )
    if locking and isinstance(storage, LockingStorage):
        return _LeasedAccess(storage, codec)
    if _bytes_fast_path(storage):
        return _MemoryBytesAccess(storage, codec)
    methods = (storage.read, storage.write, storage.delete)
    if any(inspect.iscoroutinefunction(method) for method in methods):
        return _AsyncAccess(storage, codec)
    return _SyncAccess(storage, codec)


class PropertyPlan:
    """One session property as built: storage access, locks, key, codec, error messages."""

    __slots__ = (
        "access",
        "access_error",
        "assign_error",
        "get_key",
        "initial",
        "key_name",
        "lazy",
        "lock_timeout",
        "locks",
        "name",
        "observer",
        "prefix",
        "storage",
    )

    def __init__(
        self,
        options: SessionOptions,
        *,
        lazy: bool,
        fragment: str | None,
        default_key: KeyFunction,
    ) -> None:
        storage = options.storage if options.storage is not None else MemorySessionStorage()
        codec = codec_for(options.initial, schema=options.schema)
        self.name = fragment
        self.lazy = lazy
        self.storage: Any = storage
        # The storage's ``session_observer`` (botsessions.telemetry's InstrumentedStorage,
        # async), told of updates that read and did not write; None: no call at all.
        self.observer: Any = getattr(storage, "session_observer", None)
        self.access = access_for(storage, codec, locking=options.locking)
        self.locks: KeyedLock | None = _locks_for(storage) if options.locking else None
        self.lock_timeout = options.lock_timeout
        self.initial: Callable[[], Any] | None = options.initial
        self.prefix = options.prefix
        fn = options.get_session_key
        self.get_key: KeyFunction = default_key if fn is None else fn
        self.key_name = "default" if fn is None else _name(fn)
        self.access_error = _key_error("access", options, lazy=lazy, fragment=fragment)
        self.assign_error = _key_error("assign", options, lazy=lazy, fragment=fragment)

    def __repr__(self) -> str:
        return f"<PropertyPlan {self.name or 'session'}: {self.access!r}>"


def make_plan(
    options: SessionOptions,
    *,
    lazy: bool,
    default_key: KeyFunction,
    fragment: str | None = None,
) -> PropertyPlan:
    """Build one property (a single session, or one fragment of a multi session).

    ``default_key`` is the key function used when the options give none; the layer that
    offers ``session()`` passes ``botsessions.keys.per_chat``.
    """
    return PropertyPlan(options, lazy=lazy, fragment=fragment, default_key=default_key)


_registries: weakref.WeakKeyDictionary[Any, KeyedLock] = weakref.WeakKeyDictionary()


def _locks_for(storage: Any) -> KeyedLock:
    """One lock family per storage object, shared by every session built on it."""
    try:
        locks = _registries.get(storage)
        if locks is None:
            locks = _registries[storage] = KeyedLock()
        return locks
    except TypeError:  # not weak-referenceable or not hashable: locks for this session only
        return KeyedLock()


async def coerce_key(key: Any, plan: PropertyPlan) -> str | None:
    """A key function's result other than a ``str`` or ``None``: awaited, then checked.

    Raises:
        TypeError: the result is neither a str, an int, nor ``None``.
    """
    if inspect.isawaitable(key):
        key = await key
    if key is None:
        return None
    if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
        return str(key)
    raise TypeError(
        f"get_session_key {plan.key_name} returned {key!r}; it must return a str "
        "(or None when the update has no session)"
    )


def _key_error(op: str, options: SessionOptions, *, lazy: bool, fragment: str | None) -> str:
    what = (
        f"session fragment {fragment!r}" if fragment else f"{'lazy ' if lazy else ''}session data"
    )
    fn = options.get_session_key
    if fn is None:
        reason = (
            "it does not belong to a chat (the default get_session_key uses ctx.chat_id); "
            "pass get_session_key=... to key such updates differently"
        )
    else:
        reason = f"the custom get_session_key function {_name(fn)} returned None"
    return f"Cannot {op} {what}: the session key is undefined for this update, because {reason}"


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
