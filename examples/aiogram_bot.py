"""Count the messages in every chat: an aiogram 3 bot with botsessions.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/aiogram_bot.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import Message

from botsessions.integrations.aiogram import SessionHandle, setup_sessions


def build_dispatcher() -> Dispatcher:
    """The counter bot's Dispatcher: one in-memory session per chat."""
    dp = Dispatcher()
    setup_sessions(dp, initial=lambda: {"count": 0})

    @dp.message(Command("reset"))
    async def reset(message: Message, session_handle: SessionHandle[dict[str, int]]) -> None:
        session_handle.delete()  # the stored session is removed when the handler returns
        await message.answer("Counter reset.")

    @dp.message()
    async def count(message: Message, session: dict[str, int]) -> None:
        session["count"] += 1  # changed in place: saved after the handler
        await message.answer(f"Messages in this chat: {session['count']}")

    return dp


async def main() -> None:
    server = os.environ.get("BOT_API_SERVER")
    http = AiohttpSession(api=TelegramAPIServer.from_base(server)) if server else None
    bot = Bot(os.environ["BOT_TOKEN"], session=http)
    await build_dispatcher().start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
