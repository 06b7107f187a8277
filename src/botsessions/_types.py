"""Transitional: the bot layer's aliases, and the engine protocols they used to sit beside.

``SessionSlot`` and ``KeyContext`` live in ``botsessions.engine.protocols``; ``Middleware``
and ``NextFn`` belong to the bot layer. Remove this module once nothing imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

from botsessions.engine.protocols import KeyContext, SessionSlot

if TYPE_CHECKING:
    from botsessions.bot._context import Context

SessionKey: TypeAlias = str | None
"""A resolved session key; ``None`` means "this update has no session"."""

NextFn: TypeAlias = Callable[[], Awaitable[None]]
"""The ``next`` argument of a middleware: runs everything downstream."""

Middleware: TypeAlias = "Callable[[Context, NextFn], Awaitable[None]]"
"""``async def mw(ctx, next) -> None``."""

KeyFunc: TypeAlias = "Callable[[Context], str | Awaitable[str | None] | None]"
"""A ``get_session_key`` function, sync or async."""

__all__ = ["KeyContext", "KeyFunc", "Middleware", "NextFn", "SessionKey", "SessionSlot"]
