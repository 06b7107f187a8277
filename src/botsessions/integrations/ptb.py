"""Sessions for python-telegram-bot 22: ``context.session`` next to ``context.chat_data``.

::

    app = setup_sessions(
        Application.builder().token(TOKEN), initial=lambda: {"count": 0}
    ).build()

    async def count(update: Update, context: SessionContext[dict[str, int]]) -> None:
        context.session["count"] += 1

PTB has no middleware, so :func:`setup_sessions` configures the builder with two
pieces:

* :class:`SessionApplication` (``application_class``) wraps ``process_update``: key,
  lock, load, then PTB's own processing of every handler group, then the save, right
  after the update and not on a timer. Updates from polling, webhooks and direct
  ``process_update`` calls all pass there, whatever ``concurrent_updates`` says;
  updates sharing a key are serialized by the engine, others run concurrently.
* :class:`SessionContext` (``context_types``) exposes ``context.session`` and
  ``context.session_key`` to handlers; ``SessionContext[S]`` types ``context.session``.

A handler that raises is reported to ``process_error`` by PTB instead of propagating;
the application notices it and then writes nothing for that update. A session error of
the update itself (a corrupt value, a storage that is down, a lock timeout) is reported
to ``process_error`` too, so it fails that update only.

Outside an update (jobs, admin code), ``application.sessions`` has ``open(key)``,
``keys()`` and ``entries()``.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, TypeVar

try:
    from telegram import Message, Update
    from telegram.ext import Application, ApplicationBuilder, CallbackContext, ContextTypes, ExtBot
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        'botsessions.integrations.ptb needs python-telegram-bot: pip install "botsessions[ptb]"'
    ) from exc

from botsessions.engine.manager import SessionManager, build_manager, run_update
from botsessions.engine.outside import SessionAccess
from botsessions.engine.protocols import SessionSlot
from botsessions.integrations._handle import CLOSED_SLOT, unbound_slot
from botsessions.keys import per_chat

__all__ = ["SessionApplication", "SessionContext", "UpdateKeyContext", "setup_sessions"]

_NOT_SET_UP = unbound_slot(
    "context.session is not available: build the application with "
    "setup_sessions(Application.builder()...)"
)
_NOT_AN_UPDATE = unbound_slot(
    "context.session is only available in handlers of an update (not in jobs); in a job, "
    "use 'async with context.application.sessions.open(key) as handle:'"
)

if TYPE_CHECKING:
    # A default makes a bare ``SessionContext`` mean ``SessionContext[Any]`` under --strict;
    # typing_extensions is needed by type checkers only.
    from typing_extensions import TypeVar as DefaultTypeVar

    SessionT = DefaultTypeVar("SessionT", default=Any)
else:
    SessionT = TypeVar("SessionT")

_current: ContextVar[_UpdateBinding | None] = ContextVar("botsessions_ptb_update", default=None)


class UpdateKeyContext:
    """What ``get_session_key`` receives for a PTB update (and the per-update binding).

    It satisfies ``botsessions.keys``' needs (``chat_id``, ``user_id``, ``thread_id``,
    ``business_connection_id``) from ``update.effective_chat`` / ``effective_user`` and
    the message's topic and business fields.

    Attributes:
        update: The object passed to ``process_update`` (usually a ``telegram.Update``).
        application: The application processing it.
    """

    __slots__ = ("_failed", "_key", "_slot", "application", "update")

    def __init__(self, update: object, application: Application[Any, Any, Any, Any, Any, Any]):
        self.update = update
        self.application = application
        self._slot: SessionSlot = CLOSED_SLOT
        self._key: str | None = None
        self._failed = False

    @property
    def chat_id(self) -> int | None:
        """``update.effective_chat.id``, or ``None``."""
        update = self.update
        chat = update.effective_chat if isinstance(update, Update) else None
        return None if chat is None else chat.id

    @property
    def user_id(self) -> int | None:
        """``update.effective_user.id``, or ``None``."""
        update = self.update
        user = update.effective_user if isinstance(update, Update) else None
        return None if user is None else user.id

    @property
    def thread_id(self) -> int | None:
        """Forum topic id of a topic message (or of a callback query's message)."""
        message = _message(self.update)
        if message is None or not message.is_topic_message:
            return None
        return message.message_thread_id

    @property
    def business_connection_id(self) -> str | None:
        """Business connection the update arrived through, or ``None``."""
        update = self.update
        if not isinstance(update, Update):
            return None
        if update.business_connection is not None:
            return update.business_connection.id
        if update.deleted_business_messages is not None:
            return update.deleted_business_messages.business_connection_id
        message = _message(update)
        return None if message is None else message.business_connection_id

    @property
    def bot_id(self) -> int | None:
        """Id of the application's bot (from its token when ``getMe`` has not run yet)."""
        bot = self.application.bot
        try:
            bot_id: int = bot.id
        except RuntimeError:  # not initialized: the token starts with the id
            prefix = bot.token.partition(":")[0]
            return int(prefix) if prefix.isdigit() else None
        return bot_id


def _message(update: object) -> Message | None:
    if not isinstance(update, Update):
        return None
    message = (
        update.message
        or update.edited_message
        or update.business_message
        or update.edited_business_message
    )
    if message is not None:
        return message
    query = update.callback_query
    if query is not None and isinstance(query.message, Message):
        return query.message
    return None


class SessionContext(
    CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]],
    Generic[SessionT],
):
    """``CallbackContext`` with ``context.session`` and ``context.session_key``.

    ``SessionContext[S]`` types ``context.session`` as ``S`` (for ``lazy=True``:
    ``SessionContext[Awaitable[S]]``); a bare ``SessionContext`` is ``SessionContext[Any]``.

    ``context.session`` behaves like ``ctx.session`` of ``botsessions.Bot``: read it,
    change it in place, assign a new value, or assign ``None`` to delete the stored
    session; with ``lazy=True`` it is an awaitable (``data = await context.session``).
    Subclass it to add your own properties and pass the subclass to
    ``setup_sessions(..., context_types=ContextTypes(context=MyContext))``.

    Attributes:
        session_key: The resolved key of this update's session (``None`` without one).
    """

    __slots__ = ("_session_slot", "session_key")

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self._session_slot: SessionSlot = _NOT_AN_UPDATE
        self.session_key: str | None = None

    @classmethod
    def from_update(
        cls, update: object, application: Application[Any, Any, Any, Any, Any, Any]
    ) -> SessionContext:
        context = super().from_update(update, application)
        current = _current.get()
        if current is not None and current.update is update:
            context._session_slot = current
            context.session_key = current._key
        elif not isinstance(application, SessionApplication):
            context._session_slot = _NOT_SET_UP
        return context

    @property
    def session(self) -> SessionT:
        """The session of this update (an awaitable of it for lazy sessions).

        Raises:
            SessionKeyError: The update has no session key.
            RuntimeError: Used in a job, outside ``setup_sessions``, or after the update was
                saved (a ``block=False`` handler or a background task).
        """
        value: SessionT = self._session_slot.get()
        return value

    @session.setter
    def session(self, value: SessionT | None) -> None:
        self._session_slot.set(value)


class _HandlerFailed(Exception):
    """A blocking handler raised and PTB reported it: the update ends as failed."""


class _UpdateBinding(UpdateKeyContext):
    """The key context that is also the engine's host and the contexts' slot: it
    follows the engine's slot while the update runs and closes when it is saved."""

    __slots__ = ("in_ptb",)

    def __init__(self, update: object, application: Application[Any, Any, Any, Any, Any, Any]):
        super().__init__(update, application)
        self.in_ptb = False  # PTB's own processing runs: what it raises is not the session's

    def bind_session(self, slot: SessionSlot, key: str | None) -> None:
        self._slot = slot
        self._key = key

    def get(self) -> Any:
        return self._slot.get()

    def set(self, value: Any) -> None:
        self._slot.set(value)


class SessionApplication(Application[Any, Any, Any, Any, Any, Any]):
    """``Application`` that loads sessions before each update and saves them right after.

    Built by :func:`setup_sessions`; subclass it (and pass the subclass as
    ``application_class``) if you need your own Application class.

    Args:
        session_manager: The session engine, from ``setup_sessions``.
        **kwargs: Passed to ``Application`` by ``ApplicationBuilder``.

    Attributes:
        session_manager: The built session (``botsessions.engine.SessionManager``).
        sessions: Sessions outside an update (jobs, admin code, broadcasts):
            ``async with app.sessions.open(key) as handle:``, ``app.sessions.keys()``,
            ``app.sessions.entries()``, ``encode()``/``decode()``.

    Raises:
        TypeError: The context class is not a :class:`SessionContext`.
    """

    __slots__ = ("session_manager", "sessions")

    def __init__(self, *, session_manager: SessionManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not issubclass(self.context_types.context, SessionContext):
            raise TypeError(
                "SessionApplication needs ContextTypes(context=SessionContext or a subclass), "
                f"got {self.context_types.context.__name__}"
            )
        self.session_manager = session_manager
        self.sessions: SessionAccess[Any] = SessionAccess(session_manager)

    async def process_update(self, update: object) -> None:
        """Process ``update`` inside its session: load, run every handler group, save.

        Nothing is saved when a blocking handler raised (PTB hands the error to the
        error handlers instead of propagating it). ``ApplicationHandlerStop`` is normal
        control flow and saves as usual. An error of the session itself (loading,
        locking or saving: ``StorageError``, ``CorruptDataError``, ``LockError``, a value
        that cannot be stored) goes to the error handlers the same way: only this update
        fails.
        """
        binding = _UpdateBinding(update, self)
        token = _current.set(binding)
        try:
            process = functools.partial(self._process_in_session, binding)
            await run_update(self.session_manager, binding, process)
        except _HandlerFailed:
            pass  # PTB already handed the error to process_error; nothing was saved
        except Exception as error:
            if binding.in_ptb:
                raise  # PTB's own processing raised (not initialized, ...): as without sessions
            # Raised out of here, a session error would stop PTB's sequential update
            # fetcher for good; reported, it fails this update only.
            binding._failed = True
            await self.process_error(update, error)
        finally:
            binding._slot = CLOSED_SLOT
            _current.reset(token)

    async def _process_in_session(self, binding: _UpdateBinding) -> None:
        binding.in_ptb = True
        await super().process_update(binding.update)
        binding.in_ptb = False
        if binding._failed:
            raise _HandlerFailed  # so run_update discards the session instead of saving it

    async def process_error(
        self,
        update: object | None,
        error: Exception,
        job: Any = None,
        coroutine: Any = None,
    ) -> bool:
        """Mark the update's session as failed (nothing is saved), then let PTB report."""
        current = _current.get()
        if current is not None and update is not None and current.update is update:
            current._failed = True
        return await super().process_error(update, error, job, coroutine)


def setup_sessions(
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any],
    *,
    lazy: bool = False,
    context_types: ContextTypes[Any, Any, Any, Any] | None = None,
    application_class: type[SessionApplication] = SessionApplication,
    **options: Any,
) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """Configure ``builder`` so every update gets a session; returns the builder.

    Args:
        builder: ``Application.builder()`` (token, request, ... may be set before or after).
        lazy: ``True`` for a lazy session (``data = await context.session``).
        context_types: Your ``ContextTypes`` when you customise them; its ``context`` must
            be :class:`SessionContext` or a subclass. Default: ``ContextTypes(context=
            SessionContext)``.
        application_class: A :class:`SessionApplication` subclass to build.
        **options: The options of ``botsessions.session()`` (``initial``, ``storage``,
            ``get_session_key``, ``prefix``, ``type="multi"``, ...). Custom
            ``get_session_key`` functions receive an :class:`UpdateKeyContext`.

    Raises:
        TypeError: The context class or ``application_class`` is not a session one.
        ValueError: An option is invalid.
    """
    if not (
        isinstance(application_class, type) and issubclass(application_class, SessionApplication)
    ):
        raise TypeError("application_class must be SessionApplication or a subclass")
    if context_types is None:
        context_types = ContextTypes(context=SessionContext)
    elif not issubclass(context_types.context, SessionContext):
        raise TypeError(
            "context_types.context must be SessionContext or a subclass, "
            f"got {context_types.context.__name__}"
        )
    manager = build_manager(options, lazy=lazy, default_key=per_chat)
    builder.application_class(application_class, kwargs={"session_manager": manager})
    return builder.context_types(context_types)
