"""The types of the bot layer's middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from botsessions.bot._context import Context

__all__ = ["Middleware", "NextFn"]

NextFn: TypeAlias = Callable[[], Awaitable[None]]
"""The ``next`` argument of a middleware: runs everything downstream."""

Middleware: TypeAlias = "Callable[[Context, NextFn], Awaitable[None]]"
"""``async def mw(ctx: Context, next: NextFn) -> None``."""
