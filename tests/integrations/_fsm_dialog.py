"""An aiogram_dialog dialog for the FSM tests: name, then age, then a summary.

``make_dispatcher(storage)`` builds everything afresh (Dispatcher, dialog, registry,
message manager), as a restarted bot process would, over the given botsessions storage.
"""

from __future__ import annotations

from typing import Any

from aiogram import Dispatcher
from aiogram.filters import CommandStart
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.types import Message
from aiogram_dialog import Dialog, DialogManager, StartMode, Window, setup_dialogs
from aiogram_dialog.test_tools import MockMessageManager
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Button
from aiogram_dialog.widgets.text import Const, Format

from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation


class Form(StatesGroup):
    name = State()
    age = State()
    summary = State()


async def got_name(message: Message, widget: Any, manager: DialogManager) -> None:
    manager.dialog_data["name"] = message.text
    await manager.next()


async def got_age(message: Message, widget: Any, manager: DialogManager) -> None:
    manager.dialog_data["age"] = int(message.text or "0")
    await manager.next()


async def summary(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    return dict(dialog_manager.dialog_data)


async def back_to_age(callback: Any, button: Any, manager: DialogManager) -> None:
    await manager.switch_to(Form.age)


def make_dialog() -> Dialog:
    return Dialog(
        Window(Const("What is your name?"), MessageInput(got_name), state=Form.name),
        Window(Const("How old are you?"), MessageInput(got_age), state=Form.age),
        Window(
            Format("{name}, {age}"),
            Button(Const("Change age"), id="change_age", on_click=back_to_age),
            state=Form.summary,
            getter=summary,
        ),
    )


def make_dispatcher(storage: Any) -> tuple[Dispatcher, MockMessageManager]:
    """A fresh bot over ``storage``: FSM, isolation and dialog stacks all live there."""
    keys = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
    isolation = SessionIsolation(storage, key_builder=keys)
    dp = Dispatcher(storage=FSMStorage(storage, key_builder=keys), events_isolation=isolation)

    @dp.message(CommandStart())
    async def start(message: Message, dialog_manager: DialogManager) -> None:
        await dialog_manager.start(Form.name, mode=StartMode.RESET_STACK)

    dp.include_router(make_dialog())
    messages = MockMessageManager()  # type: ignore[no-untyped-call]
    setup_dialogs(dp, message_manager=messages, events_isolation=isolation)
    return dp, messages
