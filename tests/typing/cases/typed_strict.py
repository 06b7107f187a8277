"""grammY's SessionFlavor: a counter whose session is a dataclass, every decorator used."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, assert_type

from botsessions import Bot, Composer, Context, Middleware, NextFn, session


@dataclass
class SessionData:
    count: int = 0
    seen: list[str] = field(default_factory=list)


def build_bot() -> Bot:
    bot = Bot("123:abc")
    bot.use(session(initial=SessionData))

    @bot.use
    async def count_every_update(ctx: Context[SessionData], next: NextFn) -> None:
        ctx.session.count += 1
        await next()

    @bot.on("message:text")
    async def remember(ctx: Context[SessionData], next: NextFn) -> None:
        assert_type(ctx.session, SessionData)
        if ctx.message is not None and ctx.message.text is not None:
            ctx.session.seen.append(ctx.message.text)
        await next()

    @bot.command("count")
    async def show(ctx: Context[SessionData]) -> None:
        await ctx.reply(f"{ctx.session.count} updates")

    @bot.command("reset")
    async def reset(ctx: Context[SessionData]) -> None:
        ctx.session = None  # deletes the stored session
        ctx.session = SessionData()  # or replaces it

    @bot.hears(re.compile(r"🍕"))
    async def pizza(ctx: Context[SessionData]) -> None:
        ctx.session.count += 1

    @bot.callback_query("again")
    async def again(ctx: Context[SessionData]) -> None:
        await ctx.answer_callback_query(f"{ctx.session.count}")

    def in_groups(ctx: Context[SessionData]) -> bool:
        return ctx.chat is not None and ctx.chat.type != "private"

    @bot.filter(in_groups)
    async def group_only(ctx: Context[SessionData]) -> None:
        ctx.session.count = 0

    # The decorators return the function with its own type.
    kept: Callable[[Context[SessionData]], Coroutine[Any, Any, None]] = show

    admin = Composer()
    admin.command("stats", kept)
    bot.use(admin)
    return bot


def logger() -> Middleware[Context[SessionData]]:
    async def log(ctx: Context[SessionData], next: NextFn) -> None:
        await next()
        print(ctx.session.count)

    return log


def untyped(ctx: Context) -> None:
    # A bare Context is Context[Any]: anything goes, as before.
    ctx.session = {"anything": 1}


bot = build_bot()
bot.use(logger())
