"""Multi sessions: a theme shared by the whole chat, a language for each user.

Try ``/theme dark``, ``/language de`` and ``/settings``.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/multi.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any, Protocol, TypedDict

from botsessions import Bot, Context, MemorySessionStorage, SessionOptions, StorageAdapter, session


class ChatSettings(TypedDict):
    """The `chat` fragment: shared by everyone in the chat."""

    theme: str


class UserSettings(TypedDict):
    """The `user` fragment: follows each user into every chat."""

    language: str


class Settings(Protocol):
    """What ``ctx.session`` holds: one attribute per fragment given to ``session()``."""

    chat: ChatSettings
    user: UserSettings


def user_key(ctx: Context) -> str | None:
    """One `user` fragment per Telegram user, in every chat."""
    return None if ctx.user_id is None else str(ctx.user_id)


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the settings bot; both fragments share ``storage`` under different prefixes."""
    bot = Bot(token, api_server=api_server)
    storage = MemorySessionStorage() if storage is None else storage

    bot.use(
        session(
            type="multi",
            chat=SessionOptions(
                initial=lambda: ChatSettings(theme="light"), prefix="chat-", storage=storage
            ),
            user={
                "initial": lambda: UserSettings(language="en"),
                "get_session_key": user_key,
                "prefix": "user-",
                "storage": storage,
            },
        )
    )

    @bot.command("theme")
    async def theme(ctx: Context[Settings]) -> None:
        ctx.session.chat["theme"] = str(ctx.match or "light")
        await ctx.reply(f"Theme of this chat: {ctx.session.chat['theme']}")

    @bot.command("language")
    async def language(ctx: Context[Settings]) -> None:
        ctx.session.user["language"] = str(ctx.match or "en")
        await ctx.reply(f"Your language: {ctx.session.user['language']}")

    @bot.command("settings")
    async def settings(ctx: Context[Settings]) -> None:
        await ctx.reply(
            f"theme={ctx.session.chat['theme']} language={ctx.session.user['language']}"
        )

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
