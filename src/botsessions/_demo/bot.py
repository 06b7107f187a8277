"""The demo bot: grammY's "complete example" (a message counter with /stats, /theme, /reset).

In grammY's version the ``bot.on("message")`` counter came first and never called
``next``, so no command ever ran: every command is a message too. Here the counter
counts, then calls ``await next()``, and the commands registered after it still run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botsessions import Bot, StorageAdapter, session

if TYPE_CHECKING:
    from botsessions import Context, NextFn

__all__ = ["HELP", "build_demo_bot"]

THEMES = ("light", "dark")
HELP = (
    "Commands: /stats (messages in this chat), /theme (light or dark), /reset (forget this chat)."
)


def initial() -> dict[str, Any]:
    """A fresh session for a chat the bot has not seen (or that was reset)."""
    return {"messages": 0, "theme": "light"}


def _theme_keyboard() -> dict[str, Any]:
    # Telegram's InlineKeyboardMarkup as plain JSON: the bot layer sends it as it is.
    row = [{"text": name.capitalize(), "callback_data": f"theme:{name}"} for name in THEMES]
    return {"inline_keyboard": [row]}


def build_demo_bot(
    token: str, *, storage: StorageAdapter[Any], api_server: str | None = None
) -> Bot:
    """Build the demo bot, keeping one session per chat in ``storage``."""
    bot = Bot(token, api_server=api_server)
    bot.use(session(initial=initial, storage=storage))

    @bot.on("message")
    async def count(ctx: Context, next: NextFn) -> None:
        ctx.session["messages"] += 1
        await next()  # grammY's example stopped here, so its commands never ran

    @bot.command("start")
    async def start(ctx: Context, next: NextFn) -> None:
        await ctx.reply(f"Hi! I count the messages of every chat. {HELP}")

    @bot.command("stats")
    async def stats(ctx: Context, next: NextFn) -> None:
        await ctx.reply(f"Messages in this chat: {ctx.session['messages']}")

    @bot.command("theme")
    async def theme(ctx: Context, next: NextFn) -> None:
        await ctx.reply(f"Theme: {ctx.session['theme']}", reply_markup=_theme_keyboard())

    @bot.callback_query([f"theme:{name}" for name in THEMES])
    async def pick_theme(ctx: Context, next: NextFn) -> None:
        query = ctx.callback_query
        chosen = str(query.data if query is not None else "").removeprefix("theme:")
        if ctx.session["theme"] != chosen:
            ctx.session["theme"] = chosen
            if query is not None and query.message is not None:
                await ctx.api.edit_message_text(
                    text=f"Theme: {chosen}",
                    chat_id=query.message.chat.id,
                    message_id=query.message.message_id,
                    reply_markup=_theme_keyboard(),
                )
        await ctx.answer_callback_query(text=f"Theme set to {chosen}")

    @bot.command("reset")
    async def reset(ctx: Context, next: NextFn) -> None:
        ctx.session = None  # the stored session is deleted when this update ends
        await ctx.reply("Session reset: this chat starts again from zero.")

    @bot.on("message:text")
    async def other(ctx: Context, next: NextFn) -> None:
        await ctx.reply(f"Noted: message {ctx.session['messages']} in this chat. {HELP}")

    return bot
