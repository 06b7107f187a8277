"""Raw Bot API updates for the integration tests (plain dicts, as Telegram sends them)."""

from __future__ import annotations

from typing import Any


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}


def message(
    update_id: int,
    chat_id: int,
    *,
    user_id: int | None = None,
    text: str = "hello",
    thread_id: int | None = None,
) -> dict[str, Any]:
    """A text message; a group chat when ``user_id`` differs from ``chat_id``."""
    sender = chat_id if user_id is None else user_id
    chat_type = "private" if sender == chat_id else "supergroup"
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": 1700000000,
        "chat": {"id": chat_id, "type": chat_type},
        "from": user(sender),
        "text": text,
    }
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if thread_id is not None:
        msg["message_thread_id"] = thread_id
        msg["is_topic_message"] = True
        msg["chat"]["is_forum"] = True
    return {"update_id": update_id, "message": msg}


def business_message(update_id: int, chat_id: int, connection_id: str) -> dict[str, Any]:
    update = message(update_id, chat_id)
    msg = update.pop("message")
    msg["business_connection_id"] = connection_id
    return {"update_id": update_id, "business_message": msg}


def inline_query(update_id: int, user_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "inline_query": {"id": str(update_id), "from": user(user_id), "query": "q", "offset": ""},
    }
