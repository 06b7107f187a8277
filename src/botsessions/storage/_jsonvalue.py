"""JSON text <-> session value for the server-backed storages (Redis, PostgreSQL).

Values are written as compact JSON, byte-for-byte what ``JSON.stringify`` produces for
the same data, so grammY adapters pointed at the same backend read them. Only plain JSON
types are accepted: orjson would otherwise turn datetimes and dataclasses into strings or
objects silently, and the stored data would no longer read back as what was written.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, NoReturn

import orjson

from botsessions._errors import CorruptDataError

__all__ = ["dumps", "dumps_for_numeric", "loads", "loads_exact"]

# An exponent float in orjson's output, and a digit run orjson might not parse exactly.
_EXPONENT = re.compile(rb"[0-9][eE][-+]?[0-9]")
_LONG_NUMBER = re.compile(r"[0-9]{17}")
# A digit run long enough to be an integer beyond 64 bits, which orjson reads as a float.
_BIG_INT = re.compile(rb"[0-9]{19}")
_BIG_INT_TEXT = re.compile(r"[0-9]{19}")

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _reject(value: object) -> NoReturn:
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(key: str, value: Any) -> bytes:
    """Encode ``value`` as compact JSON; ``TypeError`` naming the key when it is not JSON.

    Integers beyond 64 bits, which orjson refuses, are written exactly by the stdlib encoder.
    """
    try:
        return orjson.dumps(value, default=_reject, option=_OPTIONS)
    except TypeError as exc:
        if str(exc) == "Integer exceeds 64-bit range":
            # Reached only for big ints: the exact encoder applies the same rules as orjson.
            return _dumps_exact(key, value).encode()
        raise _not_json(key, exc) from exc


def loads(key: str, data: bytes | str) -> Any:
    """Decode stored JSON; ``CorruptDataError`` naming the key when it is not JSON.

    Integers beyond 64 bits (a run of 19+ digits) are decoded exactly by the stdlib parser.
    """
    exact = (
        _BIG_INT_TEXT.search(data) is not None
        if isinstance(data, str)
        else _BIG_INT.search(data) is not None
    )
    try:
        return json.loads(data) if exact else orjson.loads(data)
    except ValueError as exc:
        raise _not_valid_json(key, exc) from exc


def dumps_for_numeric(key: str, value: Any) -> str:
    """JSON text that survives a store that keeps numbers as decimals (PostgreSQL jsonb).

    jsonb prints ``1e20`` back as ``100000000000000000000``, which would read back as an
    int; floats are therefore written positionally with a fraction (``...000.0``), and
    integers of any size are kept. The fast path is orjson's output when it has neither.
    """
    try:
        data = orjson.dumps(value, default=_reject, option=_OPTIONS)
    except TypeError:
        pass  # maybe an int beyond 64 bits: the slow path below decides
    else:
        if not _EXPONENT.search(data):
            return data.decode()
    return _dumps_exact(key, value)


def _dumps_exact(key: str, value: Any) -> str:
    parts: list[str] = []
    try:
        _encode(value, parts)
    except (TypeError, ValueError) as exc:
        raise _not_json(key, exc) from exc
    return "".join(parts)


def _encode(value: Any, out: list[str]) -> None:
    if value is None or value is True or value is False or type(value) is str:
        out.append(orjson.dumps(value).decode())
    elif type(value) is int:
        out.append(str(value))
    elif type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            out.append("null")  # what JSON.stringify and orjson write
        else:
            text = format(Decimal(repr(value)), "f")
            out.append(text if "." in text else text + ".0")
    elif type(value) is dict:
        out.append("{")
        for index, (name, item) in enumerate(value.items()):
            if type(name) is not str:
                raise TypeError(f"dict key {name!r} is not a str")
            out.append(("," if index else "") + orjson.dumps(name).decode() + ":")
            _encode(item, out)
        out.append("}")
    elif type(value) is list or type(value) is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        _reject(value)


def loads_exact(key: str, data: str) -> Any:
    """Like ``loads``, but exact for very long numbers (big ints, positional floats)."""
    if _LONG_NUMBER.search(data) is None:
        return loads(key, data)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise _not_valid_json(key, exc) from exc


def _not_json(key: str, exc: Exception) -> TypeError:
    return TypeError(
        f"session {key!r}: value is not JSON-compatible ({exc}); "
        "store dict/list/str/int/float/bool/None or declare a typed session"
    )


def _not_valid_json(key: str, exc: ValueError) -> CorruptDataError:
    return CorruptDataError(
        f"stored session {key!r} is not valid JSON ({exc}); "
        "the data was left in place: fix or delete it",
        key=key,
    )
