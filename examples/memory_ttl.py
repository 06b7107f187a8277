"""Memory storage with a time to live: notes are forgotten an hour after the last change.

``/remember buy milk`` stores a note, ``/recall`` shows it. Expired sessions are
freed from memory even if the chat never writes again.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/memory_ttl.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from datetime import timedelta
from typing import Any, TypeAlias

from botsessions import Bot, Context, MemorySessionStorage, StorageAdapter, session

Notes: TypeAlias = dict[str, str | None]
"""The session: ``{"note": None}`` until something is remembered."""


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the notes bot; ``storage`` defaults to memory with a one-hour TTL."""
    bot = Bot(token, api_server=api_server)

    if storage is None:
        storage = MemorySessionStorage(ttl=timedelta(hours=1))  # or ttl=3600 (seconds)
    bot.use(session(initial=lambda: {"note": None}, storage=storage))

    @bot.command("remember")
    async def remember(ctx: Context[Notes]) -> None:
        ctx.session["note"] = str(ctx.match or "")
        await ctx.reply("Noted for one hour.")

    @bot.command("recall")
    async def recall(ctx: Context[Notes]) -> None:
        note = ctx.session["note"]
        await ctx.reply(f"Your note: {note}" if note else "Nothing to recall.")

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
