"""A multi-step form with aiogram's FSM, kept in SQLite: it survives a restart.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/aiogram_form.py

Send /start, answer the questions, stop the bot halfway and start it again: the form
goes on where it was. ``FORM_DB`` names the SQLite file (default ``form.db``); set
``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import asyncio
import os

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from botsessions.integrations.aiogram import FSMStorage, SessionIsolation
from botsessions.storage import SQLiteStorage


class Form(StatesGroup):
    name = State()
    age = State()
    confirm = State()


def build_dispatcher(store: SQLiteStorage) -> Dispatcher:
    """The form bot: FSM state and data in ``store``, one update per chat at a time."""
    dp = Dispatcher(storage=FSMStorage(store), events_isolation=SessionIsolation(store))

    @dp.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.clear()
        await state.set_state(Form.name)
        await message.answer("What is your name?")

    @dp.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext) -> None:
        await state.clear()  # deletes the stored record
        await message.answer("Cancelled. Send /start to begin again.")

    @dp.message(Form.name, F.text)
    async def name(message: Message, state: FSMContext) -> None:
        await state.update_data(name=message.text)
        await state.set_state(Form.age)
        await message.answer("How old are you?")

    @dp.message(Form.age, F.text)
    async def age(message: Message, state: FSMContext) -> None:
        if not (message.text or "").isdigit():
            await message.answer("Please send your age as a number.")
            return
        data = await state.update_data(age=int(message.text or "0"))
        await state.set_state(Form.confirm)
        await message.answer(f"{data['name']}, {data['age']}. Is that right? (yes/no)")

    @dp.message(Form.confirm, F.text.lower() == "yes")
    async def confirm(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await message.answer(f"Thank you, {data['name']}!")

    @dp.message(Form.confirm)
    async def again(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await message.answer("Let's try again. What is your name?")

    @dp.message()
    async def idle(message: Message) -> None:
        await message.answer("Send /start to fill in the form.")

    return dp


async def main() -> None:
    server = os.environ.get("BOT_API_SERVER")
    http = AiohttpSession(api=TelegramAPIServer.from_base(server)) if server else None
    bot = Bot(os.environ["BOT_TOKEN"], session=http)
    async with SQLiteStorage(os.environ.get("FORM_DB", "form.db")) as store:
        await build_dispatcher(store).start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
