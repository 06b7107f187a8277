"""Telegram objects read by attribute: a thin, read-only view over the raw JSON dict.

``ctx.message.text``, ``ctx.from_user.id`` and ``ctx.message.reply_to_message.chat.id``
read straight from the dict the Bot API sent; nothing is parsed or validated up front,
and a nested object is wrapped only when it is reached. The classes below give static
types to the fields handlers use most. Every other field is still an attribute (typed
``Any``): objects come back wrapped, lists of objects as lists of wrapped objects, and a
field that is absent reads as ``None``. ``obj["field"]`` and ``obj.raw`` give the raw JSON.

Telegram's ``from`` is ``from_user`` here (``from`` is a Python keyword).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NoReturn, Self, TypeVar, overload

__all__ = [
    "CallbackQuery",
    "Chat",
    "InlineQuery",
    "Message",
    "MessageEntity",
    "TelegramObject",
    "Update",
    "User",
    "wrap",
]

T = TypeVar("T")


def wrap(value: Any) -> Any:
    """``value`` with every JSON object in it viewed as a ``TelegramObject``."""
    if isinstance(value, dict):
        return TelegramObject(value)
    if isinstance(value, list):
        return [wrap(item) for item in value]
    return value


class TelegramObject:
    """A read-only view of one JSON object of the Bot API.

    Args:
        raw: the object as the Bot API sent it; it is not copied.
    """

    __slots__ = ("raw",)

    raw: dict[str, Any]
    """The JSON object, as sent by the Bot API."""

    def __init__(self, raw: dict[str, Any]) -> None:
        object.__setattr__(self, "raw", raw)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # keep copy/pickle protocol lookups away from the data
            raise AttributeError(name)
        return wrap(self.raw.get("from" if name == "from_user" else name))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(
            f"{type(self).__name__} is read-only; build a new dict to send instead"
        )

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value of field ``key`` (``default`` when absent)."""
        return self.raw.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TelegramObject):
            return self.raw == other.raw
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a view of a mutable dict

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.raw!r})"

    def __reduce__(self) -> tuple[type[Self], tuple[dict[str, Any]]]:
        return type(self), (self.raw,)  # copy, deepcopy and pickle rebuild from the dict


class Field(Generic[T]):
    """A statically typed field of a Telegram object class.

    Args:
        key: the JSON field name (default: the attribute's name).
        wrap: builds the value of a JSON object field (a class of this module).
        many: the field is a list of such objects.
    """

    __slots__ = ("key", "many", "wrap")

    def __init__(
        self,
        key: str | None = None,
        *,
        wrap: Callable[[Any], Any] | None = None,
        many: bool = False,
    ) -> None:
        self.key = key or ""
        self.wrap = wrap
        self.many = many

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if not self.key:
            self.key = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: TelegramObject, owner: type[Any]) -> T: ...
    def __get__(self, obj: TelegramObject | None, owner: type[Any]) -> Self | T:
        if obj is None:
            return self
        value = obj.raw.get(self.key)
        build = self.wrap
        if value is None or build is None:
            return value  # type: ignore[return-value]  # the JSON value has the field's type
        if self.many:
            return [build(item) for item in value]  # type: ignore[return-value]
        return build(value)  # type: ignore[no-any-return]


class User(TelegramObject):
    """A Telegram user or bot."""

    __slots__ = ()

    id: Field[int] = Field()
    is_bot: Field[bool] = Field()
    first_name: Field[str] = Field()
    last_name: Field[str | None] = Field()
    username: Field[str | None] = Field()
    language_code: Field[str | None] = Field()
    is_premium: Field[bool | None] = Field()

    @property
    def full_name(self) -> str:
        """First and last name, separated by a space."""
        last = self.last_name
        return self.first_name if not last else f"{self.first_name} {last}"


class Chat(TelegramObject):
    """A private chat, group, supergroup or channel."""

    __slots__ = ()

    id: Field[int] = Field()
    title: Field[str | None] = Field()
    type: Field[str] = Field()
    username: Field[str | None] = Field()
    first_name: Field[str | None] = Field()
    last_name: Field[str | None] = Field()
    is_forum: Field[bool | None] = Field()


class MessageEntity(TelegramObject):
    """A special part of a message text: a command, URL, mention, bold run, ..."""

    __slots__ = ()

    url: Field[str | None] = Field()
    type: Field[str] = Field()
    offset: Field[int] = Field()
    length: Field[int] = Field()
    user: Field[User | None] = Field(wrap=User)
    language: Field[str | None] = Field()
    custom_emoji_id: Field[str | None] = Field()


class Message(TelegramObject):
    """A message (also an edited message, a channel post or a business message)."""

    __slots__ = ()

    message_id: Field[int] = Field()
    date: Field[int] = Field()
    chat: Field[Chat] = Field(wrap=Chat)
    from_user: Field[User | None] = Field("from", wrap=User)
    sender_chat: Field[Chat | None] = Field(wrap=Chat)
    message_thread_id: Field[int | None] = Field()
    is_topic_message: Field[bool | None] = Field()
    business_connection_id: Field[str | None] = Field()
    reply_to_message: Field[Message | None] = Field(wrap=lambda raw: Message(raw))
    edit_date: Field[int | None] = Field()
    media_group_id: Field[str | None] = Field()
    text: Field[str | None] = Field()
    entities: Field[list[MessageEntity] | None] = Field(wrap=MessageEntity, many=True)
    caption: Field[str | None] = Field()
    caption_entities: Field[list[MessageEntity] | None] = Field(wrap=MessageEntity, many=True)


class CallbackQuery(TelegramObject):
    """A press of an inline keyboard button.

    ``message`` is None for buttons of inline messages (see ``inline_message_id``); for
    a message too old to be accessible it has only ``chat``, ``message_id`` and
    ``date == 0``.
    """

    __slots__ = ()

    id: Field[str] = Field()
    from_user: Field[User] = Field("from", wrap=User)
    message: Field[Message | None] = Field(wrap=Message)
    inline_message_id: Field[str | None] = Field()
    chat_instance: Field[str] = Field()
    data: Field[str | None] = Field()
    game_short_name: Field[str | None] = Field()


class InlineQuery(TelegramObject):
    """A query typed after the bot's username in any chat (inline mode)."""

    __slots__ = ()

    from_user: Field[User] = Field("from", wrap=User)
    id: Field[str] = Field()
    query: Field[str] = Field()
    offset: Field[str] = Field()
    chat_type: Field[str | None] = Field()


class Update(TelegramObject):
    """An update; ``ctx.update`` is its raw dict, ``Update(ctx.update)`` this view of it."""

    __slots__ = ()

    update_id: Field[int] = Field()
    message: Field[Message | None] = Field(wrap=Message)
    edited_message: Field[Message | None] = Field(wrap=Message)
    channel_post: Field[Message | None] = Field(wrap=Message)
    edited_channel_post: Field[Message | None] = Field(wrap=Message)
    business_message: Field[Message | None] = Field(wrap=Message)
    callback_query: Field[CallbackQuery | None] = Field(wrap=CallbackQuery)
    inline_query: Field[InlineQuery | None] = Field(wrap=InlineQuery)
