"""aiogram: handlers annotate the injected session; setup_sessions' result opens one typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

from aiogram import Dispatcher
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from botsessions.integrations.aiogram import SessionHandle, setup_sessions


@dataclass
class SessionData:
    count: int = 0


dp = Dispatcher()
sessions = setup_sessions(dp, initial=SessionData)


@dp.message(Command("count"))
async def count(message: Message, session: SessionData) -> None:
    session.count += 1


@dp.message(Command("forget"))
async def forget(message: Message, session_handle: SessionHandle[SessionData]) -> None:
    session_handle.data = None


@dp.message(Command("reset"))
async def reset(message: Message, command: CommandObject) -> None:
    async with sessions.open(str(command.args)) as handle:
        assert_type(handle.data, SessionData)
        handle.data.count = 0
    async for key, value in sessions.entries():
        assert_type(key, str)
        assert_type(value, SessionData)
