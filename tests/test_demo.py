"""``botsessions demo``: the demo bot in process, and the terminal chat through a pty."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from botsessions import MemorySessionStorage
from botsessions.__main__ import main
from botsessions._demo.bot import build_demo_bot
from botsessions.testing.bot_api import ChatUser, LocalBotAPI


def spawn_demo(*args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "botsessions", "demo", *args],
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    child.expect(r"Ctrl\+D leaves")
    return child


def say(child: pexpect.spawn, line: str, expected: str) -> None:
    child.sendline(line)
    child.expect(expected)


def quit_demo(child: pexpect.spawn, how: str) -> None:
    if how == "eof":
        child.sendeof()
    else:
        child.sendline("/quit")
    child.expect("Bye!")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


class TestDemoBot:
    @pytest.fixture
    async def user(self) -> AsyncIterator[ChatUser]:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        async with LocalBotAPI() as api:
            token = api.add_bot(username="demo_bot")
            bot = build_demo_bot(token, storage=storage, api_server=api.url)
            polling = asyncio.create_task(bot.run_polling(timeout=5))
            try:
                yield api.user(token, first_name="You")
            finally:
                bot.stop()
                await polling

    async def test_commands_still_run_after_the_counter(self, user: ChatUser) -> None:
        await user.send("hello")
        assert "message 1" in (await user.reply())["text"]
        await user.send("/stats")
        assert (await user.reply())["text"] == "Messages in this chat: 2"

    async def test_theme_button_edits_the_message_and_answers_the_press(
        self, user: ChatUser
    ) -> None:
        await user.send("/theme")
        menu = await user.reply()
        assert menu["text"] == "Theme: light"
        query = await user.press("theme:dark", message=menu)
        assert (await user.callback_answer(query))["text"] == "Theme set to dark"
        assert (await user.reply())["text"] == "Theme: dark"
        await user.send("/theme")  # handled after the press was saved (one update at a time)
        assert (await user.reply())["text"] == "Theme: dark"

    async def test_reset_deletes_the_session(self, user: ChatUser) -> None:
        await user.send("one")
        await user.reply()
        await user.send("/reset")
        await user.reply()
        await user.send("/stats")
        assert (await user.reply())["text"] == "Messages in this chat: 1"


class TestTerminalChat:
    def test_chat_counts_themes_resets_and_the_count_survives_a_restart(
        self, tmp_path: Path
    ) -> None:
        db = tmp_path / "demo.db"
        child = spawn_demo("--db", str(db))
        assert str(db) in child.before
        say(child, "hello", "Noted: message 1 in this chat")
        say(child, "/stats", "Messages in this chat: 2")
        say(child, "/theme", r"Theme: light\s+\[1\] Light  \[2\] Dark")
        say(child, "2", r"\(edited\): Theme: dark")
        child.expect(r"\[Theme set to dark\]")
        say(child, "/reset", "starts again from zero")
        say(child, "one", "Noted: message 1 in this chat")
        say(child, "two", "Noted: message 2 in this chat")
        quit_demo(child, "eof")

        child = spawn_demo("--db", str(db))
        say(child, "/stats", "Messages in this chat: 3")
        say(child, "/press 1", "No button 1")
        quit_demo(child, "/quit")

    def test_piped_script_with_file_storage_answers_every_line(self, tmp_path: Path) -> None:
        directory = tmp_path / "sessions"
        script = "hello\n/theme\n2\n/stats\n"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "botsessions",
                "demo",
                "--storage",
                "file",
                "--db",
                str(directory),
            ],
            input=script,
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
        assert "Demo Bot (edited): Theme: dark" in result.stdout
        assert "[Theme set to dark]" in result.stdout
        assert "Demo Bot: Messages in this chat: 3" in result.stdout
        assert any(directory.iterdir())

    def test_token_mode_polls_without_a_terminal_chat_until_interrupted(
        self, tmp_path: Path
    ) -> None:
        with LocalBotAPI() as api:
            token = api.add_bot(username="real_demo_bot")
            user = api.user(token, first_name="Alice")
            env = {**os.environ, "BOT_TOKEN": token, "BOT_API_SERVER": api.url}
            child = pexpect.spawn(
                sys.executable,
                ["-m", "botsessions", "demo", "--db", str(tmp_path / "online.db")],
                env=env,
                encoding="utf-8",
                timeout=60,
            )
            try:
                child.expect("Running @real_demo_bot")
                api.run_sync(user.send("/stats"))
                reply = api.run_sync(user.reply(timeout=60))
                assert reply["text"] == "Messages in this chat: 1"
            finally:
                child.sendintr()
                child.expect(pexpect.EOF)
                child.close()
        assert child.exitstatus == 0

    def test_unknown_storage_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["demo", "--storage", "nosql"])
        assert exited.value.code == 2
        assert "unknown storage 'nosql'" in capsys.readouterr().err
