"""session() and lazy_session(): options -> engine -> a middleware."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast, overload

from botsessions.engine.manager import SessionManager, make_plans, run_update
from botsessions.engine.outside import OutsideAccess
from botsessions.keys import per_chat

__all__ = ["SessionMiddleware", "lazy_session", "session"]

S = TypeVar("S")


class SessionMiddleware(SessionManager, OutsideAccess[S]):
    """What ``session()`` and ``lazy_session()`` return: the built session, and the
    middleware that runs it, ``await mw(ctx, next)``.

    ``ctx`` is a host context: ``botsessions.Context``, or anything with the
    ``KeyContext`` attributes and ``bind_session``.

    Outside an update (jobs, admin code, broadcasts): ``open(key)``, ``keys()``,
    ``entries()``, and ``encode()``/``decode()`` for the session's stored form (see
    ``OutsideAccess`` and the "Jobs, admin code and broadcasts" page).
    """

    __slots__ = ()

    # Calling the middleware is run_update itself (with ctx as the host): the per-update
    # path gets no frame of its own.
    __call__ = run_update

    @property
    def manager(self) -> SessionManager:
        """The built session (this object), for code that works on sessions outside an
        update, as the integrations' ``manager`` attributes are."""
        return self

    def _session_manager(self) -> SessionManager:
        return self


def _build(options: dict[str, Any], *, lazy: bool) -> SessionMiddleware[Any]:
    plans, multi = make_plans(options, lazy=lazy, default_key=per_chat)
    return SessionMiddleware(plans, multi=multi, lazy=lazy)


class SessionFactory(Protocol):
    """The type of ``session`` and ``lazy_session``: the session's type follows from
    ``initial`` (a ``dict`` for ``initial=dict``, ``S`` for a factory returning ``S``)."""

    @overload
    def __call__(
        self, *, initial: type[dict[Any, Any]], **options: Any
    ) -> SessionMiddleware[dict[str, Any]]: ...
    @overload
    def __call__(self, *, initial: Callable[[], S], **options: Any) -> SessionMiddleware[S]: ...
    @overload
    def __call__(self, **options: Any) -> SessionMiddleware[Any]: ...


def _typed(factory: Callable[..., SessionMiddleware[Any]]) -> SessionFactory:
    return cast("SessionFactory", factory)


@_typed
def session(**options: Any) -> SessionMiddleware[Any]:
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
    return _build(options, lazy=False)


@_typed
def lazy_session(**options: Any) -> SessionMiddleware[Any]:
    """Like ``session()``, but nothing is read until the handler asks for it.

    ``ctx.session`` is always an awaitable: ``data = await ctx.session``. The first access
    starts the only read of the update (and takes the key's lock); assigning a value
    before or during that read wins over it. Updates that never touch the session cost
    no storage call and are not serialized.

    Raises:
        ValueError: ``type="multi"`` (lazy multi sessions are not supported).
        TypeError, ValueError: an option is unknown or invalid.
    """
    return _build(options, lazy=True)
