"""Sessions for aiogram 3 bots: one call on the Dispatcher, no framework switch.

::

    dp = Dispatcher()
    setup_sessions(dp, initial=lambda: {"count": 0})

    @dp.message()
    async def count(message: Message, session: dict[str, int]) -> None:
        session["count"] += 1

``setup_sessions`` registers a :class:`SessionMiddleware` as an *outer* middleware on
``dp.update`` (after aiogram's own, so ``event_context`` is known and, with event
isolation on, the session loads inside aiogram's lock) plus a tiny inner middleware on
every event observer that hands the value to the handlers that ask for it:

* ``session``: the session value (strict), the multi-session object (``type="multi"``),
  or an awaitable of the value (``lazy=True``). Only handlers declaring it read it, so an
  update whose handler ignores sessions writes nothing.
* each multi-session fragment under its own name (``chat``, ``user``, ...).
* ``session_handle``: a :class:`SessionHandle` to replace or delete the value and to
  read the resolved key.

The engine, storages, locking, typed sessions and migrations are the same as for
``botsessions.Bot``. What ``setup_sessions`` returns also has ``open(key)``, ``keys()``
and ``entries()``, for sessions outside an update (admin commands, jobs, broadcasts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

try:
    from aiogram import BaseMiddleware, Bot, Dispatcher
    from aiogram.dispatcher.event.handler import HandlerObject
    from aiogram.dispatcher.middlewares.user_context import EventContext
    from aiogram.types import TelegramObject, Update
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        'botsessions.integrations.aiogram needs aiogram 3: pip install "botsessions[aiogram]"'
    ) from exc

from botsessions._errors import SessionKeyError
from botsessions.engine.manager import SessionManager, build_manager, run_update
from botsessions.engine.outside import OutsideAccess
from botsessions.engine.protocols import SessionSlot
from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation
from botsessions.integrations._handle import SessionHandle
from botsessions.keys import per_chat

__all__ = [
    "EventKeyContext",
    "FSMStorage",
    "SessionHandle",
    "SessionIsolation",
    "SessionMiddleware",
    "setup_sessions",
]

S = TypeVar("S")

AiogramHandler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

_EMPTY_EVENT = EventContext()

# Keys aiogram itself (or its built-in filters and middlewares) put into handler data;
# a multi-session fragment with one of these names would shadow them.
_RESERVED = frozenset(
    {
        "bot",
        "bots",
        "command",
        "dispatcher",
        "event_business_connection_id",
        "event_chat",
        "event_context",
        "event_from_user",
        "event_router",
        "event_thread_id",
        "event_update",
        "fsm_storage",
        "handler",
        "i18n",
        "i18n_middleware",
        "raw_state",
        "scenes",
        "session",
        "session_handle",
        "state",
    }
)


class EventKeyContext:
    """What ``get_session_key`` receives for an aiogram update.

    It satisfies ``botsessions.keys``' needs (``chat_id``, ``user_id``, ``thread_id``,
    ``business_connection_id``) straight from aiogram's ``event_context``, without
    looking at the update again, and exposes the rest for custom keys.

    Attributes:
        update: The aiogram ``Update`` being handled.
        data: aiogram's handler data for this update (``bot``, ``event_context``,
            ``state`` when FSM is on, workflow data, ...).
    """

    __slots__ = ("_event", "data", "update")

    def __init__(self, update: Update, data: dict[str, Any]) -> None:
        self.update = update
        self.data = data
        self._event: EventContext = data.get("event_context", _EMPTY_EVENT)

    @property
    def event_context(self) -> EventContext:
        """aiogram's ``EventContext`` (chat, user, thread, business connection)."""
        return self._event

    @property
    def chat_id(self) -> int | None:
        """Id of the chat the update belongs to, or ``None``."""
        chat = self._event.chat
        return None if chat is None else chat.id

    @property
    def user_id(self) -> int | None:
        """Id of the user who caused the update, or ``None``."""
        user = self._event.user
        return None if user is None else user.id

    @property
    def thread_id(self) -> int | None:
        """Forum topic id of a topic message, or ``None``."""
        return self._event.thread_id

    @property
    def business_connection_id(self) -> str | None:
        """Business connection the update arrived through, or ``None``."""
        return self._event.business_connection_id

    @property
    def bot(self) -> Bot:
        """The aiogram ``Bot`` that received the update."""
        bot: Bot = self.data["bot"]
        return bot

    @property
    def bot_id(self) -> int:
        """Id of the receiving bot (from its token; no API call)."""
        return self.bot.id


class SessionMiddleware(BaseMiddleware, OutsideAccess[S]):
    """Loads sessions before aiogram's handlers run and saves them after.

    Outside an update (an admin command about another chat, a job, a broadcast), the
    same object opens sessions by key: ``async with middleware.open("42") as handle:``
    (same lock, lease, prefix, codec and migrations as an update of chat 42), and lists
    them with ``keys()`` and ``entries()``.

    Prefer :func:`setup_sessions`, which builds one and installs it. To install it by
    hand, call :meth:`setup` on the Dispatcher: registering the object with
    ``dp.update.outer_middleware`` alone provides ``session_handle`` but not the
    ``session`` handler argument.

    The update's key is computed once, the per-key lock (and the storage's lock when it
    has one) is held while the handler runs, and on a normal return only what changed is
    written; when the handler raises, nothing is written and the error propagates to
    aiogram's error handlers.

    Args:
        lazy: ``True`` for a lazy session: ``session`` is an awaitable and storage is
            read only when a handler awaits it.
        **options: The options of ``botsessions.session()`` (``initial``, ``storage``,
            ``get_session_key``, ``prefix``, ``type="multi"`` with fragments, ...).
            Custom ``get_session_key`` functions receive an :class:`EventKeyContext`.

    Attributes:
        manager: The built session (``botsessions.engine.SessionManager``).

    Raises:
        ValueError: A multi-session fragment is named like a key aiogram puts in handler
            data (``state``, ``bot``, ...), or an option is invalid.
        TypeError: An option has the wrong type.
    """

    def __init__(self, *, lazy: bool = False, **options: Any) -> None:
        self.manager = build_manager(options, lazy=lazy, default_key=per_chat)
        self.lazy = lazy
        self.fragments: tuple[str, ...] = _fragment_names(options)
        clash = sorted(_RESERVED.intersection(self.fragments))
        if clash:
            raise ValueError(
                f"Session fragment name(s) {clash} clash with aiogram handler arguments; "
                "rename the fragment(s)"
            )

    def _session_manager(self) -> SessionManager:
        return self.manager

    def setup(self, dispatcher: Dispatcher) -> None:
        """Install on ``dispatcher``: outer middleware on ``update``, injector elsewhere.

        Raises:
            TypeError: ``dispatcher`` is not an aiogram ``Dispatcher`` (sessions need the
                event context the Dispatcher computes; a ``Router`` is not enough).
        """
        if not isinstance(dispatcher, Dispatcher):
            raise TypeError(
                f"Sessions are installed on the aiogram Dispatcher, got "
                f"{type(dispatcher).__name__}; call setup_sessions(dp, ...) with your Dispatcher"
            )
        dispatcher.update.outer_middleware(self)
        injector = _SessionInjector(self.fragments, lazy=self.lazy)
        for name, observer in dispatcher.observers.items():
            if name not in ("update", "error"):
                observer.middleware(injector)

    async def __call__(
        self, handler: AiogramHandler, event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        if event.__class__ is not Update and not isinstance(event, Update):
            raise TypeError(
                "SessionMiddleware belongs on dp.update (it got a "
                f"{type(event).__name__}); install it with setup_sessions(dp, ...)"
            )
        run = _HandlerRun(handler, event, data)
        return await run_update(self.manager, EventKeyContext(event, data), run.call, run)


class _HandlerRun:
    """One update's handler chain as the engine's host: the session goes into handler
    data as ``session_handle``, which closes when the handlers are done."""

    __slots__ = ("data", "event", "handle", "handler")

    def __init__(self, handler: AiogramHandler, event: TelegramObject, data: dict[str, Any]):
        self.handler = handler
        self.event = event
        self.data = data
        self.handle: SessionHandle[Any] | None = None

    def bind_session(self, slot: SessionSlot, key: str | None) -> None:
        handle = self.handle = SessionHandle(slot, key)
        self.data["session_handle"] = handle

    async def call(self) -> Any:
        try:
            return await self.handler(self.event, self.data)
        finally:
            if self.handle is not None:
                self.handle.close()


class _SessionInjector(BaseMiddleware):
    """Inner middleware: reads the session only for handlers that declare it.

    ``__call__`` is a plain method that returns the rest of the chain's awaitable (aiogram
    awaits it), so the injector adds no coroutine of its own to every update.
    """

    def __init__(self, fragments: tuple[str, ...], *, lazy: bool) -> None:
        self._fragments = fragments
        self._lazy = lazy

    def __call__(  # type: ignore[override]  # returns the awaitable instead of awaiting it
        self, handler: AiogramHandler, event: TelegramObject, data: dict[str, Any]
    ) -> Awaitable[Any]:
        session: SessionHandle[Any] | None = data.get("session_handle")
        target: HandlerObject | None = data.get("handler")
        if session is not None and target is not None:
            if target.varkw:
                self._inject_available(session, data)
            else:
                params = target.params
                if "session" in params:
                    data["session"] = _Deferred(session) if self._lazy else session.data
                for name in self._fragments:
                    if name in params:
                        data[name] = getattr(session.data, name)
        return handler(event, data)

    def _inject_available(self, session: SessionHandle[Any], data: dict[str, Any]) -> None:
        # A handler taking **kwargs did not ask for the session by name, so an update
        # without a key must not fail it: inject what exists, skip the rest.
        if self._lazy:
            data["session"] = _Deferred(session)
            return
        try:
            value = data["session"] = session.data
        except SessionKeyError:
            return
        for name in self._fragments:
            try:
                data[name] = getattr(value, name)
            except SessionKeyError:
                continue


class _Deferred:
    """The lazy session as a handler argument: storage is read when it is awaited."""

    __slots__ = ("_handle",)

    def __init__(self, handle: SessionHandle[Any]) -> None:
        self._handle = handle

    def __await__(self) -> Generator[Any, None, Any]:
        awaitable: Awaitable[Any] = self._handle.data
        return awaitable.__await__()


def _fragment_names(options: Mapping[str, Any]) -> tuple[str, ...]:
    if options.get("type") != "multi":
        return ()
    return tuple(name for name in options if name != "type")


@overload
def setup_sessions(
    dispatcher: Dispatcher,
    *,
    lazy: bool = False,
    initial: type[dict[Any, Any]],
    **options: Any,
) -> SessionMiddleware[dict[str, Any]]: ...
@overload
def setup_sessions(
    dispatcher: Dispatcher, *, lazy: bool = False, initial: Callable[[], S], **options: Any
) -> SessionMiddleware[S]: ...
@overload
def setup_sessions(
    dispatcher: Dispatcher, *, lazy: bool = False, **options: Any
) -> SessionMiddleware[Any]: ...
def setup_sessions(
    dispatcher: Dispatcher, *, lazy: bool = False, **options: Any
) -> SessionMiddleware[Any]:
    """Give every handler of ``dispatcher`` a session: build and install the middleware.

    Call it once, after creating the Dispatcher and before polling or serving webhooks.

    Args:
        dispatcher: The aiogram ``Dispatcher``.
        lazy: ``True`` for a lazy session (``data = await session``).
        **options: The options of ``botsessions.session()``; see :class:`SessionMiddleware`.

    Returns:
        The installed :class:`SessionMiddleware`; its ``open(key)``, ``keys()`` and
        ``entries()`` reach sessions outside an update.

    Raises:
        TypeError: ``dispatcher`` is not a ``Dispatcher``, or an option has the wrong type.
        ValueError: An option is invalid or a fragment name clashes with aiogram's.
    """
    middleware: SessionMiddleware[Any] = SessionMiddleware(lazy=lazy, **options)
    middleware.setup(dispatcher)
    return middleware
