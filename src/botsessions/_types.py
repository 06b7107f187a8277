"""Type aliases and protocols shared across botsessions. No runtime logic lives here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

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


class SessionSlot(Protocol):
    """What ``ctx.session`` reads and writes through.

    The session engine creates one slot per update; a framework's context object
    (``botsessions.Context``, the aiogram and PTB glue) forwards the ``session``
    attribute to it.
    """

    def get(self) -> Any: ...

    def set(self, value: Any) -> None: ...


class KeyContext(Protocol):
    """What the built-in key strategies (``botsessions.keys``) read from a context.

    ``botsessions.Context`` provides these from the raw update without parsing it;
    the aiogram and PTB integrations provide the same attributes.
    """

    @property
    def chat_id(self) -> int | None: ...

    @property
    def user_id(self) -> int | None: ...

    @property
    def thread_id(self) -> int | None: ...

    @property
    def business_connection_id(self) -> str | None: ...
