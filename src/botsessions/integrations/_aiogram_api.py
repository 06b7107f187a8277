"""The aiogram 3 names the FSM support uses (imported once, naming the extra when missing)."""

from __future__ import annotations

try:
    from aiogram.exceptions import DataNotDictLikeError
    from aiogram.fsm.state import State
    from aiogram.fsm.storage.base import (
        BaseEventIsolation,
        BaseStorage,
        DefaultKeyBuilder,
        KeyBuilder,
        StateType,
        StorageKey,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModuleNotFoundError(
        "botsessions' aiogram FSM support needs aiogram 3: pip install 'botsessions[aiogram]'"
    ) from exc

__all__ = [
    "BaseEventIsolation",
    "BaseStorage",
    "DataNotDictLikeError",
    "DefaultKeyBuilder",
    "KeyBuilder",
    "State",
    "StateType",
    "StorageKey",
    "key_builder_or_default",
]


def key_builder_or_default(key_builder: KeyBuilder | None) -> KeyBuilder:
    """``key_builder`` when it is an aiogram ``KeyBuilder``, aiogram's default for ``None``."""
    if key_builder is None:
        return DefaultKeyBuilder()
    if not isinstance(key_builder, KeyBuilder):
        raise TypeError(
            f"key_builder must be an aiogram KeyBuilder, got {type(key_builder).__name__}"
        )
    return key_builder
