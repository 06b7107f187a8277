"""The storage interface and its optional capabilities.

* ``StorageAdapter``: what users implement. ``read``/``write``/``delete`` may be plain
  methods or coroutines; ``has`` and ``read_all_*`` are optional.
* ``LockingStorage`` / ``SessionLease`` (``storage._locking``): the optional capability of
  storages that can lock one key across processes (Redis, PostgreSQL). The engine uses it
  automatically.
* ``JSONBytesStorage``: the optional fast path of storages that keep sessions as JSON
  bytes in this process (``MemorySessionStorage``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final, Protocol, TypeVar, runtime_checkable

from botsessions.storage._locking import LockingStorage, SessionLease

T = TypeVar("T")

__all__ = [
    "NOT_JSON_BYTES",
    "JSONBytesStorage",
    "LockingStorage",
    "SessionLease",
    "StorageAdapter",
]


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


class _NotJSONBytes:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_JSON_BYTES"


NOT_JSON_BYTES: Final = _NotJSONBytes()
"""What ``JSONBytesStorage.read_json_bytes`` returns for a session kept in another form."""


@runtime_checkable
class JSONBytesStorage(Protocol):
    """A storage that keeps each session as JSON bytes in this process: a fast path.

    Implement it next to ``StorageAdapter`` when your storage holds sessions as encoded
    JSON in memory (an in-process cache, a memory-mapped table). The session engine
    checks for it once, with ``isinstance``, when a session is built, and then per update:

    * reads with ``read_json_bytes(key)`` and keeps the bytes as they are: a handler that
      never touches its session costs no JSON decoding, and one that does decodes once;
    * at the end of the update encodes the value once and compares *bytes* with what it
      read (no decode-and-compare of nested objects), writing with
      ``write_json_bytes(key, data)`` only when they differ.

    So an update costs one JSON encode and at most one decode, and the storage does no
    JSON work of its own. ``MemorySessionStorage`` implements it.

    Rules for implementers:

    * Both methods are plain (not ``async``) and must not block on I/O.
    * ``read_json_bytes`` returns the exact bytes last stored, ``None`` when there is no
      session, or ``NOT_JSON_BYTES`` when the session is kept in another form (a value
      written through ``write`` that is not JSON); the engine then calls ``read(key)``.
      A storage that only ever holds JSON bytes never returns it.
    * ``write_json_bytes`` receives valid JSON (UTF-8, produced by the session codec) and
      stores it so that ``read`` returns the decoded value; TTLs apply as for ``write``.
      Deleting uses ``delete``.
    * The fast path applies only when ``read``, ``write`` and ``delete`` come from the
      same class as these two methods: a subclass that overrides ``write`` (say, to log
      or to replicate) without overriding the JSON-bytes methods is driven through its
      ``read``/``write``/``delete`` like any other storage, so its overrides are never
      bypassed.
    * A storage that also implements ``LockingStorage`` is driven through its leases.
    """

    def read_json_bytes(self, key: str) -> bytes | object | None:
        """The session stored under ``key`` as JSON bytes, ``None``, or
        ``NOT_JSON_BYTES`` (see above)."""
        ...

    def write_json_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` (valid JSON bytes) under ``key``."""
        ...
