"""session() and lazy_session(): options -> engine -> a middleware."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from botsessions.engine.manager import SessionManager, build_manager, run_update
from botsessions.engine.protocols import NextCall
from botsessions.keys import per_chat

__all__ = ["SessionMiddleware", "lazy_session", "session"]


class SessionMiddleware:
    """The middleware ``session()`` and ``lazy_session()`` return: ``await mw(ctx, next)``.

    ``ctx`` is a host context (``botsessions.Context``, or anything with the
    ``KeyContext`` attributes and ``bind_session``).

    Attributes:
        manager: the built session (``engine.SessionManager``), for code that works on
            sessions outside an update.
    """

    __slots__ = ("manager",)

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    def __call__(self, ctx: Any, next: NextCall) -> Awaitable[None]:
        # Returns run_update's coroutine instead of awaiting it: no frame of its own.
        return run_update(self.manager, ctx, ctx, next)

    def __repr__(self) -> str:
        return f"<SessionMiddleware {self.manager!r}>"


def session(**options: Any) -> SessionMiddleware:
    """Middleware that gives every update a session in ``ctx.session``.

    The session is read (once) before the handler and written after it, only if it
    changed; when the handler raises nothing is written. Updates that share a session
    key run one after the other, so none of their changes is lost.

    Single session (the default, ``type="single"``) options, all keyword-only:
    ``initial``, ``prefix``, ``get_session_key``, ``storage``, ``schema``, ``locking``,
    ``lock_timeout`` (see ``SessionOptions``).

    Multi session: ``session(type="multi", chat=SessionOptions(...), user={...})``: every
    keyword other than ``type`` names a fragment, reached as ``ctx.session.<fragment>``,
    each with its own options, key and storage.

    Raises:
        TypeError, ValueError: an option is unknown or invalid (checked here, once).
    """
    return SessionMiddleware(build_manager(lazy=False, default_key=per_chat, **options))


def lazy_session(**options: Any) -> SessionMiddleware:
    """Like ``session()``, but nothing is read until the handler asks for it.

    ``ctx.session`` is always an awaitable: ``data = await ctx.session``. The first access
    starts the only read of the update (and takes the key's lock); assigning a value
    before or during that read wins over it. Updates that never touch the session cost
    no storage call and are not serialized.

    Raises:
        ValueError: ``type="multi"`` (lazy multi sessions are not supported).
        TypeError, ValueError: an option is unknown or invalid.
    """
    return SessionMiddleware(build_manager(lazy=True, default_key=per_chat, **options))
