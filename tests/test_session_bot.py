"""Sessions through the real bot layer: Bot.handle_update with raw update dicts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botsessions import Bot, BotError, Context, MemorySessionStorage, SessionKeyError, session
from tests.integrations._updates import message

BOT_INFO = {"id": 1, "is_bot": True, "first_name": "Test", "username": "test_bot"}
TOKEN = "123456:TEST-token"


async def test_a_counter_session_persists_across_updates() -> None:
    storage = MemorySessionStorage[Any]()
    bot = Bot(TOKEN, bot_info=BOT_INFO)
    bot.use(session(initial=lambda: {"count": 0}, storage=storage))

    @bot.use
    async def count(ctx: Context, next: Any) -> None:
        ctx.session["count"] += 1
        assert ctx.session_key == "7"

    for i in range(3):
        await bot.handle_update(message(i, 7))
    assert storage.read("7") == {"count": 3}


async def test_concurrent_updates_of_one_chat_through_the_bot_lose_nothing() -> None:
    storage = MemorySessionStorage[Any]()
    bot = Bot(TOKEN, bot_info=BOT_INFO)
    bot.use(session(initial=lambda: {"count": 0}, storage=storage))

    @bot.use
    async def count(ctx: Context, next: Any) -> None:
        value = ctx.session["count"]
        await asyncio.sleep(0)
        ctx.session["count"] = value + 1

    await asyncio.gather(*(bot.handle_update(message(i, 7)) for i in range(200)))
    assert storage.read("7") == {"count": 200}


async def test_an_update_without_a_chat_raises_session_key_error_when_touched() -> None:
    bot = Bot(TOKEN, bot_info=BOT_INFO)
    bot.use(session(initial=dict))

    @bot.use
    async def handler(ctx: Context, next: Any) -> None:
        _ = ctx.session

    inline = {
        "update_id": 1,
        "inline_query": {
            "id": "q",
            "from": {"id": 5, "is_bot": False, "first_name": "U"},
            "query": "",
            "offset": "",
        },
    }
    with pytest.raises(BotError) as error:
        await bot.handle_update(inline)
    assert isinstance(error.value.error, SessionKeyError)
