"""session() and lazy_session(): options -> engine -> a bot-layer middleware."""

from __future__ import annotations

from typing import Any

from botsessions._manager import build_manager
from botsessions._types import Middleware, NextFn

# build_manager is what framework integrations use: the engine without a bot-layer middleware.
__all__ = ["build_manager", "lazy_session", "session"]


def session(**options: Any) -> Middleware:
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
    return _middleware(build_manager(lazy=False, **options))


def lazy_session(**options: Any) -> Middleware:
    """Like ``session()``, but nothing is read until the handler asks for it.

    ``ctx.session`` is always an awaitable: ``data = await ctx.session``. The first access
    starts the only read of the update (and takes the key's lock); assigning a value
    before or during that read wins over it. Updates that never touch the session cost
    no storage call and are not serialized.

    Raises:
        ValueError: ``type="multi"`` (lazy multi sessions are not supported).
        TypeError, ValueError: an option is unknown or invalid.
    """
    return _middleware(build_manager(lazy=True, **options))


def _middleware(manager: Any) -> Middleware:
    update = manager.update_factory()

    async def session_middleware(ctx: Any, next: NextFn) -> None:
        # ``async with update(ctx)``, spelled out: no coroutine when nothing has to wait.
        handle = update(ctx)
        pending = handle.enter()
        if pending is not None:
            await pending
        try:
            ctx._bind_session(handle.slot, handle.key)
            await next()
        except BaseException:
            await handle.fail()
            raise
        pending = handle.leave()
        if pending is not None:
            await pending

    session_middleware.manager = manager  # type: ignore[attr-defined]
    return session_middleware
