"""Facts read straight from a raw update dict, without building any object.

Each table maps an update kind (the update's only key besides ``update_id``) to a
small function of that kind's payload. The Context looks the function up once per
property access; nothing here allocates beyond the dict lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "MESSAGE_KINDS",
    "business_connection_id_of",
    "chat_id_of",
    "message_of",
    "thread_id_of",
    "update_kind",
    "user_id_of",
]

Payload = dict[str, Any]

MESSAGE_KINDS = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_message",
        "edited_business_message",
        "guest_message",
    }
)
"""Update kinds whose payload is a Message."""


def update_kind(update: Payload) -> str | None:
    """The update's kind: its first key other than ``update_id`` (None if there is none)."""
    for key in update:
        if key != "update_id":
            return key
    return None


def message_of(kind: str | None, payload: Any) -> Payload | None:
    """The raw message of a message update or of a callback query (None otherwise)."""
    if kind in MESSAGE_KINDS:
        return payload  # type: ignore[no-any-return]
    if kind == "callback_query":
        return payload.get("message")  # type: ignore[no-any-return]
    return None


def _chat_id(payload: Payload) -> int | None:
    chat = payload.get("chat")
    return None if chat is None else chat.get("id")


def _callback_chat_id(payload: Payload) -> int | None:
    message = payload.get("message")
    return None if message is None else _chat_id(message)


def _business_connection_chat_id(payload: Payload) -> int | None:
    return payload.get("user_chat_id")


_CHAT_ID: dict[str, Callable[[Payload], int | None]] = {
    **dict.fromkeys(MESSAGE_KINDS, _chat_id),
    **dict.fromkeys(
        (
            "deleted_business_messages",
            "message_reaction",
            "message_reaction_count",
            "my_chat_member",
            "chat_member",
            "chat_join_request",
            "chat_boost",
            "removed_chat_boost",
        ),
        _chat_id,
    ),
    "callback_query": _callback_chat_id,
    "business_connection": _business_connection_chat_id,
}


def chat_id_of(kind: str | None, payload: Any) -> int | None:
    """The chat the update belongs to, if any."""
    getter = _CHAT_ID.get(kind)  # type: ignore[arg-type]
    return None if getter is None else getter(payload)


def _from_id(payload: Payload) -> int | None:
    sender = payload.get("from")
    return None if sender is None else sender.get("id")


def _user_id(payload: Payload) -> int | None:
    user = payload.get("user")
    return None if user is None else user.get("id")


def _boost_source_user_id(payload: Payload) -> int | None:
    source = payload.get("source")
    if source is None:
        boost = payload.get("boost")
        source = None if boost is None else boost.get("source")
    return None if source is None else _user_id(source)


_USER_ID: dict[str, Callable[[Payload], int | None]] = {
    **dict.fromkeys(MESSAGE_KINDS, _from_id),
    **dict.fromkeys(
        (
            "callback_query",
            "inline_query",
            "chosen_inline_result",
            "shipping_query",
            "pre_checkout_query",
            "my_chat_member",
            "chat_member",
            "chat_join_request",
            "purchased_paid_media",
        ),
        _from_id,
    ),
    "business_connection": _user_id,
    "message_reaction": _user_id,
    "poll_answer": _user_id,
    "chat_boost": _boost_source_user_id,
    "removed_chat_boost": _boost_source_user_id,
}


def user_id_of(kind: str | None, payload: Any) -> int | None:
    """The id of the user who caused the update, if any."""
    getter = _USER_ID.get(kind)  # type: ignore[arg-type]
    return None if getter is None else getter(payload)


def thread_id_of(kind: str | None, payload: Any) -> int | None:
    """``message_thread_id`` of a forum-topic message (or the callback query's message)."""
    message = message_of(kind, payload)
    if message is None or not message.get("is_topic_message"):
        return None
    return message.get("message_thread_id")


def business_connection_id_of(kind: str | None, payload: Any) -> str | None:
    """The business connection an update arrived through, if any."""
    if kind == "business_connection":
        return payload.get("id")  # type: ignore[no-any-return]
    if kind == "deleted_business_messages":
        return payload.get("business_connection_id")  # type: ignore[no-any-return]
    message = message_of(kind, payload)
    return None if message is None else message.get("business_connection_id")
