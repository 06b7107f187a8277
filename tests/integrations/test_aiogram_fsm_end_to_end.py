"""aiogram_dialog, aiogram's own FSM tests and the form example, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiogram_dialog.test_tools import BotClient
from aiogram_dialog.test_tools.keyboard import InlineButtonTextLocator

from botsessions.storage import SQLiteStorage
from botsessions.testing.bot_api import LocalBotAPI
from tests.integrations import _fsm_dialog
from tests.integrations._fsm_processes import ROOT, ask, start_form_bot, stop
from tests.integrations._fsm_storages import stores_for


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_dialog_stopped_midway_resumes_at_the_same_window_after_a_restart(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> None:
    stores = stores_for(request, kind, tmp_path, unique_name)
    try:
        dp, messages = _fsm_dialog.make_dispatcher(stores.new())
        client = BotClient(dp, user_id=7, chat_id=7)
        await client.send("/start")
        assert messages.last_message().text == "What is your name?"
        await client.send("Alice")
        assert messages.last_message().text == "How old are you?"
        for storage in stores.built:
            await storage.close()  # the process stops here

        dp, messages = _fsm_dialog.make_dispatcher(stores.new())
        client = BotClient(dp, user_id=7, chat_id=7)
        await client.send("30")

        assert messages.last_message().text == "Alice, 30"
        summary = messages.last_message()
        dp, messages = _fsm_dialog.make_dispatcher(stores.new())
        client = BotClient(dp, user_id=7, chat_id=7)
        await client.click(summary, InlineButtonTextLocator("Change age"))
        assert messages.last_message().text == "How old are you?"
    finally:
        await stores.aclose()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_aiogram_own_fsm_tests_pass_on_every_backend(redis_url: str, postgres_dsn: str) -> None:
    env = {
        **os.environ,
        "BOTSESSIONS_REDIS_URL": redis_url,
        "BOTSESSIONS_POSTGRES_DSN": postgres_dsn,
        "BOTSESSIONS_PYTHON": sys.executable,
    }
    result = subprocess.run(
        [str(ROOT / "scripts" / "aiogram-fsm-tests")],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    if result.returncode == 3:
        pytest.skip(f"PyPI is not reachable: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for backend in ("memory", "sqlite", "redis", "postgres"):
        assert f"| {backend} | " in result.stdout
    assert " failed" not in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_form_example_goes_on_after_a_restart_over_real_polling(tmp_path: Path) -> None:
    db = tmp_path / "form.db"
    async with LocalBotAPI() as api:
        token = api.add_bot(username="form_bot")
        alice = api.user(token, first_name="Alice")
        bot = await start_form_bot(api, token, db)
        try:
            assert await ask(alice, "/start") == "What is your name?"
            assert await ask(alice, "Alice") == "How old are you?"
        finally:
            await stop(bot)

        bot = await start_form_bot(api, token, db)
        try:
            assert await ask(alice, "thirty") == "Please send your age as a number."
            assert await ask(alice, "30") == "Alice, 30. Is that right? (yes/no)"
            assert await ask(alice, "yes") == "Thank you, Alice!"
            assert await ask(alice, "hello") == "Send /start to fill in the form."
        finally:
            await stop(bot)

    async with SQLiteStorage(db) as store:
        record = f"fsm:{alice.chat_id}:{alice.chat_id}"
        assert await store.read(record) is None  # a finished form leaves no row behind
