"""State of the local Bot API server: bots, chats, messages and update queues.

Everything here runs on the server's event loop. Waiting is done on "signals": an
``asyncio.Event`` that is set and replaced each time something new arrives, so any
number of waiters wake up once per change.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = [
    "DEFAULT_UPDATES",
    "ApiError",
    "BotState",
    "ChatState",
    "Hub",
    "Signal",
    "WebhookState",
]

# Telegram's default when allowed_updates is not set (or set to []).
DEFAULT_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


class ApiError(Exception):
    """A Bot API error response: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class Signal:
    """Wakes every current waiter once per ``fire()``."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def wait(self) -> Coroutine[Any, Any, bool]:
        # Bound to the current event now, not when the coroutine first runs, so a fire()
        # between creating a waiting task and that task starting is not missed.
        return self._event.wait()


def now() -> int:
    """Unix time in whole seconds, as Telegram's ``date`` fields."""
    return int(time.time())


class ChatState:
    """One chat as one bot sees it: message ids, messages, and what the bot sent."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.next_message_id = 1
        self.messages: dict[int, dict[str, Any]] = {}
        self.bot_events: list[dict[str, Any]] = []  # snapshots of sent and edited messages
        self.changed = Signal()
        self.topics: dict[int, str] = {}

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def is_forum(self) -> bool:
        return bool(self.info.get("is_forum"))

    def add_message(
        self,
        sender: dict[str, Any],
        fields: dict[str, Any],
        *,
        thread_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a new message from ``sender`` with the next message id and return it."""
        message: dict[str, Any] = {
            "message_id": self.next_message_id,
            "from": sender,
            "chat": self.info,
            "date": now(),
        }
        self.next_message_id += 1
        if thread_id is not None and self.is_forum:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k != "reply_to_message"
            }
        message.update(fields)
        self.messages[message["message_id"]] = message
        return message

    def record_bot_event(self, message: dict[str, Any]) -> None:
        self.bot_events.append(copy.deepcopy(message))
        self.changed.fire()


class WebhookState:
    """A webhook set by setWebhook, with its delivery bookkeeping."""

    def __init__(self, url: str, secret: str | None, max_connections: int) -> None:
        self.url = url
        self.secret = secret
        self.max_connections = max_connections
        self.in_flight: set[int] = set()
        self.parked: set[int] = set()  # gave up retrying; tried again on the next kick
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None


class BotState:
    """One bot: its user object, update queue, webhook, chats and call log."""

    def __init__(self, token: str, user: dict[str, Any]) -> None:
        self.token = token
        self.user = user
        self.next_update_id = 1
        self.pending: list[dict[str, Any]] = []
        self.allowed = DEFAULT_UPDATES
        self.allowed_list: list[str] | None = None
        self.arrived = Signal()
        self.poller: asyncio.Future[None] | None = None
        self.webhook: WebhookState | None = None
        self.chats: dict[int, ChatState] = {}
        self.inline_messages: dict[str, dict[str, Any]] = {}
        self.queries: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        self.answered = Signal()
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.called = Signal()

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def set_allowed(self, allowed: list[str] | None) -> None:
        """Apply an ``allowed_updates`` parameter (``None``: keep the previous setting)."""
        if allowed is None:
            return
        self.allowed_list = allowed
        self.allowed = frozenset(allowed) if allowed else DEFAULT_UPDATES

    def chat(self, chat_id: int | str) -> ChatState:
        """The chat with this id or ``@username``, else "chat not found"."""
        if isinstance(chat_id, str):
            for chat in self.chats.values():
                if chat.info.get("username") and f"@{chat.info['username']}" == chat_id:
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        found = self.chats.get(chat_id)
        if found is None:
            raise ApiError(400, "Bad Request: chat not found")
        return found


class Hub:
    """Everything the server knows, plus the tasks it owns (webhook deliveries)."""

    def __init__(self) -> None:
        self.bots: dict[str, BotState] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.ids = itertools.count(10_000_001)  # user ids; chats use them or their negatives
        self.query_ids = itertools.count(1)
        self.on_enqueue: Callable[[BotState], None] = lambda bot: None
        self.execute: Callable[[BotState, str, dict[str, Any]], Awaitable[object]] | None = None

    def spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.ensure_future(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def enqueue(self, bot: BotState, body: dict[str, Any]) -> dict[str, Any]:
        """Create an update for ``bot`` (dropped when its type is not allowed) and return it."""
        update = {"update_id": bot.next_update_id, **body}
        bot.next_update_id += 1
        kind = next((k for k in body if k != "update_id"), None)
        if kind in bot.allowed:
            bot.pending.append(update)
            bot.arrived.fire()
            self.on_enqueue(bot)
        return update
