"""What a host gives the engine, and what the engine gives back.

A *host* is whatever wraps one update: ``botsessions.Context``, the aiogram glue's
per-update key context, python-telegram-bot's binding. It provides the facts the key
functions read (``KeyContext``) and receives the update's session (``SessionHost``);
``ctx.session`` then forwards to the ``SessionSlot`` it was given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias

__all__ = [
    "HostMiddleware",
    "KeyContext",
    "NextCall",
    "RefusingSlot",
    "SessionHost",
    "SessionSlot",
]

NextCall: TypeAlias = Callable[[], Awaitable[None]]
"""What runs the rest of an update (a middleware's ``next``)."""

HostMiddleware: TypeAlias = Callable[[Any, NextCall], Awaitable[None]]
"""``async def mw(ctx, next) -> None``, typed without naming any host's context class."""


class SessionSlot(Protocol):
    """What ``ctx.session`` reads and writes through (one per update, made by the engine)."""

    def get(self) -> Any:
        """The session value (an awaitable of it for lazy sessions)."""
        ...

    def set(self, value: Any) -> None:
        """Replace the value; ``None`` deletes the stored session at the end of the update."""
        ...


class SessionHost(Protocol):
    """A host context: it receives the update's session before the handler runs."""

    def bind_session(self, slot: SessionSlot, key: str | None) -> None:
        """Make ``ctx.session`` forward to ``slot``; ``key`` is the resolved session key
        (``None`` without one, and always for multi sessions, whose keys are per fragment)."""
        ...


class KeyContext(Protocol):
    """What the built-in key strategies (``botsessions.keys``) read from a context.

    ``botsessions.Context`` provides these from the raw update without parsing it (and
    ``bot_id`` from ``ctx.me``); the aiogram and PTB integrations provide the same
    attributes.
    """

    @property
    def chat_id(self) -> int | None: ...

    @property
    def user_id(self) -> int | None: ...

    @property
    def thread_id(self) -> int | None: ...

    @property
    def business_connection_id(self) -> str | None: ...

    @property
    def bot_id(self) -> int | None:
        """Id of the bot that received the update (``None`` when unknown)."""
        ...


class RefusingSlot:
    """A ``SessionSlot`` that raises ``RuntimeError(message)`` on every access: the slot of
    a session that ended, or of a context no session was bound to."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def get(self) -> Any:
        raise RuntimeError(self.message)

    def set(self, value: Any) -> None:
        raise RuntimeError(self.message)
