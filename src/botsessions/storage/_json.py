"""Strict JSON text for storages that keep sessions as text (SQLite, files).

``dumps`` refuses what JSON cannot read back (datetimes, dataclasses, subclasses of builtins,
non-string keys) with ``TypeError``; ``loads`` raises ``CorruptDataError`` naming the key.
Integers beyond 64 bits are kept exact (orjson would refuse them or read them as floats).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from botsessions._errors import CorruptDataError

_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_STRICT |= orjson.OPT_PASSTHROUGH_SUBCLASS
# A run of 19+ digits may be an integer orjson would read back as a float.
_LONG_NUMBER = re.compile(r"\d{19}")


def _refuse(obj: Any) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON")


def dumps(value: Any, key: str) -> str:
    """JSON text for ``value``; ``TypeError`` naming ``key`` if it is not JSON data."""
    try:
        return orjson.dumps(value, option=_STRICT, default=_refuse).decode()
    except TypeError as exc:
        if "64-bit" in str(exc):
            return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        raise TypeError(
            f"Cannot store session {key!r}: {exc}; storages take JSON data "
            "(dict, list, str, int, float, bool, None)"
        ) from exc


def loads(text: str | bytes, key: str) -> Any:
    """The value stored as ``text`` for ``key``; ``CorruptDataError`` if it is not JSON."""
    try:
        if isinstance(text, bytes):
            text = text.decode()
        if _LONG_NUMBER.search(text):
            return json.loads(text)
        return orjson.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptDataError(
            f"Stored session {key!r} is not valid JSON; it was left in place: {exc}", key=key
        ) from exc
