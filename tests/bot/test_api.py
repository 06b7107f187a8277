"""The Bot API client: every method by name, typed results, errors, file uploads."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import BodyPartReader, web

from botsessions.bot import (
    Api,
    BadRequest,
    Conflict,
    Forbidden,
    InputFile,
    Message,
    NetworkError,
    RetryAfter,
    ServerError,
    TelegramError,
    TelegramObject,
    Unauthorized,
    User,
)
from botsessions.testing.bot_api import LocalBotAPI


@pytest.fixture
async def local() -> AsyncIterator[tuple[LocalBotAPI, Api, str]]:
    async with LocalBotAPI() as server:
        token = server.add_bot(username="api_bot")
        async with Api(token, server=server.url) as api:
            yield server, api, token


class TestAgainstTheLocalServer:
    async def test_get_me_is_a_typed_user(self, local: tuple[LocalBotAPI, Api, str]) -> None:
        _, api, _ = local
        me = await api.get_me()
        assert isinstance(me, User)
        assert me.username == "api_bot"
        assert me.is_bot is True

    async def test_send_message_returns_the_message(
        self, local: tuple[LocalBotAPI, Api, str]
    ) -> None:
        server, api, token = local
        user = server.user(token, first_name="Alice")
        await user.send("hi")
        sent = await api.send_message(user.chat_id, "hello")
        assert isinstance(sent, Message)
        assert sent.text == "hello"
        assert sent.chat.id == user.chat_id
        assert (await user.reply())["text"] == "hello"

    async def test_any_method_by_its_snake_case_name(
        self, local: tuple[LocalBotAPI, Api, str]
    ) -> None:
        server, api, token = local
        commands = [{"command": "start", "description": "Start"}]
        assert await api.set_my_commands(commands=commands) is True
        got = await api.get_my_commands()
        assert [c.command for c in got] == ["start"]
        assert "setMyCommands" in [method for method, _ in server.calls(token)]

    async def test_call_takes_the_camel_case_name_and_returns_raw_json(
        self, local: tuple[LocalBotAPI, Api, str]
    ) -> None:
        _, api, _ = local
        me = await api.call("getMe")
        assert isinstance(me, dict)
        assert me["username"] == "api_bot"

    async def test_reply_markup_dicts_and_objects_are_sent_as_json(
        self, local: tuple[LocalBotAPI, Api, str]
    ) -> None:
        server, api, token = local
        user = server.user(token)
        await user.send("hi")
        markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
        await api.send_message(user.chat_id, "pick", reply_markup=markup)
        await api.send_message(user.chat_id, "again", reply_markup=TelegramObject(markup))
        first, second = await user.reply(), await user.reply()
        assert first["reply_markup"] == markup
        assert second["reply_markup"] == markup

    async def test_an_aiogram_markup_is_dumped(self, local: tuple[LocalBotAPI, Api, str]) -> None:
        types = pytest.importorskip("aiogram.types")
        server, api, token = local
        user = server.user(token)
        await user.send("hi")
        button = types.InlineKeyboardButton(text="Go", callback_data="go")
        markup = types.InlineKeyboardMarkup(inline_keyboard=[[button]])
        await api.send_message(user.chat_id, "pick", reply_markup=markup)
        reply = await user.reply()
        assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "go"

    async def test_a_refused_call_raises_bad_request(
        self, local: tuple[LocalBotAPI, Api, str]
    ) -> None:
        _, api, _ = local
        with pytest.raises(BadRequest) as info:
            await api.send_message(123456789, "nobody here")
        assert info.value.error_code == 400
        assert info.value.method == "sendMessage"
        assert "chat not found" in info.value.description

    async def test_an_unknown_method_is_a_telegram_error(
        self, local: tuple[LocalBotAPI, Api, str]
    ) -> None:
        _, api, _ = local
        with pytest.raises(TelegramError) as info:
            await api.no_such_method()
        assert info.value.error_code == 404
        assert type(info.value) is TelegramError

    async def test_a_rejected_token_is_unauthorized(self) -> None:
        async with LocalBotAPI() as server, Api("1:unknown", server=server.url) as api:
            with pytest.raises(Unauthorized, match="@BotFather"):
                await api.get_me()


class TestConstruction:
    @pytest.mark.parametrize("token", ["", "abc", "12:", ":x", "12 :x", "1:a b"])
    def test_a_malformed_token_is_refused(self, token: str) -> None:
        with pytest.raises(ValueError, match="token is malformed"):
            Api(token)

    def test_private_names_are_not_methods(self) -> None:
        with pytest.raises(AttributeError):
            _ = Api("1:x")._private

    def test_the_default_server_is_telegram(self) -> None:
        assert Api("1:x").server == "https://api.telegram.org"
        assert Api("1:x", server="http://127.0.0.1:8081/").server == "http://127.0.0.1:8081"


class Recorder:
    """A Bot API stand-in that records each request and answers as scripted."""

    def __init__(self, answer: web.Response | None = None) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        parts: dict[str, Any] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                assert isinstance(part, BodyPartReader)
                assert part.name is not None
                data = await part.read()
                parts[part.name] = (
                    (part.filename, bytes(data)) if part.filename else bytes(data).decode()
                )
        else:
            parts = await request.json()
        self.requests.append((request.match_info["method"], request.content_type, parts))
        if self.answer is not None:
            return self.answer
        message = {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}
        return web.json_response({"ok": True, "result": message})


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    recording = Recorder()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", recording.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recording.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield recording
    await runner.cleanup()


class TestUploads:
    async def test_bytes_path_and_file_objects_are_uploaded(
        self, recorder: Recorder, tmp_path: Path
    ) -> None:
        path = tmp_path / "cat.jpg"
        path.write_bytes(b"from a path")
        async with Api("1:x", server=recorder.url) as api:
            await api.send_photo(1, b"raw bytes", caption="bytes")
            await api.send_photo(1, path)
            await api.send_document(1, io.BytesIO(b"from a file"), disable_notification=True)
            await api.send_document(1, InputFile(b"named", filename="notes.txt"))
        photos = [parts["photo"] for _, _, parts in recorder.requests[:2]]
        documents = [parts["document"] for _, _, parts in recorder.requests[2:]]
        assert photos == [("file", b"raw bytes"), ("cat.jpg", b"from a path")]
        assert documents == [("file", b"from a file"), ("notes.txt", b"named")]
        assert {ctype for _, ctype, _ in recorder.requests} == {"multipart/form-data"}
        first, third = recorder.requests[0][2], recorder.requests[2][2]
        assert (first["chat_id"], first["caption"]) == ("1", "bytes")
        assert third["disable_notification"] == "true"

    async def test_files_in_media_arrays_are_attached(self, recorder: Recorder) -> None:
        recorder.answer = web.json_response({"ok": True, "result": []})
        media: list[dict[str, Any]] = [
            {"type": "photo", "media": b"first"},
            {"type": "photo", "media": "AgACAgIAAxkBAAI", "caption": "by file_id"},
        ]
        async with Api("1:x", server=recorder.url) as api:
            await api.send_media_group(1, media)
        method, _, parts = recorder.requests[0]
        assert method == "sendMediaGroup"
        sent_media = json.loads(parts["media"])
        assert sent_media[0]["media"] == "attach://file0"
        assert sent_media[1]["media"] == "AgACAgIAAxkBAAI"
        assert parts["file0"] == ("file", b"first")

    async def test_without_files_the_body_is_json_without_nones(self, recorder: Recorder) -> None:
        async with Api("1:x", server=recorder.url) as api:
            await api.send_message(1, "hi", reply_markup={"remove_keyboard": True}, parse_mode=None)
        assert recorder.requests == [
            (
                "sendMessage",
                "application/json",
                {"chat_id": 1, "text": "hi", "reply_markup": {"remove_keyboard": True}},
            )
        ]

    async def test_file_names_and_texts_arrive_exactly_as_given(self, recorder: Recorder) -> None:
        names = ["plain.txt", 'say "cheese".jpg', "résumé 📎.pdf", "line\nbreak.txt"]
        async with Api("1:x", server=recorder.url) as api:
            for name in names:
                await api.send_document(1, InputFile(b"--boundary?\r\n", filename=name))
            await api.send_photo(1, b"img", caption='Ünïcode "quotes"\r\nand lines')
        documents = [parts["document"] for _, _, parts in recorder.requests[:4]]
        assert documents == [(name, b"--boundary?\r\n") for name in names]
        assert recorder.requests[4][2]["caption"] == 'Ünïcode "quotes"\r\nand lines'

    def test_a_string_is_not_a_file(self) -> None:
        with pytest.raises(TypeError, match="file_id or URL"):
            InputFile("photo.jpg")  # type: ignore[arg-type]


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "cls"),
        [(400, BadRequest), (401, Unauthorized), (403, Forbidden), (409, Conflict)],
    )
    async def test_each_error_code_has_its_class(
        self, recorder: Recorder, status: int, cls: type[TelegramError]
    ) -> None:
        body = {"ok": False, "error_code": status, "description": f"Error {status}"}
        recorder.answer = web.json_response(body, status=status)
        async with Api("1:x", server=recorder.url) as api:
            with pytest.raises(cls) as info:
                await api.send_message(1, "hi")
        assert info.value.error_code == status
        assert info.value.description == f"Error {status}"

    async def test_flood_control_carries_retry_after(self, recorder: Recorder) -> None:
        body = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }
        recorder.answer = web.json_response(body, status=429)
        async with Api("1:x", server=recorder.url) as api:
            with pytest.raises(RetryAfter) as info:
                await api.send_message(1, "hi")
        assert info.value.retry_after == 7
        assert info.value.parameters == {"retry_after": 7}

    async def test_a_server_failure_without_json_is_a_server_error(
        self, recorder: Recorder
    ) -> None:
        recorder.answer = web.Response(status=502, text="<html>Bad Gateway</html>")
        async with Api("1:x", server=recorder.url) as api:
            with pytest.raises(ServerError) as info:
                await api.get_me()
        assert info.value.error_code == 502

    async def test_an_unreachable_server_is_a_network_error(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        async with Api("1:x", server=f"http://127.0.0.1:{port}") as api:
            with pytest.raises(NetworkError, match="cannot reach") as info:
                await api.get_me()
        assert info.value.error_code is None
        assert repr(info.value).startswith("NetworkError(method='getMe'")
