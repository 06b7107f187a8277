"""Storage migrations: evolve the shape of stored sessions without losing data.

The first release stored ``{"color": "red"}``. Version 1 renamed it to
``foreground``; version 2 added a ``background``. ``enhance_storage`` upgrades
old data on read, whatever version it was written with; the upgraded data is
saved with the next change.

Try ``/colors`` and ``/foreground green``.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/migrations.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any

from botsessions import (
    Bot,
    Context,
    MemorySessionStorage,
    StorageAdapter,
    enhance_storage,
    session,
)


def rename_color(old: dict[str, Any]) -> dict[str, Any]:
    """Version 1: ``color`` became ``foreground``."""
    return {"foreground": old["color"]}


def add_background(old: dict[str, Any]) -> dict[str, Any]:
    """Version 2: sessions gained a ``background``."""
    return {**old, "background": "blue"}


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the colours bot over ``storage`` (default: in memory), with migrations."""
    bot = Bot(token, api_server=api_server)

    enhanced = enhance_storage(
        storage=MemorySessionStorage() if storage is None else storage,
        migrations={1: rename_color, 2: add_background},
    )
    bot.use(
        session(initial=lambda: {"foreground": "black", "background": "white"}, storage=enhanced)
    )

    @bot.command("colors")
    async def colors(ctx: Context[dict[str, str]]) -> None:
        await ctx.reply(f"{ctx.session['foreground']} on {ctx.session['background']}")

    @bot.command("foreground")
    async def foreground(ctx: Context[dict[str, str]]) -> None:
        ctx.session["foreground"] = str(ctx.match or "black")
        await ctx.reply(f"Foreground is now {ctx.session['foreground']}")

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
