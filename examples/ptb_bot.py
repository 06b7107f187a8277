"""Count the messages in every chat: a python-telegram-bot 22 bot with botsessions.

Run it with a token from @BotFather::

    BOT_TOKEN=123:abc python examples/ptb_bot.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import os
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from botsessions.integrations.ptb import SessionContext, setup_sessions


async def reset(update: Update, context: SessionContext) -> None:
    context.session = None  # the stored session is removed after the update
    if update.effective_message is not None:
        await update.effective_message.reply_text("Counter reset.")


async def count(update: Update, context: SessionContext) -> None:
    context.session["count"] += 1  # changed in place: saved right after the update
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            f"Messages in this chat: {context.session['count']}"
        )


def build_application(
    token: str, *, api_server: str | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The counter bot's Application: one in-memory session per chat."""
    builder = Application.builder().token(token)
    if api_server:
        builder.base_url(f"{api_server}/bot{{token}}").base_file_url(
            f"{api_server}/file/bot{{token}}"
        )
    app = setup_sessions(builder, initial=lambda: {"count": 0}).build()
    app.add_handler(CommandHandler("reset", reset))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, count))
    return app


if __name__ == "__main__":
    build_application(
        os.environ["BOT_TOKEN"], api_server=os.environ.get("BOT_API_SERVER")
    ).run_polling()
