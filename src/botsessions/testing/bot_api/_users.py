"""Acting as Telegram users against the local Bot API server: ChatUser and Group."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol, TypeVar

from botsessions.testing.bot_api._markup import command_entities
from botsessions.testing.bot_api._state import BotState, ChatState, Hub, now

__all__ = ["ChatUser", "Group"]

T = TypeVar("T")


class OnLoop(Protocol):
    """Runs a coroutine on the server's event loop, from whichever loop awaits it."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> Awaitable[T]: ...


class Group:
    """A supergroup (optionally a forum) that one bot is a member of.

    Create one with ``LocalBotAPI.group()``; put users in it with ``ChatUser.join()``.
    """

    def __init__(self, hub: Hub, bot: BotState, chat: ChatState) -> None:
        self._hub = hub
        self._bot = bot
        self._chat = chat

    @property
    def id(self) -> int:
        """The chat id (negative, like every Telegram supergroup)."""
        return self._chat.id

    @property
    def info(self) -> dict[str, Any]:
        """The Telegram ``Chat`` object."""
        return self._chat.info

    def create_topic(self, name: str) -> int:
        """Create a forum topic and return its ``message_thread_id``.

        Raises:
            ValueError: when the group was not created with ``forum=True``.
        """
        if not self._chat.is_forum:
            raise ValueError("create_topic() needs a forum: use api.group(token, forum=True)")
        service = self._chat.add_message(
            self._bot.user, {"forum_topic_created": {"name": name, "icon_color": 7322096}}
        )
        thread_id = int(service["message_id"])
        service["message_thread_id"] = thread_id
        self._chat.topics[thread_id] = name
        return thread_id


class ChatUser:
    """A Telegram user writing to one bot in one chat (and optionally one forum topic).

    ``send()``/``press()``/``edit()`` create updates for the bot; ``reply()`` waits for
    the next message the bot sends or edits here. Every coroutine may be awaited from
    any event loop: calls from another thread are forwarded to the server's loop.
    """

    def __init__(
        self,
        hub: Hub,
        bot: BotState,
        user: dict[str, Any],
        chat: ChatState,
        on_loop: OnLoop,
        thread_id: int | None = None,
    ) -> None:
        self._hub, self._bot, self._chat, self._on_loop = hub, bot, chat, on_loop
        self.user = user
        self.thread_id = thread_id
        self._cursor = len(chat.bot_events)

    @property
    def id(self) -> int:
        """The user's id."""
        return int(self.user["id"])

    @property
    def chat(self) -> dict[str, Any]:
        """The Telegram ``Chat`` object of this chat."""
        return self._chat.info

    @property
    def chat_id(self) -> int:
        return self._chat.id

    def join(self, group: Group, *, topic: int | None = None) -> ChatUser:
        """The same user, writing in ``group`` (inside forum ``topic`` when given).

        Raises:
            ValueError: when the group belongs to another bot or the topic does not exist.
        """
        if group._bot is not self._bot:
            raise ValueError("this group was created for another bot")
        if topic is not None and topic not in group._chat.topics:
            raise ValueError(f"no topic {topic} in this group: use group.create_topic()")
        return ChatUser(self._hub, self._bot, self.user, group._chat, self._on_loop, topic)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every message of this chat (topic), oldest first, as it is now (edits applied)."""
        return [copy.deepcopy(m) for m in self._chat.messages.values() if self._in_thread(m)]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The messages the bot sent to this chat (topic), oldest first, as they are now."""
        return [m for m in self.history if m.get("from", {}).get("id") == self._bot.id]

    async def send(
        self, text: str, *, reply_to: dict[str, Any] | int | None = None
    ) -> dict[str, Any]:
        """Send a text message; ``/commands`` get ``bot_command`` entities. Returns the message."""
        return await self._on_loop(self._send(text, reply_to))

    async def _send(self, text: str, reply_to: dict[str, Any] | int | None) -> dict[str, Any]:
        if not text:
            raise ValueError("Telegram users cannot send an empty message")
        fields: dict[str, Any] = {"text": text}
        if entities := command_entities(text):
            fields["entities"] = entities
        target = self._message(reply_to) if reply_to is not None else None
        message = self._chat.add_message(
            self.user, fields, thread_id=self.thread_id, reply_to=target
        )
        self._hub.enqueue(self._bot, {"message": copy.deepcopy(message)})
        return copy.deepcopy(message)

    async def edit(self, message: dict[str, Any] | int, text: str) -> dict[str, Any]:
        """Edit one of this user's messages; the bot gets an ``edited_message`` update."""
        return await self._on_loop(self._edit(message, text))

    async def _edit(self, message: dict[str, Any] | int, text: str) -> dict[str, Any]:
        stored = self._message(message)
        if stored.get("from", {}).get("id") != self.id:
            raise ValueError("users can only edit their own messages")
        stored["text"] = text
        stored.pop("entities", None)
        if entities := command_entities(text):
            stored["entities"] = entities
        stored["edit_date"] = now()
        self._hub.enqueue(self._bot, {"edited_message": copy.deepcopy(stored)})
        return copy.deepcopy(stored)

    async def press(
        self, data: str, *, message: dict[str, Any] | int | None = None
    ) -> dict[str, Any]:
        """Press the inline button with this ``callback_data``; returns the callback query.

        ``message`` defaults to the newest bot message here that has an inline keyboard.

        Raises:
            ValueError: when no such message or button exists (list of buttons included).
        """
        return await self._on_loop(self._press(data, message))

    async def _press(self, data: str, message: dict[str, Any] | int | None) -> dict[str, Any]:
        stored = self._message(message) if message is not None else self._last_keyboard()
        rows = stored.get("reply_markup", {}).get("inline_keyboard", [])
        offered = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
        if data not in offered:
            raise ValueError(
                f"message {stored['message_id']} has no button with callback_data {data!r}; "
                f"its buttons carry {offered!r}"
            )
        query: dict[str, Any] = {
            "id": str(next(self._hub.query_ids)),
            "from": self.user,
            "message": copy.deepcopy(stored),
            "chat_instance": str(self._chat.id),
            "data": data,
        }
        self._bot.queries[query["id"]] = query
        self._hub.enqueue(self._bot, {"callback_query": copy.deepcopy(query)})
        return copy.deepcopy(query)

    async def callback_answer(
        self,
        query: dict[str, Any] | str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait for the bot's answerCallbackQuery to ``query`` and return its parameters.

        Raises:
            TimeoutError: when the bot did not answer within ``timeout`` seconds.
        """
        return await self._on_loop(self._callback_answer(query, timeout))

    async def _callback_answer(self, query: dict[str, Any] | str, seconds: float) -> dict[str, Any]:
        query_id = query if isinstance(query, str) else str(query["id"])
        try:
            async with asyncio.timeout(seconds):
                while query_id not in self._bot.answers:
                    await self._bot.answered.wait()
        except TimeoutError:
            raise TimeoutError(
                f"the bot did not answer callback query {query_id} within {seconds} s"
            ) from None
        return dict(self._bot.answers[query_id])

    async def reply(self, *, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The next message the bot sent (or edited) in this chat, waiting if needed.

        Each call returns the next one, so no reply is missed or returned twice.

        Raises:
            TimeoutError: when nothing arrives within ``timeout`` seconds.
        """
        return await self._on_loop(self._reply(timeout))

    async def _reply(self, seconds: float) -> dict[str, Any]:
        events = self._chat.bot_events
        try:
            async with asyncio.timeout(seconds):
                while True:
                    while self._cursor < len(events):
                        event = events[self._cursor]
                        self._cursor += 1
                        if self._in_thread(event):
                            return copy.deepcopy(event)
                    await self._chat.changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"the bot sent nothing to chat {self._chat.id} within {seconds} s"
            ) from None

    async def inject(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update body such as ``{"message_reaction": {...}}``; returns the update."""
        return await self._on_loop(self._inject(body))

    async def _inject(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._hub.enqueue(self._bot, {k: v for k, v in body.items() if k != "update_id"})

    def _in_thread(self, message: dict[str, Any]) -> bool:
        return self.thread_id is None or message.get("message_thread_id") == self.thread_id

    def _message(self, ref: dict[str, Any] | int) -> dict[str, Any]:
        message_id = ref if isinstance(ref, int) else int(ref["message_id"])
        stored = self._chat.messages.get(message_id)
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {self._chat.id}")
        return stored

    def _last_keyboard(self) -> dict[str, Any]:
        for message in reversed(self._chat.messages.values()):
            if (
                message.get("from", {}).get("id") == self._bot.id
                and "reply_markup" in message
                and self._in_thread(message)
            ):
                return message
        raise ValueError(f"the bot sent no message with an inline keyboard to {self._chat.id}")
