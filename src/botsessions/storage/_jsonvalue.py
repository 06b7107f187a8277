"""JSON text <-> session value for the server-backed storages (Redis, PostgreSQL).

Values are written as compact JSON, byte-for-byte what ``JSON.stringify`` produces for
the same data, so grammY adapters pointed at the same backend read them. Only plain JSON
types are accepted: orjson would otherwise turn datetimes and dataclasses into strings or
objects silently, and the stored data would no longer read back as what was written.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson

from botsessions._errors import CorruptDataError

__all__ = ["dumps", "loads"]

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _reject(value: object) -> NoReturn:
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(key: str, value: Any) -> bytes:
    """Encode ``value`` as compact JSON; ``TypeError`` naming the key when it is not JSON."""
    try:
        return orjson.dumps(value, default=_reject, option=_OPTIONS)
    except TypeError as exc:
        raise TypeError(
            f"session {key!r}: value is not JSON-compatible ({exc}); "
            "store dict/list/str/int/float/bool/None or declare a typed session"
        ) from exc


def loads(key: str, data: bytes | str) -> Any:
    """Decode stored JSON; ``CorruptDataError`` naming the key when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptDataError(
            f"stored session {key!r} is not valid JSON ({exc}); "
            "the data was left in place: fix or delete it",
            key=key,
        ) from exc
