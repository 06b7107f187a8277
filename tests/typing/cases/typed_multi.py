"""grammY's multi sessions: one typed attribute per fragment of ``ctx.session``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, assert_type

from botsessions import Bot, Context, SessionOptions, session
from botsessions.keys import per_user


@dataclass
class ChatData:
    theme: str = "light"


@dataclass
class UserData:
    language: str = "en"
    visits: int = 0


class Fragments(Protocol):
    """What ``ctx.session`` holds: the fragments given to ``session(type="multi")``."""

    chat: ChatData
    user: UserData


def build_bot() -> Bot:
    bot = Bot("123:abc")
    bot.use(
        session(
            type="multi",
            chat=SessionOptions(initial=ChatData),
            user=SessionOptions(initial=UserData, get_session_key=per_user),
        )
    )

    @bot.on("message")
    async def visit(ctx: Context[Fragments]) -> None:
        assert_type(ctx.session.chat, ChatData)
        ctx.session.user.visits += 1
        await ctx.reply(f"{ctx.session.chat.theme} / {ctx.session.user.language}")

    @bot.command("forget")
    async def forget(ctx: Context[Fragments]) -> None:
        ctx.session = None  # deletes every fragment

    return bot


bot = build_bot()
