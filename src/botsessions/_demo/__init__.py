"""``botsessions demo``: the complete session example, offline or against Telegram.

Offline (the default) it starts a local Bot API server, runs the demo bot with long
polling and lets you chat with it from the terminal. With ``--token`` (or ``BOT_TOKEN``)
it runs the same bot against Telegram instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from botsessions._demo.bot import build_demo_bot
from botsessions._demo.chat import WELCOME, TerminalChat
from botsessions.storage import (
    FileStorage,
    MemorySessionStorage,
    PostgresStorage,
    RedisStorage,
    SQLiteStorage,
)
from botsessions.testing.bot_api import LocalBotAPI

__all__ = ["DEFAULT_DB", "open_storage", "run_demo"]

DEFAULT_DB = "botsessions-demo.db"
DEFAULT_DIRECTORY = "botsessions-demo-sessions"
# Fixed ids: the chat id is the session key, so a restarted demo finds its sessions again.
DEMO_BOT_TOKEN = "7000000001:botsessions-demo-local-token-0000000000"
DEMO_USER_ID = 7000000002


def open_storage(kind: str, db: str | None) -> tuple[Any, str]:
    """The storage for ``--storage kind`` and a sentence describing where data goes.

    Raises:
        ValueError: for an unknown storage kind.
    """
    if kind == "memory":
        return MemorySessionStorage(), "memory (forgotten when the demo exits)"
    if kind == "sqlite":
        path = Path(db or DEFAULT_DB).resolve()
        return SQLiteStorage(path), f"SQLite database {path} (kept across restarts)"
    if kind == "file":
        directory = Path(db or DEFAULT_DIRECTORY).resolve()
        return FileStorage(directory), f"JSON files in {directory} (kept across restarts)"
    if kind.startswith(("redis://", "rediss://", "unix://")):
        return RedisStorage(kind, prefix="botsessions-demo:"), f"Redis at {kind}"
    if kind.startswith(("postgresql://", "postgres://")):
        table = "botsessions_demo"
        return PostgresStorage(kind, table=table), f"PostgreSQL table {table} at {kind}"
    raise ValueError(
        f"unknown storage {kind!r}: use memory, sqlite, file, a redis:// URL or a postgresql:// DSN"
    )


async def run_demo(*, storage_kind: str, db: str | None, token: str | None) -> None:
    """Run the demo until the user quits (offline) or until Ctrl+C (with a token)."""
    storage, where = open_storage(storage_kind, db)
    print(f"Sessions are stored in {where}.", flush=True)
    try:
        if token:
            await _run_online(token, storage)
        else:
            await _run_offline(storage)
    finally:
        close = getattr(storage, "close", None)
        if close is not None:
            await close()


async def _run_offline(storage: Any) -> None:
    async with LocalBotAPI() as api:
        token = api.add_bot(
            username="botsessions_demo_bot", first_name="Demo Bot", token=DEMO_BOT_TOKEN
        )
        user = api.user(token, first_name="You", user_id=DEMO_USER_ID)
        bot = build_demo_bot(token, storage=storage, api_server=api.url)
        polling = asyncio.create_task(bot.run_polling(timeout=10))
        print(f"Local Bot API server at {api.url}\n\n{WELCOME}", flush=True)
        try:
            await TerminalChat(user, "Demo Bot", interactive=sys.stdin.isatty()).run()
        finally:
            bot.stop()
            await polling
    print("Bye!", flush=True)


async def _run_online(token: str, storage: Any) -> None:
    # BOT_API_SERVER points at a self-hosted Bot API server, as in the examples.
    bot = build_demo_bot(token, storage=storage, api_server=os.environ.get("BOT_API_SERVER"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, bot.stop)
    await bot.init()
    print(f"Running @{bot.me.username} on Telegram. Press Ctrl+C to stop.", flush=True)
    await bot.run_polling()


def token_from_env() -> str | None:
    """``BOT_TOKEN`` from the environment, if set and not empty."""
    return os.environ.get("BOT_TOKEN") or None
