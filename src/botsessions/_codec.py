"""Session value <-> stored JSON form. (Interim identity codec; the typed codec replaces it.)

The engine encodes a session value before every write and decodes what storage returns:

* ``codec_for(initial)`` picks the codec once, when ``session()`` is built.
* ``Codec.encode(value)`` returns a JSON-compatible value (dict, list, str, int, float,
  bool, None) or raises ``TypeError`` naming the offending path.
* ``Codec.decode(data)`` turns the stored form back into the session value.
"""

from __future__ import annotations

from typing import Any, Protocol


class Codec(Protocol):
    def encode(self, value: Any) -> Any: ...

    def decode(self, data: Any) -> Any: ...


class _IdentityCodec:
    __slots__ = ()

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, data: Any) -> Any:
        return data


def codec_for(initial: Any = None, *, schema: Any = None) -> Codec:
    """The codec for sessions whose ``initial`` (or explicit ``schema``) is given."""
    return _IdentityCodec()
