"""The expiry protocol: reading and writing sessions together with their expiry time.

A storage with a TTL knows when each session expires, but ``read`` and ``write`` do not
say: ``write`` always starts a fresh TTL. Tools that copy sessions from one storage to
another (``botsessions sessions export`` / ``import``) need the remaining lifetime of each
session, and need to write it back unchanged. ``ExpiringStorage`` is that capability.
``SQLiteStorage``, ``FileStorage``, ``RedisStorage`` and ``PostgresStorage`` implement it;
the session engine never uses it.

Expiry times are absolute, in seconds since the epoch (``time.time()``), or ``None`` for a
session that never expires. Values are what ``read`` returns, so a value kept in grammY's
``enhance_storage`` format (``{"__d": ..., "e": ...}``) is read and written as it is,
with its own expiry field untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["ExpiringEntry", "ExpiringStorage"]

ExpiringEntry = tuple[str, Any, float | None]
"""``(key, value, expires_at)``: ``expires_at`` in epoch seconds, ``None`` for never."""


@runtime_checkable
class ExpiringStorage(Protocol):
    """A storage that can read and write sessions with their absolute expiry time.

    Rules for implementers:

    * ``read_with_expiry(key)`` returns ``(value, expires_at)``, or ``None`` when there is
      no (unexpired) session; it raises like ``read`` on a backend failure or a corrupt
      value.
    * ``read_all_entries_with_expiry()`` lists every unexpired session like
      ``read_all_entries``, in batches (never one round trip per key).
    * ``write_entries_with_expiry(entries)`` stores every ``(key, value, expires_at)``,
      replacing what was there; ``expires_at`` overrides the storage's own ``ttl`` for
      these writes (``None``: the session never expires). It batches where the backend
      allows, and checks every value (``TypeError`` naming the key) before writing any.
      An entry whose ``expires_at`` already passed is not written.
    """

    async def read_with_expiry(self, key: str) -> tuple[Any, float | None] | None:
        """The session under ``key`` and its expiry time, or ``None`` when there is none."""
        ...

    def read_all_entries_with_expiry(self) -> AsyncIterator[ExpiringEntry]:
        """Every unexpired ``(key, value, expires_at)``, fetched in batches."""
        ...

    async def write_entries_with_expiry(self, entries: Sequence[ExpiringEntry]) -> None:
        """Store each ``(key, value, expires_at)`` with exactly that expiry time."""
        ...
