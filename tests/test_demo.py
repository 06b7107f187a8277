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
from botsessions._demo.storages import open_storage
from botsessions.storage import FileStorage, PostgresStorage, RedisStorage, SQLiteStorage
from botsessions.testing.bot_api import ChatUser, LocalBotAPI


def spawn_demo(*args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "botsessions", "demo", *args],
        env=env,
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
        assert f"Sessions are stored in {directory} (one JSON file per chat)" in result.stdout
        assert f"Bye! Your sessions are still in {directory}" in result.stdout

    def test_exported_bot_token_is_ignored_and_the_demo_says_it_runs_offline(self) -> None:
        env = {**os.environ, "BOT_TOKEN": "123456:not-a-real-token"}
        env.pop("BOT_API_SERVER", None)
        child = spawn_demo("--storage", "memory", env=env)
        assert "BOT_TOKEN is set but not used" in child.before
        assert "Offline: the bot polls a local Bot API server at http://127.0.0.1:" in child.before
        assert "Sessions are kept in memory: gone when the demo stops." in child.before
        child.expect("the sessions are in memory and go with the demo")
        say(child, "hello", "Noted: message 1 in this chat")
        child.sendline("/quit")
        child.expect("Bye! The sessions were kept in memory and are gone now.")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0

    def test_telegram_mode_polls_without_a_terminal_chat_until_interrupted(
        self, tmp_path: Path
    ) -> None:
        with LocalBotAPI() as api:
            token = api.add_bot(username="real_demo_bot")
            user = api.user(token, first_name="Alice")
            env = {**os.environ, "BOT_TOKEN": token, "BOT_API_SERVER": api.url}
            child = pexpect.spawn(
                sys.executable,
                ["-m", "botsessions", "demo", "--telegram", "--db", str(tmp_path / "online.db")],
                env=env,
                encoding="utf-8",
                timeout=60,
            )
            try:
                child.expect(f"On the Bot API server at {api.url}. Ctrl")
                child.expect(f"Bot @real_demo_bot is polling {api.url}")
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

    def test_rejected_token_ends_the_demo_with_one_line_and_no_traceback(self) -> None:
        token = "123456:unknown-to-this-server"
        with LocalBotAPI() as api:
            env = {**os.environ, "BOT_API_SERVER": api.url}
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "botsessions",
                    "demo",
                    "--storage",
                    "memory",
                    "--token",
                    token,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        assert result.returncode == 1
        assert result.stderr.startswith("botsessions demo: ")
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1

    def test_telegram_mode_without_a_token_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("BOT_TOKEN", raising=False)
        with pytest.raises(SystemExit) as exited:
            main(["demo", "--telegram", "--storage", "memory"])
        assert exited.value.code == 2
        assert "--telegram needs a bot token" in capsys.readouterr().err


class TestStorageChoice:
    def test_memory_says_the_sessions_are_gone_when_the_demo_stops(self) -> None:
        chosen = open_storage("memory")
        assert not chosen.persistent
        assert "gone when the demo stops" in chosen.where
        assert "gone" in chosen.farewell

    def test_sqlite_names_the_resolved_database_path(self, tmp_path: Path) -> None:
        chosen = open_storage("sqlite", str(tmp_path / "demo.db"))
        assert isinstance(chosen.storage, SQLiteStorage)
        assert f"the SQLite database {tmp_path / 'demo.db'}" in chosen.where
        assert str(tmp_path / "demo.db") in chosen.farewell

    def test_files_name_the_directory(self, tmp_path: Path) -> None:
        chosen = open_storage("file", str(tmp_path / "sessions"))
        assert isinstance(chosen.storage, FileStorage)
        assert str(tmp_path / "sessions") in chosen.where

    def test_redis_names_the_url_and_the_key_prefix_without_the_password(self) -> None:
        chosen = open_storage("redis://:hunter2@localhost:6379/0")
        assert isinstance(chosen.storage, RedisStorage)
        assert "Redis at redis://:***@localhost:6379/0" in chosen.where
        assert "'botsessions-demo:'" in chosen.where
        assert "hunter2" not in chosen.where + chosen.farewell

    def test_postgres_names_the_dsn_and_the_table(self) -> None:
        chosen = open_storage("postgresql://demo:secret@localhost/test")
        assert isinstance(chosen.storage, PostgresStorage)
        assert "table botsessions_demo at postgresql://demo:***@localhost/test" in chosen.where
        assert "secret" not in chosen.where
