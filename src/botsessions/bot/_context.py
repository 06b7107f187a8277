"""Context: one update, its raw dict, and Telegram objects read by attribute.

``Context[S]`` types ``ctx.session`` as ``S`` (grammY's ``SessionFlavor<S>``);
``LazyContext[S]`` types it as ``Awaitable[S]`` (``LazySessionFlavor<S>``). Both are the
same class at run time: the type argument costs nothing per update.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botsessions.bot import _raw
from botsessions.bot._objects import (
    CallbackQuery,
    Chat,
    InlineQuery,
    Message,
    TelegramObject,
    User,
)
from botsessions.bot._raw import MESSAGE_KINDS

if TYPE_CHECKING:
    from botsessions.bot._api import Api
    from botsessions.bot.aiogram_types import AiogramUpdate
    from botsessions.engine.protocols import SessionSlot

__all__ = ["Context", "LazyContext", "SessionT"]

if TYPE_CHECKING:
    # A default makes a bare ``Context`` mean ``Context[Any]``, also under --strict. Only
    # type checkers need it, so typing_extensions (slow to import) stays out of run time.
    from typing_extensions import TypeVar as DefaultTypeVar

    SessionT = DefaultTypeVar("SessionT", default=Any)
else:
    SessionT = TypeVar("SessionT")

T = TypeVar("T")
ObjectT = TypeVar("ObjectT", bound=TelegramObject)

# ``Context._kind`` before the first ``ctx.kind``: a plain value, not a missing attribute,
# so the first read costs no AttributeError (raising and catching one costs more than the
# whole session key of the update; bench W1).
_NOT_READ: Any = object()

_NO_SESSION = (
    "ctx.session is not available: add bot.use(session(...)) or "
    "bot.use(lazy_session(...)) before this handler"
)


class Context(Generic[SessionT]):
    """Everything a middleware needs to handle one update.

    ``Context[S]`` is a context whose ``ctx.session`` is an ``S`` (set up by
    ``session(initial=S)``); a bare ``Context`` is ``Context[Any]``. Lazy sessions
    annotate their handlers with ``LazyContext[S]`` instead.

    A context is created per update by :class:`~botsessions.Bot`. It keeps the raw
    update dict (``ctx.update``); ``ctx.message``, ``ctx.chat``, ... are read-only
    views of parts of it (``ctx.message.text``, ``ctx.from_user.id``), made on first
    access and kept for the update. ``ctx.chat_id``, ``ctx.user_id``,
    ``ctx.thread_id`` and ``ctx.business_connection_id`` read the raw dict directly.

    Args:
        update: the raw update, as the Bot API sends it (``{"update_id": ..., ...}``).
        api: the Bot API client (``ctx.api``).
        me: the bot's own user (``ctx.me``).
    """

    __slots__ = (
        "_cache",
        "_kind",
        "_session_slot",
        "api",
        "match",
        "me",
        "session_key",
        "update",
    )

    update: dict[str, Any]
    """The raw update dict."""
    api: Api
    """The Bot API client: every method (``await ctx.api.send_photo(chat_id, photo)``)."""
    me: User
    """The bot's own user, as returned by ``getMe``."""
    match: str | re.Match[str] | None
    """What a ``command``/``hears``/``callback_query`` trigger matched, else None.

    For a command, the text after it (stripped, ``""`` if none); for a string
    trigger, the matched string; for a regular expression, the ``re.Match``.
    """
    session_key: str | None
    """The session key resolved by the session middleware (None without a session)."""
    _kind: str | None  # _NOT_READ until the first ``kind``
    _cache: dict[str, Any]
    _session_slot: SessionSlot

    def __init__(self, update: dict[str, Any], api: Api, me: User) -> None:
        self.update, self.api, self.me = update, api, me
        self.match = None
        self.session_key = None
        self._kind = _NOT_READ

    def __repr__(self) -> str:
        return f"Context(update_id={self.update.get('update_id')!r}, kind={self.kind!r})"

    # -- raw-derived facts (no parsing) ------------------------------------------------

    @property
    def kind(self) -> str | None:
        """The update's kind, e.g. ``"message"`` or ``"callback_query"``."""
        kind = self._kind
        if kind is _NOT_READ:
            kind = self._kind = _raw.update_kind(self.update)
        return kind

    @property
    def chat_id(self) -> int | None:
        """Id of the chat the update belongs to, or None (inline queries, ...)."""
        # per_chat, the default session key, reads this on every update: ``self.kind`` and,
        # for messages, ``_raw.chat_id_of`` are inlined (three calls fewer in all: bench W1).
        kind = self._kind
        if kind is _NOT_READ:
            kind = self._kind = _raw.update_kind(self.update)
        payload: Any = self.update.get(kind)  # type: ignore[arg-type]
        if kind in MESSAGE_KINDS:
            chat = payload.get("chat")
            return None if chat is None else chat.get("id")
        return _raw.chat_id_of(kind, payload)

    @property
    def user_id(self) -> int | None:
        """Id of the user who caused the update, or None (channel posts, polls, ...)."""
        return self._read(_raw.user_id_of)

    @property
    def thread_id(self) -> int | None:
        """``message_thread_id`` of a forum-topic message, else None."""
        return self._read(_raw.thread_id_of)

    @property
    def business_connection_id(self) -> str | None:
        """The business connection the update came through, else None."""
        return self._read(_raw.business_connection_id_of)

    def _read(self, fact: Callable[[str | None, Any], T]) -> T:
        """``fact(kind, payload)`` of this update: one of ``_raw``'s readers."""
        kind = self.kind
        return fact(kind, self.update.get(kind))  # type: ignore[arg-type]

    @property
    def bot_id(self) -> int | None:
        """Id of the bot that received the update (``ctx.me.id``)."""
        bot_id: int | None = getattr(self.me, "id", None)
        return bot_id

    # -- Telegram objects, made on first access ------------------------------------------

    def _parsed(self, name: str, build: Callable[[], T]) -> T:
        try:
            cache = self._cache
        except AttributeError:
            cache = self._cache = {}
        try:
            return cache[name]  # type: ignore[no-any-return]  # stored by build() below
        except KeyError:
            value = cache[name] = build()
            return value

    def _field(self, cls: type[ObjectT], kind: str) -> ObjectT | None:
        raw = self.update.get(kind)
        return None if raw is None else cls(raw)

    @property
    def message(self) -> Message | None:
        """The ``message`` of a new-message update (not edits or channel posts)."""
        return self._parsed("message", lambda: self._field(Message, "message"))

    @property
    def msg(self) -> Message | None:
        """The message of any kind of update: new, edited, channel post, business,
        or the message a callback query's button was attached to.

        None when there is no message, or when a callback query's message is no
        longer accessible (``ctx.callback_query.message`` then has only ``chat``,
        ``message_id`` and ``date == 0``).
        """

        def build() -> Message | None:
            kind = self.kind
            if kind == "message":
                return self.message
            raw = _raw.message_of(kind, self.update.get(kind))  # type: ignore[arg-type]
            if raw is None or not raw.get("date"):
                return None
            return Message(raw)

        return self._parsed("msg", build)

    @property
    def chat(self) -> Chat | None:
        """The chat the update belongs to (see ``chat_id``), or None.

        A ``business_connection`` update has a ``chat_id`` but no chat object.
        """

        def build() -> Chat | None:
            kind = self.kind
            payload = self.update.get(kind)  # type: ignore[arg-type]
            raw = _raw.message_of(kind, payload) or payload
            chat = raw.get("chat") if isinstance(raw, dict) else None
            return None if chat is None else Chat(chat)

        return self._parsed("chat", build)

    @property
    def from_user(self) -> User | None:
        """The user who caused the update (see ``user_id``), or None."""

        def build() -> User | None:
            kind = self.kind
            payload = self.update.get(kind)  # type: ignore[arg-type]
            if not isinstance(payload, dict):
                return None
            raw = payload.get("from") or payload.get("user")
            if raw is None and kind in ("chat_boost", "removed_chat_boost"):
                source = payload.get("source") or (payload.get("boost") or {}).get("source")
                raw = None if source is None else source.get("user")
            return None if raw is None else User(raw)

        return self._parsed("from_user", build)

    @property
    def callback_query(self) -> CallbackQuery | None:
        """The callback query of a button press, or None."""
        return self._parsed("callback_query", lambda: self._field(CallbackQuery, "callback_query"))

    @property
    def inline_query(self) -> InlineQuery | None:
        """The inline query, or None."""
        return self._parsed("inline_query", lambda: self._field(InlineQuery, "inline_query"))

    # -- Bot API shortcuts -------------------------------------------------------------

    async def reply(self, text: str, **kwargs: Any) -> Message:
        """Send ``text`` to this update's chat (``sendMessage``).

        Replies land in the same forum topic and business connection as the update,
        unless ``message_thread_id`` / ``business_connection_id`` are given.
        Other keyword arguments are parameters of ``sendMessage`` (``reply_markup``,
        ``parse_mode``, ...). Returns the sent message.

        Raises:
            RuntimeError: the update has no chat (an inline query, for example).
            TelegramError: the Bot API refused the message (``Forbidden`` when the user
                blocked the bot, ...).
        """
        chat_id = self.chat_id
        if chat_id is None:
            raise RuntimeError(
                f"ctx.reply() needs a chat, but this {self.kind} update has none; "
                "use ctx.api with an explicit chat_id instead"
            )
        if "message_thread_id" not in kwargs and (thread_id := self.thread_id) is not None:
            kwargs["message_thread_id"] = thread_id
        if (
            "business_connection_id" not in kwargs
            and (connection := self.business_connection_id) is not None
        ):
            kwargs["business_connection_id"] = connection
        return await self.api.send_message(chat_id=chat_id, text=text, **kwargs)

    async def answer_callback_query(self, text: str | None = None, **kwargs: Any) -> bool:
        """Answer this update's callback query (``answerCallbackQuery``).

        Keyword arguments are parameters of ``answerCallbackQuery`` (``show_alert``,
        ``url``, ``cache_time``).

        Raises:
            RuntimeError: the update is not a callback query.
            TelegramError: the Bot API refused the answer.
        """
        query = self.update.get("callback_query")
        if query is None:
            raise RuntimeError(
                f"ctx.answer_callback_query() needs a callback query, "
                f"but this is a {self.kind} update"
            )
        return await self.api.answer_callback_query(query["id"], text, **kwargs)

    def aiogram_update(self) -> AiogramUpdate:
        """This update as aiogram's typed ``Update`` (needs aiogram installed).

        aiogram is imported on the first call; nothing else in the bot layer uses it.

        Raises:
            ModuleNotFoundError: aiogram is not installed (``pip install "botsessions[aiogram]"``).
        """
        from botsessions.bot.aiogram_types import aiogram_update

        return aiogram_update(self)

    # -- session glue ------------------------------------------------------------------

    @property
    def session(self) -> SessionT:
        """The session data of this update (set up by ``session()``/``lazy_session()``).

        Assigning replaces it; assigning ``None`` deletes the stored session when the
        update ends. With ``lazy_session()`` the value is an awaitable (see
        ``LazyContext``).

        Raises:
            RuntimeError: no session middleware ran before this handler.
            SessionKeyError: the update has no session key (no chat, for example).
        """
        try:
            slot = self._session_slot
        except AttributeError:
            raise RuntimeError(_NO_SESSION) from None
        value: SessionT = slot.get()
        return value

    @session.setter
    def session(self, value: SessionT | None) -> None:
        try:
            slot = self._session_slot
        except AttributeError:
            raise RuntimeError(_NO_SESSION) from None
        slot.set(value)

    def bind_session(self, slot: SessionSlot, key: str | None) -> None:
        """Make ``ctx.session`` read and assign through ``slot``, and set ``session_key``.

        The session middleware calls this before the handler runs; a host context of
        another framework implements the same method to receive its session.
        """
        self._session_slot = slot
        self.session_key = key

    _bind_session = bind_session  # the former name, kept for callers not yet updated


if TYPE_CHECKING:

    class LazyContext(Context[Any], Generic[SessionT]):
        """A context whose session comes from ``lazy_session()``: ``await ctx.session``.

        ``ctx.session`` is an ``Awaitable[S]``; it accepts an ``S``, ``None`` (delete)
        or an awaitable of either. At run time this is ``Context`` itself.
        """

        @property
        def session(self) -> Awaitable[SessionT]: ...
        @session.setter
        def session(self, value: SessionT | Awaitable[SessionT | None] | None) -> None: ...

else:
    # One runtime class for both flavors: handlers annotated LazyContext[S] receive the
    # Context the bot made, and isinstance(ctx, LazyContext) holds.
    LazyContext = Context
