"""grammY's LazySessionFlavor: the session is read only by handlers that await it."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import assert_type

from botsessions import Bot, LazyContext, Middleware, NextFn, lazy_session


@dataclass
class SessionData:
    score: int = 0


async def fresh() -> SessionData:
    return SessionData(score=10)


def build_bot() -> Bot:
    bot = Bot("123:abc")
    bot.use(lazy_session(initial=SessionData))

    @bot.use
    async def timing(ctx: LazyContext[SessionData], next: NextFn) -> None:
        await next()  # never touches the session: no storage call

    @bot.command("point")
    async def point(ctx: LazyContext[SessionData]) -> None:
        assert_type(ctx.session, Awaitable[SessionData])
        data = await ctx.session
        assert_type(data, SessionData)
        data.score += 1
        await ctx.reply(f"Score: {data.score}")

    @bot.command("reset")
    async def reset(ctx: LazyContext[SessionData]) -> None:
        ctx.session = None  # delete
        ctx.session = SessionData()  # replace, the read is skipped
        ctx.session = fresh()  # or an awaitable of the new value

    async def has_chat(ctx: LazyContext[SessionData]) -> bool:
        return ctx.chat_id is not None

    bot.filter(has_chat, point)
    bot.on(["message:text", "edited_message"]).hears("score", point)
    return bot


def passthrough() -> Middleware[LazyContext[SessionData]]:
    async def mw(ctx: LazyContext[SessionData], next: NextFn) -> None:
        await next()

    return mw


bot = build_bot()
bot.use(passthrough())
