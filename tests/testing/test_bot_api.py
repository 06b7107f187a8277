"""The local Bot API server, driven over HTTP by aiogram's real client."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pexpect
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiohttp import web

from botsessions.testing.bot_api import LocalBotAPI
from botsessions.testing.bot_api.__main__ import main

KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Light", callback_data="theme:light"),
            InlineKeyboardButton(text="Dark", callback_data="theme:dark"),
        ]
    ]
)


def client(api: LocalBotAPI, token: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI() as server:
        yield server


@pytest.fixture
def token(api: LocalBotAPI) -> str:
    return api.add_bot(username="test_bot", first_name="Test Bot")


@pytest.fixture
async def bot(api: LocalBotAPI, token: str) -> AsyncIterator[Bot]:
    aiogram_bot = client(api, token)
    yield aiogram_bot
    await aiogram_bot.session.close()


class Receiver:
    """A tiny webhook endpoint: records requests, answers with ``respond``."""

    def __init__(self, respond: Callable[[int], Awaitable[web.Response]] | None = None) -> None:
        self.requests: asyncio.Queue[tuple[dict[str, Any], str | None]] = asyncio.Queue()
        self.count = 0
        self._respond = respond
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.count += 1
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        await self.requests.put((await request.json(), secret))
        if self._respond is not None:
            return await self._respond(self.count)
        return web.Response(text="")


class TestBotMethods:
    async def test_get_me_answers_with_the_registered_bot(self, bot: Bot) -> None:
        me = await bot.get_me()
        assert me.is_bot
        assert me.username == "test_bot"
        assert me.first_name == "Test Bot"
        assert me.id == bot.id

    async def test_sent_message_reaches_the_user_as_valid_telegram_json(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token, first_name="Alice")
        sent = await bot.send_message(alice.chat_id, "hello", reply_markup=KEYBOARD)
        reply = await alice.reply(timeout=5)
        assert reply["text"] == "hello"
        assert reply["from"]["id"] == bot.id
        assert reply["chat"] == {"id": alice.id, "type": "private", "first_name": "Alice"}
        assert isinstance(reply["date"], int)
        assert reply["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "theme:dark"
        assert Message.model_validate(reply).message_id == sent.message_id
        assert sent.reply_markup is not None
        assert sent.reply_markup.model_dump() == KEYBOARD.model_dump()

    async def test_message_ids_increase_per_chat_for_both_sides(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice, bob = api.user(token), api.user(token)
        first = await alice.send("hi")
        answer = await bot.send_message(alice.chat_id, "hi back")
        other = await bob.send("hello")
        assert (first["message_id"], answer.message_id, other["message_id"]) == (1, 2, 1)
        assert [m["text"] for m in alice.history] == ["hi", "hi back"]
        assert [m["text"] for m in alice.sent] == ["hi back"]

    async def test_html_parse_mode_becomes_entities(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        message = await bot.send_message(alice.chat_id, "<b>Count</b>: 3 😀", parse_mode="HTML")
        assert message.text == "Count: 3 😀"
        assert message.entities is not None
        assert (message.entities[0].type, message.entities[0].length) == ("bold", 5)

    async def test_reply_parameters_attach_the_replied_message(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        question = await alice.send("question?")
        answer = await bot.send_message(
            alice.chat_id,
            "answer",
            reply_parameters=ReplyParameters(message_id=question["message_id"]),
        )
        assert answer.reply_to_message is not None
        assert answer.reply_to_message.text == "question?"

    async def test_commands_chat_actions_and_deletes_are_supported(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        commands = [BotCommand(command="stats", description="Show stats")]
        assert await bot.set_my_commands(commands)
        assert [c.model_dump() for c in await bot.get_my_commands()] == [
            c.model_dump() for c in commands
        ]
        assert await bot.send_chat_action(alice.chat_id, "typing")
        message = await bot.send_message(alice.chat_id, "bye")
        assert await bot.delete_message(alice.chat_id, message.message_id)
        assert alice.sent == []
        assert [name for name, _ in api.calls(token)][-1] == "deleteMessage"


class TestUpdates:
    async def test_user_command_arrives_with_a_bot_command_entity(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token, first_name="Alice")
        await alice.send("/start@test_bot now")
        [update] = await bot.get_updates()
        assert update.message is not None
        assert update.message.text == "/start@test_bot now"
        assert update.message.from_user is not None
        assert update.message.from_user.first_name == "Alice"
        entity = update.message.entities[0] if update.message.entities else None
        assert entity is not None
        assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 15)

    async def test_offset_confirms_and_drops_earlier_updates(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        for text in ("one", "two", "three"):
            await alice.send(text)
        updates = await bot.get_updates(limit=2)
        assert [u.update_id for u in updates] == [1, 2]
        remaining = await bot.get_updates(offset=updates[-1].update_id + 1)
        assert [u.message.text for u in remaining if u.message] == ["three"]
        assert [u["update_id"] for u in api.pending_updates(token)] == [3]

    async def test_negative_offset_keeps_only_the_newest_updates(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        for text in ("one", "two", "three"):
            await alice.send(text)
        [last] = await bot.get_updates(offset=-1)
        assert last.message is not None
        assert last.message.text == "three"
        assert [u.update_id for u in await bot.get_updates()] == [3]

    async def test_waiting_get_updates_returns_when_a_user_sends(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        poll = asyncio.create_task(bot.get_updates(timeout=60, request_timeout=90))
        await api.wait_for_call(token, "getUpdates")
        assert not poll.done()
        await alice.send("wake up")
        updates = await asyncio.wait_for(poll, 30)
        assert [u.message.text for u in updates if u.message] == ["wake up"]

    async def test_a_new_get_updates_terminates_the_waiting_one_with_conflict(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        first = asyncio.create_task(bot.get_updates(timeout=60, request_timeout=90))
        await api.wait_for_call(token, "getUpdates")
        assert await bot.get_updates() == []
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await first

    async def test_allowed_updates_drops_other_update_types(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        await bot.send_message(alice.chat_id, "pick", reply_markup=KEYBOARD)
        assert await bot.get_updates(allowed_updates=["callback_query"]) == []
        await alice.send("ignored")
        await alice.press("theme:dark")
        [update] = await bot.get_updates()
        assert update.callback_query is not None
        assert update.callback_query.data == "theme:dark"

    async def test_raw_updates_can_be_injected_with_increasing_ids(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        await alice.send("first")
        injected = await alice.inject({"update_id": 999, "my_chat_member": {"x": 1}})
        assert injected["update_id"] == 2
        assert [u["update_id"] for u in api.pending_updates(token)] == [1, 2]


class TestCallbacksAndEdits:
    async def test_pressed_button_is_answered_through_answer_callback_query(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        await bot.send_message(alice.chat_id, "pick", reply_markup=KEYBOARD)
        pressed = await alice.press("theme:light")
        [update] = await bot.get_updates()
        query = update.callback_query
        assert query is not None
        assert query.message is not None
        assert query.message.message_id == pressed["message"]["message_id"]
        assert await bot.answer_callback_query(query.id, text="Light it is")
        answer = await alice.callback_answer(pressed)
        assert answer["text"] == "Light it is"
        with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
            await bot.answer_callback_query(query.id)

    async def test_pressing_a_missing_button_names_the_offered_ones(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        await bot.send_message(alice.chat_id, "pick", reply_markup=KEYBOARD)
        with pytest.raises(ValueError, match="theme:light"):
            await alice.press("nope")

    async def test_edit_message_text_is_seen_as_the_next_reply(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        sent = await bot.send_message(alice.chat_id, "Theme: light", reply_markup=KEYBOARD)
        edited = await bot.edit_message_text(
            "Theme: dark", chat_id=alice.chat_id, message_id=sent.message_id, reply_markup=KEYBOARD
        )
        assert isinstance(edited, Message)
        assert edited.edit_date is not None
        assert [(await alice.reply())["text"], (await alice.reply())["text"]] == [
            "Theme: light",
            "Theme: dark",
        ]
        assert alice.sent[0]["text"] == "Theme: dark"

    async def test_editing_to_the_same_content_is_not_modified(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        sent = await bot.send_message(alice.chat_id, "same", reply_markup=KEYBOARD)
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text(
                "same", chat_id=alice.chat_id, message_id=sent.message_id, reply_markup=KEYBOARD
            )

    async def test_users_message_cannot_be_edited_by_the_bot(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        mine = await alice.send("mine")
        with pytest.raises(TelegramBadRequest, match="message can't be edited"):
            await bot.edit_message_text("x", chat_id=alice.chat_id, message_id=mine["message_id"])


class TestGroups:
    async def test_forum_topic_messages_carry_the_thread_id(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        forum = api.group(token, title="Team", forum=True)
        topic = forum.create_topic("Ideas")
        alice = api.user(token, first_name="Alice").join(forum, topic=topic)
        await alice.send("/stats")
        [update] = await bot.get_updates()
        assert update.message is not None
        assert update.message.message_thread_id == topic
        assert update.message.chat.id == forum.id
        await bot.send_message(forum.id, "in topic", message_thread_id=topic)
        assert (await alice.reply())["message_thread_id"] == topic
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await bot.send_message(forum.id, "nowhere", message_thread_id=topic + 100)


class TestErrors:
    async def test_unknown_token_is_unauthorized(self, api: LocalBotAPI) -> None:
        stranger = client(api, "123:unknown")
        try:
            with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
                await stranger.get_me()
        finally:
            await stranger.session.close()

    async def test_unimplemented_method_is_not_found(self, bot: Bot) -> None:
        with pytest.raises(TelegramNotFound, match="Not Found"):
            await bot.send_dice(1)

    async def test_unknown_chat_and_empty_text_are_bad_requests(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(42, "hi")
        alice = api.user(token)
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(alice.chat_id, " ")

    async def test_error_bodies_match_telegrams_shape(self, api: LocalBotAPI, token: str) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{api.url}/bot{token}/nosuchMethod") as response:
                assert response.status == 404
                assert await response.json() == {
                    "ok": False,
                    "error_code": 404,
                    "description": "Not Found",
                }
            async with http.post(
                f"{api.url}/bot{token}/sendMessage", json={"text": "x"}
            ) as response:
                assert response.status == 400
                assert (await response.json())["description"] == "Bad Request: chat_id is empty"


class TestWireFormats:
    async def test_json_form_and_query_string_requests_all_work(
        self, api: LocalBotAPI, token: str
    ) -> None:
        alice = api.user(token)
        markup = json.dumps(KEYBOARD.model_dump(exclude_none=True))
        async with aiohttp.ClientSession() as http:
            url = f"{api.url}/bot{token}/sendMessage"
            async with http.post(url, json={"chat_id": alice.chat_id, "text": "json"}) as r:
                assert (await r.json())["result"]["text"] == "json"
            form = {"chat_id": str(alice.chat_id), "text": "form", "reply_markup": markup}
            async with http.post(url, data=form) as r:
                assert (await r.json())["result"]["reply_markup"]["inline_keyboard"]
            async with http.get(url, params={"chat_id": alice.chat_id, "text": "query"}) as r:
                assert (await r.json())["ok"] is True
            async with http.post(f"{api.url}/bot{token}/GETME") as r:
                assert (await r.json())["result"]["username"] == "test_bot"
        assert [m["text"] for m in alice.sent] == ["json", "form", "query"]


class TestWebhook:
    async def test_updates_are_posted_with_the_secret_header(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        async with Receiver() as receiver:
            assert await bot.set_webhook(receiver.url, secret_token="s3cret")
            await alice.send("hello hook")
            update, secret = await asyncio.wait_for(receiver.requests.get(), 30)
        assert secret == "s3cret"
        assert update["message"]["text"] == "hello hook"
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (receiver.url, 0)

    async def test_get_updates_conflicts_while_a_webhook_is_set(self, bot: Bot) -> None:
        await bot.set_webhook("http://127.0.0.1:9/hook")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook()
        assert await bot.get_updates() == []

    async def test_failed_delivery_is_retried_and_kept_pending(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        async def fail_twice(count: int) -> web.Response:
            return web.Response(status=500 if count <= 2 else 200)

        alice = api.user(token)
        async with Receiver(fail_twice) as receiver:
            await bot.set_webhook(receiver.url)
            await alice.send("retry me")
            first, _ = await asyncio.wait_for(receiver.requests.get(), 30)
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 1
            assert info.last_error_message is not None
            assert "500" in info.last_error_message
            for _ in range(2):
                again, _ = await asyncio.wait_for(receiver.requests.get(), 30)
                assert again == first
        assert receiver.count == 3

    async def test_undelivered_update_survives_switching_back_to_polling(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)
        await bot.set_webhook("http://127.0.0.1:9/unreachable")
        await alice.send("kept")
        assert await bot.delete_webhook()
        [update] = await bot.get_updates()
        assert update.message is not None
        assert update.message.text == "kept"

    async def test_method_in_the_webhook_response_is_executed(
        self, api: LocalBotAPI, token: str, bot: Bot
    ) -> None:
        alice = api.user(token)

        async def answer(count: int) -> web.Response:
            return web.json_response(
                {"method": "sendMessage", "chat_id": alice.chat_id, "text": "from response"}
            )

        async with Receiver(answer) as receiver:
            await bot.set_webhook(receiver.url, drop_pending_updates=True)
            await alice.send("hi")
            assert (await alice.reply())["text"] == "from response"


class TestRunModes:
    async def test_server_in_a_thread_serves_a_client_on_another_loop(self) -> None:
        with LocalBotAPI() as api:
            token = api.add_bot(username="threaded_bot")
            alice = api.user(token)
            bot = client(api, token)
            try:
                await alice.send("across threads")
                api.run_sync(alice.send("from sync code"))
                updates = await bot.get_updates()
                assert [u.message.text for u in updates if u.message] == [
                    "across threads",
                    "from sync code",
                ]
                await bot.send_message(alice.chat_id, "back")
                assert (await alice.reply())["text"] == "back"
            finally:
                await bot.session.close()

    def test_module_runs_standalone_and_chats_with_a_bot_in_another_process(self) -> None:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "botsessions.testing.bot_api", "--chat", "--first-name", "Counter"],
            encoding="utf-8",
            timeout=60,
        )
        child.expect(r"Bot API server: (http://127\.0\.0\.1:\d+)")
        url = child.match.group(1)
        child.expect(r"Token:\s+(\d+:\S+)")
        token = child.match.group(1)
        child.expect("/quit to stop")
        example = Path(__file__).resolve().parents[2] / "examples" / "complete.py"
        env = {**os.environ, "BOT_TOKEN": token, "BOT_API_SERVER": url}
        bot_process = subprocess.Popen([sys.executable, str(example)], env=env)
        try:
            child.sendline("hello")
            child.sendline("/stats")
            child.expect("Counter: Messages in this chat: 2")
            child.sendline("/quit")
            child.expect(pexpect.EOF)
        finally:
            bot_process.send_signal(signal.SIGINT)
            bot_process.wait(timeout=60)
            child.close()
        assert child.exitstatus == 0


class TestCommandLine:
    def test_help_names_the_module_and_runs_without_a_runpy_warning(self) -> None:
        result = subprocess.run(
            [sys.executable, "-W", "default", "-m", "botsessions.testing.bot_api", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert result.stdout.startswith("usage: python -m botsessions.testing.bot_api ")
        assert "--token" in result.stdout
        assert result.stderr == ""

    def test_given_token_is_served_and_the_printed_command_points_a_client_at_it(self) -> None:
        token = "4242:a-fixed-secret"
        child = pexpect.spawn(
            sys.executable,
            ["-W", "default", "-m", "botsessions.testing.bot_api", "--token", token],
            encoding="utf-8",
            timeout=60,
        )
        try:
            child.expect(r"Run a bot:\s+(.*) python your_bot\.py")
            env = dict(item.split("=", 1) for item in shlex.split(child.match.group(1)))
            child.expect("Ctrl\\+C to stop")
            assert "RuntimeWarning" not in child.before
            assert env["BOT_TOKEN"] == token
            assert env["BOT_API_SERVER"].startswith("http://127.0.0.1:")
            me = asyncio.run(_get_me(env["BOT_API_SERVER"], env["BOT_TOKEN"]))
            assert (me["id"], me["username"]) == (4242, "test_bot")
        finally:
            child.sendintr()
            child.expect(pexpect.EOF)
            child.close()
        assert child.exitstatus == 0

    def test_malformed_token_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["--token", "no-colon"])
        assert exited.value.code == 2
        assert "--token: malformed token 'no-colon'" in capsys.readouterr().err


async def _get_me(url: str, token: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/bot{token}/getMe") as response:
        body: dict[str, Any] = await response.json()
    assert body["ok"] is True
    result: dict[str, Any] = body["result"]
    return result
