"""Reading sessions out of any storage, and the JSON Lines format of ``export``/``import``.

One line per session: ``{"key": KEY, "value": VALUE, "ttl": SECONDS_OR_NULL}``. The key is
the storage key as stored; ``ttl`` is the remaining lifetime in seconds when the export
ran (``null``: never expires). The value is written with the storages' own exact JSON
rules, so big integers and any Unicode text come back unchanged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from botsessions._errors import CorruptDataError
from botsessions.storage import ExpiringStorage
from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._wrapper import iterate
from botsessions.storage._wrapper import maybe_await as call

__all__ = [
    "FormatError",
    "call",
    "decode_line",
    "encode_line",
    "entries_with_expiry",
    "keys",
    "remaining",
]


class FormatError(ValueError):
    """A line of an export file is not a session record; names the line."""


def _need(storage: Any, method: str) -> Any:
    found = getattr(storage, method, None)
    if not callable(found):
        raise TypeError(f"{type(storage).__name__} cannot list its sessions (no {method}())")
    return found


async def keys(storage: Any, prefix: str) -> AsyncIterator[str]:
    """Every stored key starting with ``prefix`` (keys only: no value is fetched)."""
    async for key in iterate(_need(storage, "read_all_keys")()):
        if key.startswith(prefix):
            yield key


async def entries_with_expiry(storage: Any, prefix: str) -> AsyncIterator[ExpiringEntry]:
    """Every ``(key, value, expires_at)`` whose key starts with ``prefix``.

    Storages without ``ExpiringStorage`` report ``expires_at`` as ``None``.
    """
    if isinstance(storage, ExpiringStorage):
        source: Any = storage.read_all_entries_with_expiry()
        async for key, value, expires_at in source:
            if key.startswith(prefix):
                yield key, value, expires_at
        return
    async for key, value in iterate(_need(storage, "read_all_entries")()):
        if key.startswith(prefix):
            yield key, value, None


async def read_with_expiry(storage: Any, key: str) -> tuple[Any, float | None] | None:
    """``(value, expires_at)`` of one session, or ``None`` when there is none."""
    if isinstance(storage, ExpiringStorage):
        return await storage.read_with_expiry(key)
    value = await call(storage.read(key))
    return None if value is None else (value, None)


def remaining(expires_at: float | None, now: float) -> float | None:
    """Seconds left until ``expires_at`` (millisecond precision), ``None`` for never."""
    if expires_at is None:
        return None
    return max(0.001, round(expires_at - now, 3))


def encode_line(key: str, value: Any, ttl: float | None) -> bytes:
    """One export line (with its newline)."""
    return b"".join(
        (
            b'{"key":',
            orjson.dumps(key),
            b',"value":',
            dumps(key, value),
            b',"ttl":',
            orjson.dumps(ttl),
            b"}\n",
        )
    )


def decode_line(line: bytes, number: int, now: float | None = None) -> ExpiringEntry:
    """``(key, value, expires_at)`` of export line ``number`` (1-based).

    Raises:
        FormatError: the line is not JSON or not a ``{"key", "value", "ttl"}`` record.
    """
    try:
        record = loads(f"line {number}", line)
    except CorruptDataError as exc:
        raise FormatError(f"line {number} is not JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        raise FormatError(f'line {number} is not a {{"key": ..., "value": ..., "ttl": ...}} record')
    extra = sorted(set(record) - {"key", "value", "ttl"})
    if extra:
        raise FormatError(f"line {number} has the unknown field {extra[0]!r}")
    if record.get("value") is None:
        raise FormatError(f"line {number} ({record['key']!r}) has no value")
    ttl = record.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0):
        raise FormatError(f"line {number} ({record['key']!r}) has ttl={ttl!r}, not seconds")
    expires_at = None if ttl is None else (time.time() if now is None else now) + ttl
    return record["key"], record["value"], expires_at
