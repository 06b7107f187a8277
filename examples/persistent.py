"""Sessions that survive a restart: a counter stored in SQLite, Redis or PostgreSQL.

``SESSION_STORAGE`` chooses where sessions go (SQLite by default)::

    BOT_TOKEN=123:abc python examples/persistent.py                  # ./sessions.db
    SESSION_STORAGE=sqlite:///tmp/bot.db BOT_TOKEN=123:abc python examples/persistent.py
    SESSION_STORAGE=redis://localhost:6379/0 BOT_TOKEN=... python examples/persistent.py
    SESSION_STORAGE=postgresql://localhost/postgres BOT_TOKEN=... python examples/persistent.py

Redis and PostgreSQL need their extras: ``pip install "botsessions[redis]"`` or
``pip install "botsessions[postgres]"``. Stop the bot and start it again: the count goes
on where it stopped. Set ``BOT_API_SERVER`` to talk to another Bot API server (a local
one, to run offline).
"""

import asyncio
import os
from typing import Any

from botsessions import Bot, Context, session
from botsessions.storage import PostgresStorage, RedisStorage, SQLiteStorage

DEFAULT_STORAGE = "sqlite:///sessions.db"


def open_storage(url: str) -> SQLiteStorage | RedisStorage | PostgresStorage:
    """The storage a ``SESSION_STORAGE`` URL names; no I/O until the first session."""
    if url.startswith("redis://"):
        return RedisStorage(url, prefix="persistent-example:")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStorage(url, table="persistent_example_sessions")
    if url.startswith("sqlite:///"):
        return SQLiteStorage(url.removeprefix("sqlite:///"))
    raise SystemExit(
        f"SESSION_STORAGE={url!r}: use sqlite:///PATH, redis://... or postgresql://..."
    )


def build_bot(token: str, storage: Any) -> Bot:
    """Build the counter bot on ``storage``."""
    bot = Bot(token)  # the Bot API server of $BOT_API_SERVER when set, else Telegram
    bot.use(session(initial=lambda: {"count": 0}, storage=storage))

    @bot.command("forget")
    async def forget(ctx: Context[dict[str, int]]) -> None:
        ctx.session = None  # deletes the stored session at the end of this update
        await ctx.reply("Forgotten: the next message counts from 1.")

    @bot.on("message")
    async def count(ctx: Context[dict[str, int]]) -> None:
        ctx.session["count"] += 1
        await ctx.reply(f"Messages in this chat, across restarts: {ctx.session['count']}")

    return bot


def main() -> None:
    """Run the bot until Ctrl+C, then close the storage's connections."""
    token = os.environ.get("BOT_TOKEN")
    if not token:
        raise SystemExit("Set BOT_TOKEN to your bot's token from @BotFather.")
    storage = open_storage(os.environ.get("SESSION_STORAGE") or DEFAULT_STORAGE)
    try:
        build_bot(token, storage).start()
    finally:
        asyncio.run(storage.close())


if __name__ == "__main__":
    main()
