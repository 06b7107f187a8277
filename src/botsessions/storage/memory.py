"""MemorySessionStorage: sessions in a dict of this process, with an optional TTL."""

from __future__ import annotations

import copy
import json
import math
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Generic, TypeVar

import orjson

from botsessions._options import duration
from botsessions.storage._errors_map import unencodable_key
from botsessions.storage._jsontext import MAX_DEPTH, ORJSON_OPTIONS
from botsessions.storage._protocol import NOT_JSON_BYTES

T = TypeVar("T")

__all__ = ["MemorySessionStorage"]

_dumps = orjson.dumps
_loads = orjson.loads
_SWEEP = 2  # expired entries reclaimed per operation: more than one keeps up with writes


def _checked_key(key: str) -> str:
    """``key``, or ``ValueError`` naming it when no other storage could store it either."""
    if not key.isascii():  # the usual key is ASCII: one cheap test, no encoding
        try:
            key.encode()
        except UnicodeEncodeError as exc:
            raise unencodable_key(key, exc) from exc
    return key


def _freeze(key: str, value: Any) -> tuple[bool, Any]:
    """An isolated copy of ``value``: JSON bytes when they round-trip exactly, else a deep copy.

    ``ORJSON_OPTIONS`` hands datetimes, dataclasses and subclasses of builtins to the deep
    copy instead of letting orjson turn them into something else.
    """
    try:
        data = _dumps(value, option=ORJSON_OPTIONS)
    except TypeError:
        pass  # not JSON, a big integer, too deep or cyclic: the walk decides
    else:
        # orjson also accepts tuples, UUIDs, enums and NaN, which come back different.
        if _loads(data) == value:
            return True, data
    _refuse_unstorable(key, value)
    return False, copy.deepcopy(value)


def _refuse_unstorable(key: str, value: Any) -> None:
    """``TypeError``, as every other storage raises it, for what no storage can keep.

    Other types are kept as deep copies here, but NaN and infinity (anywhere a dict, list
    or tuple holds them) and more than ``MAX_DEPTH`` nested containers (a cyclic value
    among them) are refused. The walk is iterative: a deep value cannot exhaust the stack.
    """
    labels: list[object] = []  # the dict key or index of each open container but the root
    stack: list[Iterator[tuple[object, Any]]] = [iter(((None, value),))]
    while stack:
        for label, item in stack[-1]:
            if isinstance(item, float) and not math.isfinite(item):
                where = _where([*labels, label][1:])
                raise _refused(
                    key, where, f"is {item!r}, which JSON cannot hold (NaN and infinity)"
                )
            if isinstance(item, dict | list | tuple):
                if len(stack) > MAX_DEPTH:
                    # No path: it would be MAX_DEPTH steps long.
                    raise _refused(
                        key, "value", f"nests more than {MAX_DEPTH} containers (or is cyclic)"
                    )
                stack.append(iter(item.items()) if isinstance(item, dict) else enumerate(item))
                labels.append(label)
                break
        else:
            stack.pop()
            if labels:
                labels.pop()


def _where(labels: list[object]) -> str:
    parts = (
        f"[{json.dumps(n, ensure_ascii=False) if type(n) is str else repr(n)}]" for n in labels
    )
    return "value" + "".join(parts)


def _refused(key: str, where: str, reason: str) -> TypeError:
    return TypeError(
        f"Cannot store session {key!r}: {where} {reason}; storages take JSON data "
        "(dict, list, str, int, float, bool, None)"
    )


def _thaw(is_json: bool, payload: Any) -> Any:
    return _loads(payload) if is_json else copy.deepcopy(payload)


class MemorySessionStorage(Generic[T]):
    """Sessions kept in this process's memory: the default storage of ``session()``.

    Use it for development, tests, and bots whose sessions may be lost on restart (all
    data is gone when the process exits, and it is not shared between processes).

    Values are isolated copies: mutating an object after ``write`` or after ``read`` never
    changes what is stored. JSON-compatible values are stored as JSON bytes; other values
    are deep-copied. What no other storage can keep is refused as they refuse it: NaN and
    infinity, more than 254 nested containers or a cyclic value (``TypeError``), and keys
    that are not valid Unicode (``ValueError``). It implements ``JSONBytesStorage``, so the
    session engine hands it the bytes it encoded and compares bytes, with no JSON
    conversion of its own per update.

    Args:
        ttl: seconds (int, float or ``timedelta``) a session lives after its last write;
            ``None`` keeps sessions forever. Expired sessions are invisible to every method
            and are reclaimed in the background of later operations, a bounded number per
            call, without having to be read again.

    Raises:
        TypeError, ValueError: ``ttl`` is not a positive number of seconds.
    """

    __slots__ = ("__weakref__", "_data", "_ttl")

    def __init__(self, ttl: float | timedelta | None = None) -> None:
        self._ttl = duration(ttl, what="ttl")
        # Entries are (expires_at or None, is_json, payload). With a TTL the dict is kept in
        # expiry order (every write moves its key to the end), so the oldest entry is first.
        self._data: dict[str, tuple[float | None, bool, Any]] = (
            {} if self._ttl is None else OrderedDict()
        )

    def __repr__(self) -> str:
        return f"MemorySessionStorage(ttl={self._ttl!r})"

    def read(self, key: str) -> T | None:
        """The stored value (a fresh copy), or ``None`` when missing or expired."""
        if not key.isascii():
            _checked_key(key)
        entry = self._data.get(key)
        if entry is None or (self._ttl is not None and self._gone(key, entry)):
            return None
        return _thaw(entry[1], entry[2])  # type: ignore[no-any-return]

    def read_json_bytes(self, key: str) -> bytes | object | None:
        """The stored session as JSON bytes (``JSONBytesStorage``): the stored bytes
        themselves, which are immutable, so nothing is copied or decoded. ``None`` when
        missing or expired; ``NOT_JSON_BYTES`` for a value kept as a deep copy (``read``
        gives it)."""
        if not key.isascii():
            _checked_key(key)
        entry = self._data.get(key)
        if entry is None or (self._ttl is not None and self._gone(key, entry)):
            return None
        return entry[2] if entry[1] else NOT_JSON_BYTES

    def _gone(self, key: str, entry: tuple[float | None, bool, Any]) -> bool:
        now = time.time()
        self._sweep(now)
        if entry[0] is not None and entry[0] <= now:
            self._data.pop(key, None)
            return True
        return False

    def write(self, key: str, value: T) -> None:
        """Store a copy of ``value``; with a TTL, the session expires ``ttl`` seconds from now.

        Raises:
            TypeError: ``value`` holds NaN or infinity, or nests more than 254 containers
                (or is cyclic), naming the key and the place; nothing is stored.
            ValueError: ``key`` is not valid Unicode text (a lone surrogate).
        """
        self._put(_checked_key(key), *_freeze(key, value))

    def write_json_bytes(self, key: str, data: bytes) -> None:
        """Store ``data``, JSON bytes the caller produced and checked (``JSONBytesStorage``),
        as they are; the TTL applies as for ``write``."""
        if not key.isascii():
            _checked_key(key)
        if self._ttl is None:  # _put, inlined: the session engine writes through here
            self._data[key] = (None, True, data)
        else:
            self._put(key, True, data)

    def _put(self, key: str, is_json: bool, payload: Any) -> None:
        data = self._data
        if self._ttl is None:
            data[key] = (None, is_json, payload)
            return
        now = time.time()
        data.pop(key, None)
        data[key] = (now + self._ttl, is_json, payload)
        self._sweep(now)

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when it is missing)."""
        self._data.pop(_checked_key(key), None)

    def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        entry = self._data.get(_checked_key(key))
        return entry is not None and not self._expired(entry)

    def read_all_keys(self) -> list[str]:
        """Every key with an unexpired session, oldest write first when a TTL is set."""
        return [key for key, _ in self._live()]

    def read_all_values(self) -> list[T]:
        """A copy of every unexpired session."""
        return [_thaw(e[1], e[2]) for _, e in self._live()]

    def read_all_entries(self) -> list[tuple[str, T]]:
        """``(key, copy of value)`` for every unexpired session."""
        return [(key, _thaw(e[1], e[2])) for key, e in self._live()]

    def _expired(self, entry: tuple[float | None, bool, Any]) -> bool:
        return entry[0] is not None and entry[0] <= time.time()

    def _live(self) -> Iterator[tuple[str, tuple[float | None, bool, Any]]]:
        if self._ttl is not None:
            self._sweep(time.time(), limit=len(self._data))
        return iter(list(self._data.items()))

    def _sweep(self, now: float, limit: int = _SWEEP) -> None:
        data = self._data
        for _ in range(limit):
            if not data:
                return
            key = next(iter(data))
            expires = data[key][0]
            if expires is None or expires > now:
                return
            del data[key]
