"""Raw update builders and a network-free Bot for the bot layer's tests."""

from __future__ import annotations

import itertools
from typing import Any

from botsessions import Bot

BOT_INFO: dict[str, Any] = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Test Bot",
    "username": "test_bot",
}
USER: dict[str, Any] = {"id": 7, "is_bot": False, "first_name": "Alice"}
PRIVATE: dict[str, Any] = {"id": 7, "type": "private", "first_name": "Alice"}
GROUP: dict[str, Any] = {"id": -1001, "type": "supergroup", "title": "G", "is_forum": True}
CHANNEL: dict[str, Any] = {"id": -1002, "type": "channel", "title": "C"}

_ids = itertools.count(1)


def make_bot(**kwargs: Any) -> Bot:
    """A Bot that knows itself (no getMe) and never needs the network for dispatch."""
    return Bot("4242:test-token", bot_info=BOT_INFO, **kwargs)


def message(
    text: str | None = "hello", *, chat: dict[str, Any] = PRIVATE, **fields: Any
) -> dict[str, Any]:
    """A raw Message dict."""
    body: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 1_700_000_000,
        "chat": chat,
        "from": USER,
    }
    if text is not None:
        body["text"] = text
    body.update(fields)
    return body


def update(kind: str = "message", payload: Any = None, **fields: Any) -> dict[str, Any]:
    """A raw update ``{"update_id": n, kind: payload}`` (a text message by default)."""
    return {"update_id": next(_ids), kind: message(**fields) if payload is None else payload}


def text(value: str, **fields: Any) -> dict[str, Any]:
    """A text message update."""
    return update("message", message(value, **fields))


def callback(data: str | None = "go", *, with_message: bool = True) -> dict[str, Any]:
    """A callback query update (with or without the message the button was on)."""
    query: dict[str, Any] = {"id": str(next(_ids)), "from": USER, "chat_instance": "1"}
    if data is not None:
        query["data"] = data
    if with_message:
        query["message"] = message("pick one", **{"from": BOT_INFO})
    else:
        query["inline_message_id"] = "inline-1"
    return update("callback_query", query)
