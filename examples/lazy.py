"""Lazy sessions: storage is read only by the handlers that need the session.

``/score`` and ``/point`` read the score; ``/help`` never touches storage.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/lazy.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any, TypeAlias

from botsessions import Bot, LazyContext, MemorySessionStorage, StorageAdapter, lazy_session

Score: TypeAlias = dict[str, int]
"""The session: ``{"score": 0}``. Handlers see it as ``LazyContext[Score]``."""


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the score bot; ``storage`` defaults to a fresh in-memory storage."""
    bot = Bot(token, api_server=api_server)

    bot.use(
        lazy_session(
            initial=lambda: {"score": 0},
            storage=MemorySessionStorage() if storage is None else storage,
        )
    )

    @bot.command("help")
    async def help_(ctx: LazyContext[Score]) -> None:
        # No `await ctx.session` here, so this update reads and writes nothing.
        await ctx.reply("Send /point to score, /score to see your score.")

    @bot.command("point")
    async def point(ctx: LazyContext[Score]) -> None:
        data = await ctx.session  # a Score; the first access reads storage, once per update
        data["score"] += 1
        await ctx.reply(f"Point! Score: {data['score']}")

    @bot.command("score")
    async def score(ctx: LazyContext[Score]) -> None:
        data = await ctx.session
        await ctx.reply(f"Score: {data['score']}")

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
