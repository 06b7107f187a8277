"""Built-in key strategies read only the KeyContext attributes."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions import keys, session
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, run, touch


def ctx(
    chat: int | None = -100, user: int | None = 7, thread: int | None = None, bc: str | None = None
) -> FakeContext:
    return FakeContext(chat, user_id=user, thread_id=thread, business_connection_id=bc)


@pytest.mark.parametrize(
    ("strategy", "context", "expected"),
    [
        (keys.per_chat, ctx(), "-100"),
        (keys.per_chat, ctx(chat=None), None),
        (keys.per_user, ctx(), "7"),
        (keys.per_user, ctx(user=None), None),
        (keys.per_user_in_chat, ctx(), "-100:7"),
        (keys.per_user_in_chat, ctx(user=None), None),
        (keys.per_topic, ctx(thread=5), "-100/5"),
        (keys.per_topic, ctx(), "-100"),
        (keys.per_topic, ctx(chat=None), None),
        (keys.per_user_in_topic, ctx(thread=5), "-100/5:7"),
        (keys.per_user_in_topic, ctx(), "-100:7"),
        (keys.per_user_in_topic, ctx(chat=None), None),
        (keys.per_business_chat, ctx(bc="abc"), "abc:-100"),
        (keys.per_business_chat, ctx(), "-100"),
        (keys.per_business_chat, ctx(chat=None, bc="abc"), None),
    ],
)
def test_strategy_gives_the_documented_key(
    strategy: object, context: FakeContext, expected: str | None
) -> None:
    assert strategy(context) == expected  # type: ignore[operator]


async def test_a_strategy_plugs_into_session() -> None:
    storage = RecordingStorage()
    await run(session(initial=dict, get_session_key=keys.per_user, storage=storage), ctx(), touch)
    assert storage.calls == [("read", "7"), ("write", "7", {})]


class BotChatContext(FakeContext):
    """A key context that knows which bot received the update."""

    def __init__(self, chat_id: int | None, bot_id: int | None) -> None:
        super().__init__(chat_id)
        self.bot_id = bot_id


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (BotChatContext(-100, 5), "5:-100"),
        (BotChatContext(None, 5), None),
        (BotChatContext(-100, None), None),  # never merged with other bots' chat sessions
        (ctx(), None),  # a context without bot_id
    ],
)
def test_per_bot_chat_keys_by_bot_and_chat(context: FakeContext, expected: str | None) -> None:
    assert keys.per_bot_chat(context) == expected  # type: ignore[arg-type]


async def test_per_bot_chat_keeps_two_bots_apart_in_one_storage() -> None:
    storage = RecordingStorage()
    counter = session(initial=dict, get_session_key=keys.per_bot_chat, storage=storage)
    await run(counter, BotChatContext(7, 1), touch)
    await run(counter, BotChatContext(7, 2), touch)
    assert sorted([key async for key in counter.keys()]) == ["1:7", "2:7"]  # noqa: SIM118 (an async iterator)


async def test_the_bot_layer_context_knows_its_bot_id() -> None:
    from botsessions import Bot

    bot = Bot("5:TOKEN", bot_info={"id": 5, "is_bot": True, "first_name": "B", "username": "b"})
    storage = RecordingStorage()
    bot.use(session(initial=dict, get_session_key=keys.per_bot_chat, storage=storage))

    @bot.use
    async def touch_session(ctx: Any, next: Any) -> None:
        ctx.session["seen"] = True

    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "A"},
            "text": "hi",
        },
    }
    await bot.handle_update(update)
    assert storage.storage.read("5:7") == {"seen": True}
