"""PropertySpec: everything one session property needs per update, computed once.

``make_spec`` turns validated ``SessionOptions`` into a spec when a session is built: the
storage's view (which methods are coroutines, whether it has a lease or keeps JSON
bytes), the codec's functions, the lock family, the key function and the error messages.
The per-update path (``_engine``, ``_single``, ``_multi``) only reads these slots.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from botsessions._codec import codec_for
from botsessions._locks import KeyedLock
from botsessions._options import SessionOptions
from botsessions.storage._protocol import SessionLease, StorageView
from botsessions.storage.memory import MemorySessionStorage

__all__ = [
    "ACCESSED",
    "ASSIGNED",
    "FAILED",
    "LOADED",
    "LOADING",
    "NO_KEY",
    "PLAIN",
    "UNLOADED",
    "PropertySpec",
    "coerce_key",
    "make_spec",
]

NO_KEY, UNLOADED, LOADING, LOADED, ACCESSED, ASSIGNED, FAILED = range(7)
"""The states of a session property in one update (see ``_engine``)."""

PLAIN = frozenset({dict, list, str, int, float, bool})
"""Types of values that are never awaitables (checked before the slower ``isawaitable``)."""

_registries: weakref.WeakKeyDictionary[Any, KeyedLock] = weakref.WeakKeyDictionary()


class PropertySpec:
    """Build-time settings of one property: everything the per-update path needs, precomputed.

    Built by ``make_spec`` from validated options.
    """

    __slots__ = (
        "access_error",
        "assign_error",
        "decode",
        "decode_blob",
        "encode",
        "encode_blob",
        "get_key",
        "initial",
        "key_is_async",
        "key_name",
        "lazy",
        "lease",
        "lock_timeout",
        "locks",
        "name",
        "plain",
        "prefix",
        "read",
        "read_blob",
        "storage",
        "sync_delete",
        "sync_read",
        "sync_write",
        "view",
        "write_blob",
    )

    name: str | None  # the fragment name in multi mode
    lazy: bool
    plain: bool  # synchronous read/write/delete and no lease: the inline fast path applies
    storage: Any
    view: StorageView
    read: Callable[[str], Awaitable[Any]]
    sync_read: Callable[[str], Any] | None
    sync_write: Callable[[str, Any], Any] | None
    sync_delete: Callable[[str], Any] | None
    lease: Callable[..., Awaitable[SessionLease]] | None
    read_blob: Callable[[str], Any] | None  # stored JSON bytes, None, or NOT_JSON
    write_blob: Callable[[str, bytes], None] | None  # both set, or both None
    locks: KeyedLock | None
    lock_timeout: float | None
    encode: Callable[[Any], Any]
    decode: Callable[[Any, str | None], Any]
    encode_blob: Callable[[Any], bytes | None]
    decode_blob: Callable[[bytes, str | None], Any]
    initial: Callable[[], Any] | None
    prefix: str
    get_key: Callable[[Any], Any]
    key_is_async: bool
    key_name: str
    access_error: str
    assign_error: str


def _locks_for(storage: Any) -> KeyedLock:
    """One lock family per storage object, shared by every session built on it."""
    try:
        locks = _registries.get(storage)
        if locks is None:
            locks = _registries[storage] = KeyedLock()
        return locks
    except TypeError:  # not weak-referenceable or not hashable: locks for this session only
        return KeyedLock()


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


def make_spec(options: SessionOptions, *, lazy: bool, fragment: str | None = None) -> PropertySpec:
    """Precompute everything one property needs per update."""
    storage = options.storage if options.storage is not None else MemorySessionStorage()
    view = StorageView(storage, locking=options.locking)
    codec = codec_for(options.initial, schema=options.schema)
    spec = PropertySpec()
    spec.name = fragment
    spec.lazy = lazy
    spec.storage = storage
    spec.view = view
    spec.read = view.read
    spec.sync_read = view.sync_read
    spec.sync_write = view.sync_write
    spec.sync_delete = view.sync_delete
    spec.lease = view.lease
    spec.read_blob = view.read_blob
    spec.write_blob = view.write_blob
    spec.plain = (
        view.lease is None
        and view.sync_read is not None
        and view.sync_write is not None
        and view.sync_delete is not None
    )
    spec.locks = _locks_for(storage) if options.locking else None
    spec.lock_timeout = options.lock_timeout
    spec.encode = codec.encode
    spec.decode = codec.decode
    spec.encode_blob = codec.encode_blob
    spec.decode_blob = codec.decode_blob
    spec.initial = options.initial
    spec.prefix = options.prefix
    fn = options.get_session_key
    spec.get_key = key_function(fn)
    spec.key_is_async = fn is not None and inspect.iscoroutinefunction(fn)
    spec.key_name = _name(fn) if fn is not None else "default"
    spec.access_error = _key_error("access", options, lazy=lazy, fragment=fragment)
    spec.assign_error = _key_error("assign", options, lazy=lazy, fragment=fragment)
    return spec


async def coerce_key(key: Any, spec: PropertySpec) -> str | None:
    if inspect.isawaitable(key):
        key = await key
    if key is None:
        return None
    if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
        return str(key)
    raise TypeError(
        f"get_session_key {spec.key_name} returned {key!r}; it must return a str "
        "(or None when the update has no session)"
    )


def key_function(fn: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """The key function to call per update: ``fn``, or the chat-id default."""
    return _default_key if fn is None else fn


def _default_key(ctx: Any) -> str | None:
    chat_id = ctx.chat_id
    return None if chat_id is None else str(chat_id)
