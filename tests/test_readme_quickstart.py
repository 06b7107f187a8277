"""The README's quick start works as written, offline, and its three copies agree.

The test follows the README literally: it copies the quick start block into ``bot.py``,
starts the local Bot API server, runs ``python bot.py`` with the two variables the
README documents (``BOT_TOKEN`` and ``BOT_API_SERVER``), sends a message as a user and
reads the reply.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from botsessions.testing.bot_api import LocalBotAPI

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
QUICKSTART = ROOT / "docs" / "quickstart.md"
COUNTER = ROOT / "examples" / "counter.py"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def first_program(page: Path, heading: str) -> str:
    """The first ```python block after ``heading`` on ``page``."""
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    match = BLOCK.search(text, start)
    assert match is not None, f"no python block after {heading!r} in {page.name}"
    return match.group(1)


def clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}


def test_readme_quickstart_page_and_counter_example_are_one_program() -> None:
    readme = first_program(README, "## Quick start")
    assert readme == COUNTER.read_text(encoding="utf-8")
    assert first_program(QUICKSTART, "## A bot that counts messages") == readme


def test_readme_documents_the_offline_commands() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "BOT_TOKEN=" in readme
    assert "python -m botsessions.testing.bot_api" in readme
    assert "BOT_API_SERVER" in readme
    assert "botsessions demo" in readme


async def test_readme_quickstart_answers_a_message_against_the_local_server(
    tmp_path: Path,
) -> None:
    script = tmp_path / "bot.py"
    script.write_text(first_program(README, "## Quick start"), encoding="utf-8")
    async with LocalBotAPI() as api:
        url = api.url
        token = api.add_bot(username="quickstart_bot")
        alice = api.user(token, first_name="Alice")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=tmp_path,
            env={**clean_env(), "BOT_TOKEN": token, "BOT_API_SERVER": url},
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await alice.send("hello")
            first = await alice.reply(timeout=60)
            await alice.send("hello again")
            second = await alice.reply(timeout=60)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert first["text"] == "Messages in this chat: 1"
    assert second["text"] == "Messages in this chat: 2"
    assert process.returncode == 0, stderr.decode()
    assert f"Bot @quickstart_bot is polling {url}" in stderr.decode()


def test_readme_quickstart_without_a_token_fails_with_one_sentence(tmp_path: Path) -> None:
    script = tmp_path / "bot.py"
    script.write_text(first_program(README, "## Quick start"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Set BOT_TOKEN to your bot's token from @BotFather")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("page", [README, QUICKSTART], ids=lambda page: page.name)
def test_the_quickstart_block_is_marked_as_a_bot_program(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    program = COUNTER.read_text(encoding="utf-8")
    assert f"<!-- bot -->\n```python\n{program}```" in text
