"""python-telegram-bot: SessionContext[S] types context.session; application.sessions opens one."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, assert_type

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from botsessions.integrations.ptb import SessionApplication, SessionContext, setup_sessions


@dataclass
class SessionData:
    count: int = 0


async def count(update: Update, context: SessionContext[SessionData]) -> None:
    assert_type(context.session, SessionData)
    context.session.count += 1
    context.session = SessionData(count=0)
    context.session = None  # deletes


async def lazy(update: Update, context: SessionContext[Awaitable[SessionData]]) -> None:
    data = await context.session
    assert_type(data, SessionData)


async def untyped(update: Update, context: SessionContext) -> None:
    assert_type(context.session, Any)


async def reset_job(context: SessionContext) -> None:
    application = context.application
    assert isinstance(application, SessionApplication)
    async with application.sessions.open("42") as handle:
        handle.data = None


def build() -> Application[Any, Any, Any, Any, Any, Any]:
    app = setup_sessions(Application.builder().token("1:abc"), initial=SessionData).build()
    app.add_handler(MessageHandler(filters.TEXT, count))
    app.add_handler(CommandHandler("lazy", lazy))
    app.add_handler(CommandHandler("untyped", untyped))
    return app
