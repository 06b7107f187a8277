"""Webhooks: aiohttp handler/app and the ASGI app, secret-token checks, error answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from botsessions import Bot, BotError, Context
from botsessions.bot import NextFn
from botsessions.bot.webhook import (
    MAX_BODY,
    SECRET_HEADER,
    ASGIApp,
    asgi_app,
    webhook_app,
    webhook_handler,
)
from botsessions.testing.bot_api import LocalBotAPI
from tests.bot._updates import make_bot, text

SECRET = "s3cret_token-1"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def asgi_over_aiohttp(app: ASGIApp) -> web.Application:
    """The smallest HTTP server for an ASGI app: one aiohttp catch-all route."""

    async def handle(request: web.Request) -> web.Response:
        scope = {
            "type": "http",
            "method": request.method,
            "path": request.path,
            "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        }
        body = await request.read()
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return web.Response(status=sent[0]["status"], body=sent[1]["body"])

    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", handle)
    return server


async def call_asgi(
    app: ASGIApp,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def recording_bot() -> tuple[Bot, list[int]]:
    bot = make_bot()
    handled: list[int] = []

    @bot.use
    async def record(ctx: Context, next: NextFn) -> None:
        handled.append(ctx.update["update_id"])

    return bot, handled


@pytest.fixture
async def aiohttp_hook() -> AsyncIterator[tuple[str, list[int]]]:
    bot, handled = recording_bot()
    app = web.Application()
    app.router.add_post("/hook", webhook_handler(bot, secret_token=SECRET))
    runner, url = await serve(app)
    yield f"{url}/hook", handled
    await runner.cleanup()
    await bot.api.close()


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


class TestAiohttpSecret:
    async def test_correct_secret_is_accepted_and_dispatched(
        self, aiohttp_hook: tuple[str, list[int]]
    ) -> None:
        url, handled = aiohttp_hook
        update = text("hi")
        status, _ = await post(url, json.dumps(update).encode(), {SECRET_HEADER: SECRET})
        assert status == 200
        assert handled == [update["update_id"]]

    @pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
    async def test_wrong_or_missing_secret_is_403_and_nothing_is_dispatched(
        self, aiohttp_hook: tuple[str, list[int]], headers: dict[str, str]
    ) -> None:
        url, handled = aiohttp_hook
        status, _ = await post(url, json.dumps(text("hi")).encode(), headers)
        assert status == 403
        assert handled == []

    async def test_a_body_that_is_not_an_update_is_400(
        self, aiohttp_hook: tuple[str, list[int]]
    ) -> None:
        url, handled = aiohttp_hook
        for body in (b"not json", b"[1, 2]", b'{"message": {}}'):
            status, _ = await post(url, body, {SECRET_HEADER: SECRET})
            assert status == 400
        assert handled == []

    async def test_a_secret_header_that_is_not_utf8_is_403_not_500(
        self, aiohttp_hook: tuple[str, list[int]]
    ) -> None:
        url, handled = aiohttp_hook
        status = await raw_post(url, [(SECRET_HEADER.encode(), b"\xff\xfe\x80")], b"{}")
        assert status == 403
        assert handled == []

    async def test_a_body_over_one_mib_is_413(self, aiohttp_hook: tuple[str, list[int]]) -> None:
        url, handled = aiohttp_hook
        status = await raw_post(
            url, [(SECRET_HEADER.encode(), SECRET.encode())], b" " * (MAX_BODY + 1)
        )
        assert status == 413
        assert handled == []


async def raw_post(url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """POST with header bytes exactly as given (aiohttp's client would re-encode them)."""
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [f"POST /{path} HTTP/1.1".encode(), f"Host: {host_port}".encode()]
    head += [name + b": " + value for name, value in headers]
    head += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    with contextlib.suppress(ConnectionError):  # the server may answer before reading it all
        await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


class TestAsgiSecret:
    async def test_correct_secret_is_accepted_and_dispatched(self) -> None:
        bot, handled = recording_bot()
        app = asgi_app(bot, secret_token=SECRET)
        update = text("hi")
        status, body = await call_asgi(
            app, json.dumps(update).encode(), headers={SECRET_HEADER: SECRET}
        )
        assert (status, body) == (200, b"")
        assert handled == [update["update_id"]]

    @pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}])
    async def test_wrong_or_missing_secret_is_403_and_nothing_is_dispatched(
        self, headers: dict[str, str]
    ) -> None:
        bot, handled = recording_bot()
        app = asgi_app(bot, secret_token=SECRET)
        status, _ = await call_asgi(app, json.dumps(text("hi")).encode(), headers=headers)
        assert status == 403
        assert handled == []

    async def test_other_methods_and_paths_are_refused(self) -> None:
        bot, handled = recording_bot()
        app = asgi_app(bot, path="/hook")
        body = json.dumps(text("hi")).encode()
        assert (await call_asgi(app, body, path="/other"))[0] == 404
        assert (await call_asgi(app, body, path="/hook", method="GET"))[0] == 405
        assert handled == []

    async def test_lifespan_initializes_and_closes(self) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="life_bot")
            bot = Bot(token, api_server=api.url)
            app = asgi_app(bot)
            inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
            sent: list[MutableMapping[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return inbox.pop(0)

            async def send(message: MutableMapping[str, Any]) -> None:
                sent.append(message)

            await app({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        assert bot.me.username == "life_bot"

    async def test_a_declared_body_over_one_mib_is_413_before_reading_it(self) -> None:
        bot, handled = recording_bot()
        app = asgi_app(bot)
        read = 0
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal read
            read += 1
            return {"type": "http.request", "body": b" ", "more_body": True}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        headers = [(b"content-length", str(MAX_BODY + 1).encode())]
        await app(
            {"type": "http", "method": "POST", "path": "/", "headers": headers}, receive, send
        )
        assert sent[0]["status"] == 413
        assert read == 0
        assert handled == []

    async def test_a_streamed_body_over_one_mib_is_413_without_buffering_it(self) -> None:
        bot, handled = recording_bot()
        app = asgi_app(bot)
        chunk = b" " * 65536
        read = 0
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:  # an endless body without Content-Length
            nonlocal read
            read += 1
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await app({"type": "http", "method": "POST", "path": "/", "headers": []}, receive, send)
        assert sent[0]["status"] == 413
        assert read == MAX_BODY // len(chunk) + 1  # stopped at the chunk crossing the limit
        assert handled == []

    async def test_a_body_of_exactly_one_mib_is_read(self) -> None:
        bot, handled = recording_bot()
        update = json.dumps(text("hi")).encode()
        body = update + b" " * (MAX_BODY - len(update))
        status, _ = await call_asgi(asgi_app(bot), body)
        assert status == 200
        assert len(handled) == 1

    def test_a_secret_telegram_would_refuse_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="secret_token"):
            asgi_app(make_bot(), secret_token="has space")


class TestErrors:
    async def test_a_handled_error_goes_to_catch_and_answers_200(self) -> None:
        bot = make_bot()
        bot.use(lambda ctx, next: _raise(ValueError("secret detail")))
        caught: list[BotError] = []
        bot.catch(caught.append)
        status, _ = await call_asgi(asgi_app(bot), json.dumps(text("hi")).encode())
        assert status == 200
        assert [type(e.error) for e in caught] == [ValueError]

    async def test_an_error_handler_that_raises_gives_a_generic_500(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        bot = make_bot()
        bot.use(lambda ctx, next: _raise(ValueError("secret detail")))

        @bot.catch
        def rethrow(err: BotError) -> None:
            raise err

        with caplog.at_level(logging.ERROR, logger="botsessions.bot"):
            status, body = await call_asgi(asgi_app(bot), json.dumps(text("hi")).encode())
        assert status == 500
        assert body == b"Internal Server Error"
        assert "secret detail" in caplog.text


async def _raise(exc: Exception) -> None:
    raise exc


class TestEndToEnd:
    async def test_aiohttp_app_answers_start_through_the_local_bot_api(self) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="hook_bot")
            user = api.user(token, first_name="Alice")
            bot = Bot(token, api_server=api.url)

            @bot.command("start")
            async def start(ctx: Context, next: NextFn) -> None:
                await ctx.reply(f"Hi {ctx.from_user.first_name if ctx.from_user else ''}")

            runner, url = await serve(webhook_app(bot, path="/tg", secret_token=SECRET))
            try:
                await bot.api.set_webhook(f"{url}/tg", secret_token=SECRET)
                await user.send("/start")
                reply = await user.reply(timeout=10)
            finally:
                await runner.cleanup()
        assert reply["text"] == "Hi Alice"

    async def test_asgi_app_answers_start_through_the_local_bot_api(self) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="hook_bot")
            user = api.user(token)
            bot = Bot(token, api_server=api.url)
            bot.command("start", lambda ctx, next: ctx.reply("Welcome!"))
            runner, url = await serve(asgi_over_aiohttp(asgi_app(bot, secret_token=SECRET)))
            try:
                await bot.api.set_webhook(f"{url}/", secret_token=SECRET)
                await user.send("/start")
                reply = await user.reply(timeout=10)
            finally:
                await runner.cleanup()
                await bot.api.close()
        assert reply["text"] == "Welcome!"
