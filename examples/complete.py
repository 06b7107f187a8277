"""The complete example: a message counter with /stats, /theme and /reset.

grammY's version registered ``bot.on("message")`` first and never called
``next``, so the commands after it could never run: every command is a message
too. Here the counter counts the message and then calls ``next()``, so the
commands registered after it still get their turn.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/complete.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any, TypedDict

from botsessions import (
    Bot,
    BotError,
    Context,
    MemorySessionStorage,
    NextFn,
    StorageAdapter,
    session,
)

THEMES = ("light", "dark")


class Stats(TypedDict):
    """The session of a chat: a plain dict, typed for the type checker."""

    messages: int
    theme: str


def initial() -> Stats:
    """A fresh session for a new chat (a new dict every time, never a shared one)."""
    return {"messages": 0, "theme": "light"}


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the complete bot; ``storage`` defaults to a fresh in-memory storage."""
    bot = Bot(token, api_server=api_server)

    bot.use(
        session(initial=initial, storage=MemorySessionStorage() if storage is None else storage)
    )

    @bot.on("message")
    async def count(ctx: Context[Stats], next: NextFn) -> None:
        ctx.session["messages"] += 1
        await next()  # the fix: let the command handlers below see the message too

    @bot.command("stats")
    async def stats(ctx: Context[Stats]) -> None:
        await ctx.reply(f"Messages in this chat: {ctx.session['messages']}")

    @bot.command("theme")
    async def theme(ctx: Context[Stats]) -> None:
        choice = ctx.match  # a command's match: the text after it
        if not isinstance(choice, str) or choice not in THEMES:
            await ctx.reply("Usage: /theme light|dark")
            return
        ctx.session["theme"] = choice
        await ctx.reply(f"Theme set to {choice}")

    @bot.command("reset")
    async def reset(ctx: Context[Stats]) -> None:
        ctx.session = None  # deleted when this update ends
        await ctx.reply("Session reset.")

    async def on_error(err: BotError) -> None:
        print(f"{err}")  # a real bot would log it; polling goes on

    bot.catch(on_error)
    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
