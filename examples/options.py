"""Session options: a key per user in each chat, stored under a prefix.

Every user gets a personal counter in every chat they write in, stored as
``user-<user id>/<chat id>``.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/options.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any

from botsessions import Bot, Context, MemorySessionStorage, StorageAdapter, session


def get_session_key(ctx: Context) -> str | None:
    """Give every user their personal session storage per chat.

    ``botsessions.keys.per_user_in_chat`` is a ready-made variant of this function.
    """
    if ctx.user_id is None or ctx.chat_id is None:
        return None  # no sender or no chat: this update has no session
    return f"{ctx.user_id}/{ctx.chat_id}"


def build_bot(
    token: str, *, api_server: str | None = None, storage: StorageAdapter[Any] | None = None
) -> Bot:
    """Build the per-user-in-chat bot; ``storage`` defaults to a fresh in-memory storage."""
    bot = Bot(token, api_server=api_server)

    bot.use(
        session(
            initial=lambda: {"messages": 0},
            get_session_key=get_session_key,
            prefix="user-",
            storage=MemorySessionStorage() if storage is None else storage,
        )
    )

    @bot.on("message")
    async def on_message(ctx: Context[dict[str, int]]) -> None:
        ctx.session["messages"] += 1
        await ctx.reply(
            f"You sent {ctx.session['messages']} messages here (key {ctx.session_key})."
        )

    return bot


if __name__ == "__main__":
    build_bot(os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")).start()
