"""Session value <-> stored JSON form, for plain and typed sessions.

The engine encodes a session value before every write and decodes what storage returns:

* ``codec_for(initial, schema=...)`` picks the codec once, when ``session()`` is built.
  A dataclass, pydantic model or TypedDict passed as ``initial`` (or any type passed as
  ``schema``) gives a typed codec; anything else gives the plain JSON codec.
* ``Codec.encode(value)`` returns a JSON-compatible value (dict, list, str, int, float,
  bool, None) or raises ``TypeError`` naming the offending path, before anything is written.
* ``Codec.decode(data, key)`` turns the stored form back into the session value, raising
  ``CorruptDataError`` naming ``key`` when a typed session does not validate.
* ``encode_bytes`` / ``decode_bytes`` do the same with the stored form as JSON bytes, for
  storages that keep those bytes (``JSONBytesStorage``): one conversion each way and a
  snapshot that cannot change. When orjson cannot produce the exact bytes (an integer
  beyond 64 bits, or a value that is not JSON) ``encode_bytes`` gives what ``encode``
  gives (or raises what it raises), and ``decode_bytes`` accepts that form too.

pydantic is imported only when a typed codec is built: untyped sessions never load it.

Neither direction shares a mutable object with its input: the engine may keep the stored
form it read as the snapshot to compare against at the end of the update, and a handler
mutating the session can never change that snapshot.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import TYPE_CHECKING, Any, Protocol, is_typeddict

import orjson

from botsessions._errors import CorruptDataError
from botsessions.storage._jsontext import MAX_DEPTH, ORJSON_OPTIONS, is_flat_scalar_dict, refuse

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = ["Codec", "codec_for"]


class Codec(Protocol):
    """Converts one session property's values to and from their stored JSON form."""

    def encode(self, value: Any) -> Any: ...

    def decode(self, data: Any, key: str | None = None) -> Any: ...

    def encode_bytes(self, value: Any) -> Any: ...

    def decode_bytes(self, stored: Any, key: str | None = None) -> Any: ...


def _json_copy(value: Any) -> Any:
    """A fresh copy of JSON data (also for integers beyond 64 bits, which orjson refuses)."""
    try:
        return orjson.loads(orjson.dumps(value, option=ORJSON_OPTIONS, default=refuse))
    except TypeError:
        return _checked_copy(value)


def _checked_copy(value: Any) -> Any:
    """Copy ``value`` if it survives a JSON round trip unchanged, else name where it fails.

    The walk goes at most ``MAX_DEPTH`` containers deep, the limit every storage applies,
    and names the place where a cyclic value refers back to a container it is inside of.
    """
    return _copy(value, "session", MAX_DEPTH, set())


def _copy(value: Any, path: str, depth: int, inside: set[int]) -> Any:
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise TypeError(f"{path}: {value!r} is not JSON (NaN and infinity are not allowed)")
    if kind is not dict and kind is not list:
        hint = (
            "use a list or declare a typed session" if kind is tuple else "declare a typed session"
        )
        raise TypeError(f"{path}: {kind.__name__} is not JSON; {hint}")
    if id(value) in inside:
        raise TypeError(f"{path}: the value contains itself (it is cyclic); JSON cannot hold it")
    if depth == 0:
        where = path if len(path) <= 80 else path[:70] + "…"  # a path MAX_DEPTH steps long
        raise TypeError(
            f"{where}: nests more than {MAX_DEPTH} containers; storages refuse deeper values"
        )
    inside.add(id(value))
    copied: Any
    if kind is dict:
        copied = {}
        for k, item in value.items():
            if type(k) is not str:
                raise TypeError(
                    f"{path}: key {k!r} ({type(k).__name__}) is not JSON; keys must be str"
                )
            where = f"{path}[{json.dumps(k, ensure_ascii=False)}]"
            copied[k] = _copy(item, where, depth - 1, inside)
    else:
        copied = []
        for i, item in enumerate(value):  # a loop, not a comprehension: one frame per level
            copied.append(_copy(item, f"{path}[{i}]", depth - 1, inside))
    inside.discard(id(value))
    return copied


class _JSONCodec:
    """Untyped sessions: the value must already be JSON and is stored as it is.

    Members of int and str enums compare equal to their value, so they pass the check and
    read back as plain ``int`` / ``str``; declare a typed session to keep them members.
    """

    __slots__ = ()

    def encode(self, value: Any) -> Any:
        try:
            copied = orjson.loads(orjson.dumps(value, option=ORJSON_OPTIONS, default=refuse))
        except TypeError:
            copied = None  # an unsupported type or a big int: the walk below decides
        else:
            # orjson writes NaN as null and tuples/enums/UUIDs as plain JSON, so equality
            # with the original is what proves the value reads back unchanged.
            if copied == value:
                return copied
        return _checked_copy(value)

    def decode(self, data: Any, key: str | None = None) -> Any:
        return _json_copy(data)

    def encode_bytes(self, value: Any) -> Any:
        try:
            data = orjson.dumps(value, option=ORJSON_OPTIONS, default=refuse)
        except TypeError:
            return self.encode(value)
        # Same proof as in ``encode``: NaN, tuples, UUIDs... read back as something else.
        # A flat dict of exact scalars holds none of them, and checking that costs a
        # fraction of reading the bytes back (bench W1, where the session is such a dict).
        if is_flat_scalar_dict(value) or orjson.loads(data) == value:
            return data
        return self.encode(value)

    def decode_bytes(self, stored: Any, key: str | None = None) -> Any:
        return orjson.loads(stored) if stored.__class__ is bytes else _json_copy(stored)

    def __repr__(self) -> str:
        return "JSONCodec()"


class _TypedCodec:
    """Typed sessions: pydantic validates on read and serializes to JSON on write."""

    __slots__ = ("_adapter", "_invalid", "_name", "_unserializable", "schema")

    def __init__(self, schema: Any) -> None:
        from pydantic import (
            ConfigDict,
            PydanticSchemaGenerationError,
            PydanticUserError,
            ValidationError,
        )
        from pydantic import TypeAdapter as Adapter
        from pydantic_core import PydanticSerializationError

        self._invalid = ValidationError
        self._unserializable = PydanticSerializationError
        self.schema = schema
        self._name = getattr(schema, "__name__", repr(schema))
        # A 1-tuple wrapper lets the bytes-as-base64 config reach dataclasses and TypedDicts,
        # which refuse a config of their own through TypeAdapter.
        try:
            # The config applies to dataclasses and TypedDicts; pydantic models keep their own.
            config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
            self._adapter: TypeAdapter[tuple[Any]] = Adapter(tuple[schema], config=config)
        except (PydanticSchemaGenerationError, PydanticUserError) as exc:
            raise TypeError(f"Cannot use {self._name} as a session schema: {exc}") from exc

    def encode(self, value: Any) -> Any:
        try:
            return self._adapter.dump_python((value,), mode="json", warnings="error")[0]
        except self._unserializable as exc:
            raise TypeError(
                f"session: cannot store {type(value).__name__} as {self._name}: {exc}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise TypeError(
                f"session: bytes of a {self._name} are not UTF-8; store bytes as base64 with "
                "model_config = ConfigDict(ser_json_bytes='base64', val_json_bytes='base64')"
            ) from exc

    def decode(self, data: Any, key: str | None = None) -> Any:
        try:
            text = orjson.dumps((data,))
        except TypeError:
            text = json.dumps((data,), allow_nan=False).encode()
        # From JSON text, so the result shares no object with ``data``.
        return self._validate(text, key)

    def encode_bytes(self, value: Any) -> Any:
        encoded = self.encode(value)
        try:
            return orjson.dumps(encoded)
        except TypeError:  # an int beyond 64 bits
            return encoded

    def decode_bytes(self, stored: Any, key: str | None = None) -> Any:
        if stored.__class__ is bytes:
            return self._validate(b"[" + stored + b"]", key)
        return self.decode(stored, key)

    def _validate(self, text: bytes, key: str | None) -> Any:
        try:
            return self._adapter.validate_json(text)[0]
        except self._invalid as exc:
            raise CorruptDataError(
                f"Stored session {key!r} does not match {self._name}; it was left in "
                f"storage unchanged (fix it or add a migration): {exc}",
                key=key,
            ) from exc

    def __repr__(self) -> str:
        return f"TypedCodec({self._name})"


_JSON_CODEC = _JSONCodec()


def _is_schema_class(initial: Any) -> bool:
    if not isinstance(initial, type):
        return False
    if dataclasses.is_dataclass(initial) or is_typeddict(initial):
        return True
    # A pydantic model or a typing_extensions TypedDict can only exist once its module was
    # imported; asking sys.modules keeps untyped sessions from importing either.
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and issubclass(initial, pydantic.BaseModel):
        return True
    extensions = sys.modules.get("typing_extensions")
    return extensions is not None and bool(extensions.is_typeddict(initial))


def codec_for(initial: Any = None, *, schema: Any = None) -> Codec:
    """The codec for sessions whose ``initial`` (or explicit ``schema``) is given.

    Typed when ``schema`` is given, or when ``initial`` is a dataclass, a pydantic model or
    a TypedDict class; plain JSON otherwise (``initial`` a function, ``dict``, ``None``).

    Raises:
        TypeError: ``schema`` is not a type pydantic can validate.
    """
    if schema is None and _is_schema_class(initial):
        schema = initial
    if schema is None:
        return _JSON_CODEC
    return _TypedCodec(schema)
