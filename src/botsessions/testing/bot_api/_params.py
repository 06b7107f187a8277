"""Typed access to Bot API request parameters, whatever encoding they arrived in.

JSON bodies carry typed values; form and query-string requests carry strings, with
objects and arrays as JSON text (aiogram sends ``reply_markup`` that way). Every getter
accepts both, as Telegram does.
"""

from __future__ import annotations

import json
from typing import Any

from botsessions.testing.bot_api._state import ApiError

__all__ = ["Params"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Params:
    """The parameters of one call."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else str(value)

    def required_integer(self, name: str, missing: str) -> int:
        """An integer that must be present; ``missing`` is the error text otherwise."""
        value = self.integer(name)
        if value is None:
            raise ApiError(400, f"Bad Request: {missing}")
        return value

    def integer(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Bad Request: invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return value != 0
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ApiError(400, f"Bad Request: invalid {name} specified")

    def structured(self, name: str, *, error: str) -> Any:
        """A JSON object or array, given as such or as JSON text."""
        value = self.raw.get(name)
        if isinstance(value, str):
            if not value:
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(400, f"Bad Request: {error}") from None
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        value = self.raw.get(name)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: {name} is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            return text
        try:
            return int(text)
        except ValueError:
            raise ApiError(400, "Bad Request: chat not found") from None

    def string_list(self, name: str) -> list[str] | None:
        value = self.structured(name, error=f"can't parse {name} JSON array")
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"Bad Request: can't parse {name} JSON array")
        return value
