"""grammY's classic pizza counter: send 🍕 to get hungrier, ask /hunger, /reset to start over.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/pizza.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
import re
from dataclasses import dataclass
from typing import Any

from botsessions import Bot, Context, MemorySessionStorage, StorageAdapter, session


@dataclass
class SessionData:
    """What the bot remembers about each chat."""

    pizza_count: int = 0


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the pizza bot; ``storage`` defaults to a fresh in-memory storage."""
    bot = Bot(token, api_server=api_server)

    # A class works as `initial`: every new chat gets SessionData().
    bot.use(
        session(
            initial=SessionData,
            storage=MemorySessionStorage() if storage is None else storage,
        )
    )

    # Context[SessionData]: the type checker knows ctx.session.pizza_count is an int.
    @bot.command("hunger")
    async def hunger(ctx: Context[SessionData]) -> None:
        count = ctx.session.pizza_count
        await ctx.reply(f"Your hunger level is {count}!")

    @bot.command("reset")
    async def reset(ctx: Context[SessionData]) -> None:
        ctx.session = None  # deletes the stored session; the next update starts fresh
        await ctx.reply("Hunger forgotten.")

    @bot.hears(re.compile(r"🍕"))
    async def eat(ctx: Context[SessionData]) -> None:
        ctx.session.pizza_count += 1

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
