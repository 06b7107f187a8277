"""Session value <-> JSON text, the one set of rules every built-in storage applies.

What is stored is compact JSON, byte for byte what ``JSON.stringify`` produces for the same
data, so grammY's adapters pointed at the same backend read it. The rules, checked before
anything is written (``TypeError`` naming the key and the place in the value):

* only plain JSON types: ``dict`` with ``str`` keys, ``list`` (and ``tuple``, written as a
  list), ``str``, ``int``, ``float``, ``bool``, ``None``. Datetimes, dataclasses, sets and
  subclasses of builtins are refused: they would read back as something else;
* no NaN or infinity (JSON has no such numbers; orjson would silently write ``null``);
* at most ``MAX_DEPTH`` nested containers (orjson's own limit, so the answer is the same
  whichever encoder runs; a cyclic value is refused the same way);
* integers of any size, written exactly (orjson refuses those beyond 64 bits).

Reading raises ``CorruptDataError`` naming the key for anything that is not JSON text,
including the ``NaN``/``Infinity`` tokens some encoders emit; long digit runs are parsed
exactly (big integers, floats printed positionally).

orjson is the fast path. When it refuses a value, or when its output may hide a NaN, the
exact walk below decides: it accepts what orjson should have written and names what is
wrong otherwise, so no rule depends on the text of orjson's error messages.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, NoReturn

import orjson

from botsessions._errors import CorruptDataError

__all__ = [
    "MAX_DEPTH",
    "ORJSON_OPTIONS",
    "dumps",
    "dumps_positional",
    "is_flat_scalar_dict",
    "loads",
    "refuse",
]

# The exact types whose values orjson writes as they read back (a float may be NaN, which
# orjson writes as null; str and int subclasses such as enums read back as plain values).
_EXACT_SCALARS = frozenset({str, int, bool, type(None)})


def is_flat_scalar_dict(value: Any) -> bool:
    """Whether ``value`` is a ``dict`` whose values are all exact ``str``/``int``/``bool``/None.

    orjson's output for such a dict reads back equal to it, so a caller that proves its
    bytes by reading them back can skip that (the usual session: bench W1 and W4).
    """
    if value.__class__ is not dict:
        return False
    for item in value.values():  # noqa: SIM110  # a loop: all() with a generator costs more
        if item.__class__ not in _EXACT_SCALARS:
            return False
    return True


ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson flags that hand every type JSON cannot read back unchanged to ``refuse``."""

MAX_DEPTH = 254
"""Most containers a stored value may nest (orjson refuses a 255th level)."""

# A run of digits long enough that orjson may not read it back exactly: an integer beyond
# 64 bits (read as a float) or a float printed positionally (PostgreSQL jsonb does that).
_LONG_NUMBER = re.compile(r"[0-9]{17}")
_LONG_NUMBER_BYTES = re.compile(rb"[0-9]{17}")
_EXPONENT = re.compile(rb"[0-9][eE][-+]?[0-9]")


def refuse(value: object) -> NoReturn:
    """orjson's ``default=``: every type orjson does not write natively is refused."""
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(key: str, value: Any) -> bytes:
    """``value`` as compact JSON; ``TypeError`` naming ``key`` when it breaks a rule."""
    try:
        data = orjson.dumps(value, default=refuse, option=ORJSON_OPTIONS)
    except TypeError:
        return _exact(key, value, positional=False).encode()
    # orjson writes NaN and infinity as null: only a round trip tells them from None.
    if b"null" in data and orjson.loads(data) != value:
        return _exact(key, value, positional=False).encode()
    return data


def dumps_positional(key: str, value: Any) -> str:
    """Like ``dumps``, for a store that keeps numbers as decimals (PostgreSQL ``jsonb``).

    jsonb prints ``1e20`` back as ``100000000000000000000``, which would read back as an
    int; floats are therefore written positionally with a fraction (``...000.0``).
    """
    try:
        data = orjson.dumps(value, default=refuse, option=ORJSON_OPTIONS)
    except TypeError:
        return _exact(key, value, positional=True)
    if _EXPONENT.search(data) or (b"null" in data and orjson.loads(data) != value):
        return _exact(key, value, positional=True)
    return data.decode()


def loads(key: str, data: str | bytes) -> Any:
    """The value stored as ``data`` for ``key``; ``CorruptDataError`` unless it is JSON."""
    if isinstance(data, str):
        exact = _LONG_NUMBER.search(data) is not None
    elif isinstance(data, bytes):
        exact = _LONG_NUMBER_BYTES.search(data) is not None
    else:
        raise CorruptDataError(
            f"stored session {key!r} is a {type(data).__name__}, not JSON text; the data "
            "was left in place: fix or delete it",
            key=key,
        )
    try:
        if exact:
            return json.loads(data, parse_constant=_refuse_constant)
        return orjson.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        raise CorruptDataError(
            f"stored session {key!r} is not valid JSON ({exc}); the data was left in "
            "place: fix or delete it",
            key=key,
        ) from exc


def _refuse_constant(token: str) -> NoReturn:
    raise ValueError(f"{token} is not a JSON number")


class _Refused(Exception):
    """A value breaks a rule; ``path`` is filled in while the walk unwinds (if ``locate``)."""

    def __init__(self, reason: str, *, locate: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locate = locate
        self.path: list[str] = []


def _exact(key: str, value: Any, *, positional: bool) -> str:
    parts: list[str] = []
    try:
        _encode(value, parts, MAX_DEPTH, positional)
    except _Refused as exc:
        where = "value" + "".join(reversed(exc.path))
        raise TypeError(
            f"Cannot store session {key!r}: {where} {exc.reason}; storages take JSON data "
            "(dict, list, str, int, float, bool, None)"
        ) from None
    return "".join(parts)


def _encode(value: Any, out: list[str], depth: int, positional: bool) -> None:
    kind = type(value)
    if value is None or kind is bool:
        out.append("null" if value is None else "true" if value else "false")
    elif kind is int:
        out.append(str(value))
    elif kind is str:
        out.append(_string(value))
    elif kind is float:
        if not math.isfinite(value):
            raise _Refused(f"is {value!r}, which JSON cannot hold (NaN and infinity)")
        if positional:
            text = format(Decimal(repr(value)), "f")
            out.append(text if "." in text else text + ".0")
        else:
            out.append(orjson.dumps(value).decode())
    elif kind is dict or kind is list or kind is tuple:
        if depth == 0:
            # No path: it would be MAX_DEPTH steps long.
            raise _Refused(f"nests more than {MAX_DEPTH} containers (or is cyclic)", locate=False)
        if kind is dict:
            _encode_dict(value, out, depth - 1, positional)
        else:
            _encode_list(value, out, depth - 1, positional)
    else:
        raise _Refused(f"is a {kind.__name__}, which is not JSON")


def _encode_dict(value: dict[Any, Any], out: list[str], depth: int, positional: bool) -> None:
    out.append("{")
    for index, (name, item) in enumerate(value.items()):
        if type(name) is not str:
            raise _Refused(f"has the key {name!r} ({type(name).__name__}); keys must be str")
        out.append(("," if index else "") + _string(name) + ":")
        _encode_inside(item, out, depth, positional, name)
    out.append("}")


def _encode_list(
    value: list[Any] | tuple[Any, ...], out: list[str], depth: int, positional: bool
) -> None:
    out.append("[")
    for index, item in enumerate(value):
        if index:
            out.append(",")
        _encode_inside(item, out, depth, positional, index)
    out.append("]")


def _encode_inside(
    item: Any, out: list[str], depth: int, positional: bool, step: str | int
) -> None:
    """Encode the member ``step`` of a container; a refusal learns where it happened."""
    try:
        _encode(item, out, depth, positional)
    except _Refused as exc:
        if exc.locate:
            exc.path.append(f"[{json.dumps(step, ensure_ascii=False)}]")
        raise


def _string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except TypeError:  # a lone surrogate
        raise _Refused(f"holds the string {text[:40]!r}, which is not valid Unicode") from None
