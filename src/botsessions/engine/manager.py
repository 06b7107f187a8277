"""SessionManager, build_manager and run_update: what every host calls.

A host (the bot layer's ``session()`` middleware, the aiogram and python-telegram-bot
glue) builds a manager once and runs each update through ``run_update``::

    manager = build_manager({"initial": dict}, lazy=False, default_key=keys.per_chat)

    async def middleware(ctx, next):
        await run_update(manager, ctx, next)

``run_update`` is the one enter/fail/leave sequence: compute the key(s), take the locks
(in-process first, then the storage's lease when it has one) and, for strict sessions,
read; bind the session to the host; run the handler; then write what changed, or
nothing when the handler raised; every lock is released on every way out.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import CoroutineType
from typing import Any, Protocol, TypeVar

from botsessions._options import to_options
from botsessions.engine.multi import MultiPlan, MultiUpdate
from botsessions.engine.plan import KeyFunction, PropertyPlan, make_plan
from botsessions.engine.protocols import SessionHost, SessionSlot
from botsessions.engine.single import SingleUpdate

__all__ = ["SessionManager", "Update", "build_manager", "make_plans", "run_update"]

R = TypeVar("R")


class Update(SessionSlot, Protocol):
    """One update of a session, as ``run_update`` drives it (``SingleUpdate``,
    ``MultiUpdate``); it is also the update's ``SessionSlot``, which the host binds.

    ``enter_now(ctx)`` computes the key(s) from ``ctx``; ``*_now`` do what needs no
    waiting and say whether that was all; the ``async`` twins do the rest. After
    entering, exactly one of ``leave`` (the handler returned) or ``fail`` (it raised)
    follows."""

    handler: Coroutine[Any, Any, Any] | None
    """The handler's coroutine while ``run_update`` awaits it: locks ask it whether this
    update runs in the task that asks for one of its keys (``engine.locks``, "Owners")."""

    owner: asyncio.Task[Any] | None
    """What answers that question instead, for a driver that runs no handler coroutine
    (set it to ``asyncio.current_task()`` right after making the update)."""

    @property
    def key(self) -> str | None: ...

    @property
    def slot(self) -> SessionSlot:
        """The update itself (for callers that keep the slot apart)."""
        ...

    def enter_now(self, ctx: Any) -> bool: ...

    async def enter(self) -> None: ...

    def leave_now(self) -> bool: ...

    async def leave(self) -> None: ...

    async def fail(self) -> None: ...


class SessionManager:
    """A built session: ``update()`` makes the ``Update`` object of one update.

    Attributes:
        plans: one ``PropertyPlan`` per property (one, or one per fragment).
        multi: whether this is a multi session.
        lazy: whether this is a lazy session.
    """

    __slots__ = ("lazy", "multi", "plans", "update")

    def __init__(self, plans: list[PropertyPlan], *, multi: bool, lazy: bool) -> None:
        self.plans = tuple(plans)
        self.multi = multi
        self.lazy = lazy
        self.update: Callable[[], Update] = (
            functools.partial(MultiUpdate, MultiPlan(plans))
            if multi
            else functools.partial(SingleUpdate, plans[0])
        )

    def __repr__(self) -> str:
        kind = "multi" if self.multi else "lazy" if self.lazy else "single"
        return f"<SessionManager {kind}: {', '.join(map(repr, self.plans))}>"


async def run_update(
    manager: SessionManager,
    ctx: Any,
    call: Callable[[], Awaitable[R]],
    host: SessionHost | None = None,
) -> R:
    """Run ``call`` (the rest of the update) inside the session of ``ctx``.

    ``ctx`` is what the key functions receive (a ``KeyContext`` for the built-in ones);
    ``host`` receives the session (``bind_session``) before ``call`` runs, and is ``ctx``
    itself unless given. Returns what ``call`` returned; what it raised propagates, and
    then nothing is written.

    Raises:
        SessionKeyError, LockError, StorageError: from the session itself.
    """
    update = manager.update()
    # ``*_now`` is the engine's one fast path (engine.single: what it saves, and where
    # bench W1 shows it); without it, the ``async`` twins alone do the same.
    if not update.enter_now(ctx):
        await update.enter()
    try:
        (ctx if host is None else host).bind_session(update, update.key)
        awaited = call()
        # A coroutine, which the update keeps so that its locks can tell whether it runs
        # in a task asking for one of its keys (engine.locks: "Owners").
        handler = awaited if awaited.__class__ is CoroutineType else _awaiting(awaited)
        update.handler = handler
        result = await handler
    except BaseException:
        await update.fail()  # no catch-and-save: a failed handler writes nothing
        raise
    if not update.leave_now():
        await update.leave()
    return result


async def _awaiting(awaitable: Awaitable[R]) -> R:
    return await awaitable


def build_manager(
    options: Mapping[str, Any], *, lazy: bool, default_key: KeyFunction
) -> SessionManager:
    """Validate ``session()`` / ``lazy_session()`` options once and build the session.

    ``options`` are the keywords the user gave. ``default_key`` is the key function used
    where they give no ``get_session_key`` (the layer above passes
    ``botsessions.keys.per_chat``).

    Raises:
        ValueError: unknown ``type``, or ``type="multi"`` with ``lazy=True``.
        TypeError: an unknown option, or an option of the wrong type.
    """
    plans, multi = make_plans(options, lazy=lazy, default_key=default_key)
    return SessionManager(plans, multi=multi, lazy=lazy)


def make_plans(
    options: Mapping[str, Any], *, lazy: bool, default_key: KeyFunction
) -> tuple[list[PropertyPlan], bool]:
    """``build_manager`` without the manager: the plans, and whether it is a multi session
    (for a ``SessionManager`` subclass to be built from them).

    Raises:
        ValueError, TypeError: as ``build_manager``.
    """
    options = dict(options)
    kind = options.pop("type", "single")
    if kind not in ("single", "multi"):
        raise ValueError(f"type must be 'single' or 'multi', got {kind!r}")
    if kind == "single":
        where = "lazy_session()" if lazy else "session()"
        single = to_options(options, where=where)
        return [make_plan(single, lazy=lazy, default_key=default_key)], False
    if lazy:
        raise ValueError(
            "Cannot use lazy multi sessions: lazy_session() supports type='single' only; "
            "use session(type='multi', ...) or one lazy_session() per property"
        )
    plans = []
    for name, value in options.items():
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"fragment name {name!r} must be an identifier not starting with '_'")
        fragment = to_options(value, where=f"fragment {name!r}")
        plans.append(make_plan(fragment, lazy=False, default_key=default_key, fragment=name))
    return plans, True
