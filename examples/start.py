"""Answer /start, the first thing anyone sends a bot, and remember who came back.

``/start`` greets a new chat and welcomes it back later; a deep link such as
``https://t.me/your_bot?start=newsletter`` arrives as ``/start newsletter``, and the
bot remembers where the chat first came from. ``/help`` lists the commands.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/start.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one, to run offline).
"""

import os
from dataclasses import dataclass
from typing import Any

from botsessions import Bot, Context, MemorySessionStorage, StorageAdapter, session

HELP = "Send /start to be greeted, /help to see this again."


@dataclass
class Visits:
    """What the bot remembers about each chat."""

    starts: int = 0
    source: str | None = None


def build_bot(token: str, *, storage: StorageAdapter[Any] | None = None) -> Bot:
    """Build the /start bot; ``storage`` defaults to a fresh in-memory storage."""
    bot = Bot(token)  # the Bot API server of $BOT_API_SERVER when set, else Telegram
    bot.use(session(initial=Visits, storage=MemorySessionStorage() if storage is None else storage))

    @bot.command("start")
    async def start(ctx: Context[Visits]) -> None:
        visits = ctx.session
        visits.starts += 1
        if visits.source is None and ctx.match:
            visits.source = str(ctx.match)  # the deep-link payload: /start <payload>
        name = ctx.from_user.first_name if ctx.from_user is not None else "there"
        if visits.starts == 1:
            await ctx.reply(f"Hello, {name}! {HELP}")
        else:
            await ctx.reply(f"Welcome back, {name}! This is your start number {visits.starts}.")

    @bot.command("help")
    async def help_(ctx: Context[Visits]) -> None:
        await ctx.reply(HELP)

    return bot


if __name__ == "__main__":
    token = os.environ.get("BOT_TOKEN")
    if not token:
        raise SystemExit("Set BOT_TOKEN to your bot's token from @BotFather.")
    build_bot(token).start()
