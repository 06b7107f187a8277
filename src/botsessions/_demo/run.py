"""Running the demo: offline on its own local Bot API server, or on Telegram when asked."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from botsessions._demo.bot import build_demo_bot
from botsessions._demo.storages import DemoStorage
from botsessions.testing import LocalBotAPI, TerminalChat

__all__ = ["run_demo", "welcome"]

# Fixed ids: the chat id is the session key, so a restarted demo finds its sessions again.
DEMO_BOT_TOKEN = "7000000001:botsessions-demo-local-token-0000000000"
DEMO_USER_ID = 7000000002


def welcome(*, persistent: bool) -> str:
    """How to use the terminal chat, printed before the first line is read."""
    leaving = (
        "your sessions stay in the storage for the next run"
        if persistent
        else "the sessions are in memory and go with the demo"
    )
    return (
        'You are chatting with the demo bot as the Telegram user "You".\n'
        "  - type a message and press Enter; lines starting with / are commands:\n"
        "    /stats, /theme, /reset (and /start for the bot's help)\n"
        "  - buttons under a message are numbered: type 1 (or /press 1) to press one\n"
        f"  - /quit or Ctrl+D leaves; {leaving}\n"
    )


async def run_demo(
    chosen: DemoStorage,
    *,
    telegram_token: str | None = None,
    api_server: str | None = None,
) -> None:
    """Run the demo until the user quits (offline) or until Ctrl+C (on Telegram).

    Args:
        chosen: the storage, from ``open_storage()``; it is closed at the end.
        telegram_token: run on Telegram with this token; ``None`` runs offline.
        api_server: with a token, a self-hosted Bot API server instead of Telegram's.
    """
    print(chosen.where, flush=True)
    try:
        if telegram_token is None:
            await _run_offline(chosen)
        else:
            await _run_online(chosen, telegram_token, api_server)
    finally:
        close = getattr(chosen.storage, "close", None)
        if close is not None:
            await close()
    print(f"Bye! {chosen.farewell}", flush=True)


async def _run_offline(chosen: DemoStorage) -> None:
    async with LocalBotAPI() as api:
        token = api.add_bot(
            username="botsessions_demo_bot", first_name="Demo Bot", token=DEMO_BOT_TOKEN
        )
        user = api.user(token, first_name="You", user_id=DEMO_USER_ID)
        bot = build_demo_bot(token, storage=chosen.storage, api_server=api.url)
        polling = asyncio.create_task(bot.run_polling(timeout=10))
        print(f"Offline: the bot polls a local Bot API server at {api.url}.", flush=True)
        print(f"\n{welcome(persistent=chosen.persistent)}", flush=True)
        try:
            await TerminalChat(user, "Demo Bot").run()
        finally:
            bot.stop()
            await polling


async def _run_online(chosen: DemoStorage, token: str, api_server: str | None) -> None:
    bot = build_demo_bot(token, storage=chosen.storage, api_server=api_server)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, bot.stop)
    if api_server:
        print(f"On the Bot API server at {api_server}. Ctrl+C stops.", flush=True)
    else:
        print("On Telegram: chat with your bot in a Telegram app. Ctrl+C stops.", flush=True)
    await bot.run_polling()  # logs "Bot @name is polling ..." once getMe answered
