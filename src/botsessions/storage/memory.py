"""MemorySessionStorage: sessions in a dict of this process, with an optional TTL."""

from __future__ import annotations

import copy
import json
import math
import time
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Generic, TypeAlias, TypeVar

import orjson

from botsessions._options import duration
from botsessions.storage._errors_map import unencodable_key
from botsessions.storage._jsontext import MAX_DEPTH, ORJSON_OPTIONS, is_flat_scalar_dict
from botsessions.storage._protocol import NOT_JSON_BYTES

T = TypeVar("T")

__all__ = ["MemorySessionStorage"]

_dumps = orjson.dumps
_loads = orjson.loads
_join = b"".join
_SWEEP = 4  # expired entries reclaimed per operation: more than one keeps up with writes
_COMPACT_ABOVE = 4096  # keys a dict must have held before it is copied to shrink it


class _Copied:
    """A value kept as a deep copy: it is not JSON that reads back as the same value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


# What is kept per session: the JSON bytes, or a deep copy. With a TTL the entry is
# ``(expires_at, payload)``; without, the payload itself (no tuple per write).
_Payload: TypeAlias = bytes | _Copied


def _own_bytes(data: bytes) -> bytes:
    """A copy of ``data`` of its exact size.

    orjson hands over the buffer it wrote into, about 4 KiB even for a small session: kept
    as it is, every stored session pins that much process memory and touches a fresh
    page. The copy (about 0.1 µs) lands in Python's small-object allocator and the buffer
    is freed at once (``python -m bench.memory``: bytes and RSS per live session).
    """
    return _join((data, b""))


def _checked_key(key: str) -> str:
    """``key``, or ``ValueError`` naming it when no other storage could store it either."""
    if not key.isascii():  # the usual key is ASCII: one cheap test, no encoding
        try:
            key.encode()
        except UnicodeEncodeError as exc:
            raise unencodable_key(key, exc) from exc
    return key


def _frozen(key: str, value: Any) -> _Payload:
    """An isolated copy of ``value``: JSON bytes when they round-trip exactly, else a deep copy.

    ``ORJSON_OPTIONS`` hands datetimes, dataclasses and subclasses of builtins to the deep
    copy instead of letting orjson turn them into something else.
    """
    try:
        data = _dumps(value, option=ORJSON_OPTIONS)
    except TypeError:
        pass  # not JSON, a big integer, too deep or cyclic: the walk decides
    else:
        # orjson also accepts tuples, UUIDs, enums and NaN, which come back different. A
        # flat dict of exact scalars holds none of them (checking that costs half of
        # reading the bytes back to compare, which everything else takes).
        if is_flat_scalar_dict(value) or _loads(data) == value:
            return _own_bytes(data)
    _refuse_unstorable(key, value)
    return _Copied(copy.deepcopy(value))


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


def _thaw(payload: _Payload) -> Any:
    return _loads(payload) if isinstance(payload, bytes) else copy.deepcopy(payload.value)


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

    __slots__ = (
        "__weakref__",
        "_data",
        "_due_keys",
        "_due_times",
        "_largest",
        "_lifetime",
        "_ttl",
    )

    def __init__(self, ttl: float | timedelta | None = None) -> None:
        self._ttl = duration(ttl, what="ttl")
        # None: sessions never expire (no TTL, or an infinite one), so none needs a place
        # in the queue below.
        self._lifetime = None if self._ttl is None or math.isinf(self._ttl) else self._ttl
        # Without a TTL an entry is the payload (JSON bytes or a _Copied); with one it is
        # (expires_at, payload), or _DELETED.
        self._data: dict[str, Any] = {}
        # With a TTL, every key in _data has one place in this queue, in the order of the
        # writes that added the keys, with the time it is due to be looked at: then the
        # sweep forgets the key if its session expired, or queues it again for its last
        # write. So a write costs two appends and no reordering, and the queue holds
        # floats and strings only, which the cyclic GC never visits (python -m
        # bench.memory: one million sessions).
        self._due_keys: deque[str] = deque()
        self._due_times: deque[float] = deque()
        self._largest = 0  # the most keys _data held since it was last rebuilt

    def __repr__(self) -> str:
        return f"MemorySessionStorage(ttl={self._ttl!r})"

    def read(self, key: str) -> T | None:
        """The stored value (a fresh copy), or ``None`` when missing or expired."""
        payload = self._payload(key)
        return None if payload is None else _thaw(payload)

    def read_json_bytes(self, key: str) -> bytes | object | None:
        """The stored session as JSON bytes (``JSONBytesStorage``): the stored bytes
        themselves, which are immutable, so nothing is copied or decoded. ``None`` when
        missing or expired; ``NOT_JSON_BYTES`` for a value kept as a deep copy (``read``
        gives it)."""
        # Without a TTL, _payload() inlined: the session engine reads through here.
        fast = self._lifetime is None and key.isascii()
        payload = self._data.get(key) if fast else self._payload(key)
        if payload is None or payload.__class__ is bytes:
            return payload
        return NOT_JSON_BYTES

    def _payload(self, key: str) -> _Payload | None:
        if not key.isascii():
            _checked_key(key)
        entry = self._data.get(key)
        if entry is None or self._lifetime is None:
            return entry
        now = time.time()
        if self._due_times[0] <= now:  # a key is stored, so the queue is not empty
            self._sweep(now)
        return None if entry[0] <= now else entry[1]

    def write(self, key: str, value: T) -> None:
        """Store a copy of ``value``; with a TTL, the session expires ``ttl`` seconds from now.

        Raises:
            TypeError: ``value`` holds NaN or infinity, or nests more than 254 containers
                (or is cyclic), naming the key and the place; nothing is stored.
            ValueError: ``key`` is not valid Unicode text (a lone surrogate).
        """
        if not key.isascii():
            _checked_key(key)
        if self._lifetime is None:
            self._data[key] = _frozen(key, value)
        else:
            self._put_expiring(key, _frozen(key, value))

    def write_json_bytes(self, key: str, data: bytes) -> None:
        """Store ``data``, JSON bytes the caller produced and checked (``JSONBytesStorage``),
        as they are; the TTL applies as for ``write``."""
        if not key.isascii():
            _checked_key(key)
        if self._lifetime is None:  # the session engine writes through here
            self._data[key] = _join((data, b""))  # _own_bytes(), inlined
        else:
            self._put_expiring(key, _own_bytes(data))

    def _put_expiring(self, key: str, payload: _Payload) -> None:
        now = time.time()
        expires = now + self._lifetime  # type: ignore[operator]  # with a TTL
        data = self._data
        size = len(data)
        data[key] = (expires, payload)
        if len(data) != size:  # a new key: due when this write expires
            self._due_keys.append(key)
            self._due_times.append(expires)
        if self._due_times[0] <= now:
            self._sweep(now)

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when it is missing)."""
        data = self._data
        if self._lifetime is None:
            data.pop(_checked_key(key), None)
        elif _checked_key(key) in data:
            # Kept as expired until the key is due: it keeps its one place in the queue.
            data[key] = _DELETED

    def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        return self._payload(key) is not None

    def read_all_keys(self) -> list[str]:
        """Every key with an unexpired session, oldest write first when a finite TTL is set."""
        return [key for key, _ in self._live()]

    def read_all_values(self) -> list[T]:
        """A copy of every unexpired session."""
        return [_thaw(payload) for _, payload in self._live()]

    def read_all_entries(self) -> list[tuple[str, T]]:
        """``(key, copy of value)`` for every unexpired session."""
        return [(key, _thaw(payload)) for key, payload in self._live()]

    def _live(self) -> list[tuple[str, _Payload]]:
        if self._lifetime is None:
            return list(self._data.items())
        now = time.time()
        self._sweep(now, limit=len(self._due_times))
        entries = self._data.items()
        live = sorted(((key, entry) for key, entry in entries if entry[0] > now), key=_written)
        return [(key, entry[1]) for key, entry in live]

    def _sweep(self, now: float, limit: int = _SWEEP) -> None:
        """Look at up to ``limit`` keys that are due: forget the expired ones."""
        keys = self._due_keys
        times = self._due_times
        data = self._data
        size = len(data)
        if size > self._largest:
            self._largest = size
        while limit and times and times[0] <= now:
            limit -= 1
            times.popleft()
            key = keys.popleft()
            entry = data.get(key)
            if entry is None:
                continue
            if entry[0] <= now:
                del data[key]
            else:  # written again since it was queued: due when that write expires
                keys.append(key)
                times.append(entry[0])
        if len(data) < self._largest >> 2 and self._largest > _COMPACT_ABOVE:
            # A dict keeps its table when keys are deleted: once most sessions expired,
            # a copy sized for those left gives the memory back (O(1) per deletion).
            self._data = dict(data)
            self._largest = len(data)


# A deleted key's entry while a TTL is set: expired for every method.
_DELETED = (-math.inf, None)


def _written(item: tuple[str, tuple[float, Any]]) -> float:
    return item[1][0]  # the expiry time: the same order as the last writes
