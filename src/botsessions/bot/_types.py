"""The types of the bot layer's middleware, handlers and predicates.

Handlers may be annotated with ``Context[S]`` or ``LazyContext[S]`` for any ``S``: the
registration methods take every such function and decorators return it unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from botsessions.bot._context import Context, LazyContext

__all__ = ["ContextT", "Handler", "Middleware", "NextFn", "Predicate"]

if TYPE_CHECKING:
    from typing_extensions import TypeVar as DefaultTypeVar

    # The default makes a bare ``Middleware`` mean ``Middleware[Context]`` under --strict.
    ContextT = DefaultTypeVar("ContextT", bound=Context[Any], default=Context[Any])
else:
    ContextT = TypeVar("ContextT", bound=Context)

NextFn: TypeAlias = Callable[[], Awaitable[None]]
"""The ``next`` argument of a middleware: runs everything downstream."""

Middleware: TypeAlias = Callable[[ContextT, NextFn], Awaitable[None]]
"""``async def mw(ctx: Context, next: NextFn) -> None``.

Generic in the context, as grammY's ``Middleware<C>``: ``Middleware[Context[Data]]``,
``Middleware[LazyContext[Data]]``; a bare ``Middleware`` takes a ``Context``.
"""

# Contravariance: a handler of ``Context[S]`` accepts the ``Context[Any]`` the bot passes,
# but a handler of ``LazyContext[S]`` needs its own arm (a Context is no LazyContext).
Handler: TypeAlias = (
    Callable[[Context[Any], NextFn], Awaitable[object]]
    | Callable[[Context[Any]], Awaitable[object]]
    | Callable[[LazyContext[Any], NextFn], Awaitable[object]]
    | Callable[[LazyContext[Any]], Awaitable[object]]
)
"""What registration methods accept: ``(ctx, next)`` or ``(ctx)``; results are ignored."""

Predicate: TypeAlias = (
    Callable[[Context[Any]], bool | Awaitable[bool]]
    | Callable[[LazyContext[Any]], bool | Awaitable[bool]]
)
"""A ``filter()`` predicate: ``(ctx) -> bool``, sync or async."""
