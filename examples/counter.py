"""Count the messages in every chat: the smallest session bot.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/counter.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any

from botsessions import Bot, Context, MemorySessionStorage, StorageAdapter, session


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the counter bot; ``storage`` defaults to a fresh in-memory storage."""
    bot = Bot(token, api_server=api_server)

    # One session per chat, starting at zero.
    bot.use(
        session(
            initial=lambda: {"count": 0},
            storage=MemorySessionStorage() if storage is None else storage,
        )
    )

    # Context[S] tells the type checker what ctx.session holds.
    @bot.on("message")
    async def count(ctx: Context[dict[str, int]]) -> None:
        ctx.session["count"] += 1
        await ctx.reply(f"Messages in this chat: {ctx.session['count']}")

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
