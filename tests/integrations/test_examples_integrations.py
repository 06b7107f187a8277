"""examples/aiogram_bot.py and examples/ptb_bot.py run as scripts against the local Bot API.

Each example is started in its own process, polls the local server over real HTTP, and
is stopped with Ctrl+C (SIGINT) the way a user stops it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botsessions.testing.bot_api import ChatUser, LocalBotAPI

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI() as server:
        yield server


async def ask(user: ChatUser, text: str) -> str | None:
    await user.send(text)
    reply = await user.reply(timeout=30.0)
    text_reply: str | None = reply.get("text")
    return text_reply


@pytest.mark.parametrize("name", ["aiogram_bot", "ptb_bot"])
async def test_counter_example_counts_per_chat_and_resets_over_real_polling(
    name: str, api: LocalBotAPI
) -> None:
    token = api.add_bot(username=f"{name}_counter")
    env = {**os.environ, "BOT_TOKEN": token, "BOT_API_SERVER": api.url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / f"{name}.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    alice = api.user(token, first_name="Alice")
    bob = api.user(token, first_name="Bob")
    try:
        assert await ask(alice, "hello") == "Messages in this chat: 1"
        assert await ask(alice, "again") == "Messages in this chat: 2"
        assert await ask(bob, "hi") == "Messages in this chat: 1"
        assert await ask(alice, "/reset") == "Counter reset."
        assert await ask(alice, "hello") == "Messages in this chat: 1"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
