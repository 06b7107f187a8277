"""Long polling: answering, graceful stop, offsets across restarts, retries."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from botsessions import Bot, BotError, Context
from botsessions.bot import Conflict, NextFn, Unauthorized
from botsessions.testing.bot_api import LocalBotAPI
from tests.bot._updates import BOT_INFO, text


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI() as server:
        yield server


async def finish(task: asyncio.Task[None]) -> None:
    await asyncio.wait_for(task, timeout=20)


class TestPolling:
    async def test_polling_answers_start_and_stops_gracefully(self, api: LocalBotAPI) -> None:
        token = api.add_bot(username="demo_bot")
        user = api.user(token, first_name="Alice")
        bot = Bot(token, api_server=api.url)

        @bot.command("start")
        async def start(ctx: Context, next: NextFn) -> None:
            await ctx.reply(f"Hello, {ctx.from_user.first_name if ctx.from_user else '?'}!")
            bot.stop()

        task = asyncio.create_task(bot.run_polling(timeout=10))
        await user.send("/start")
        reply = await user.reply(timeout=10)
        await finish(task)
        assert reply["text"] == "Hello, Alice!"
        assert api.pending_updates(token) == []  # the offset was confirmed on stop

    async def test_offsets_survive_a_restart_without_loss_or_repeats(
        self, api: LocalBotAPI
    ) -> None:
        token = api.add_bot()
        user = api.user(token)
        for word in ("one", "two", "three"):
            await user.send(word)
        handled: list[str] = []

        def make(stop_after: str | None) -> Bot:
            bot = Bot(token, api_server=api.url)

            @bot.on("message:text")
            async def record(ctx: Context, next: NextFn) -> None:
                handled.append(ctx.update["message"]["text"])
                if ctx.update["message"]["text"] == stop_after:
                    bot.stop()

            return bot

        await finish(asyncio.create_task(make("two").run_polling(timeout=5)))
        assert handled == ["one", "two"]
        assert [u["message"]["text"] for u in api.pending_updates(token)] == ["three"]

        await user.send("four")
        await finish(asyncio.create_task(make("four").run_polling(timeout=5)))
        assert handled == ["one", "two", "three", "four"]
        assert api.pending_updates(token) == []

    async def test_stop_interrupts_a_waiting_long_poll(self, api: LocalBotAPI) -> None:
        token = api.add_bot()
        bot = Bot(token, api_server=api.url)
        handled = asyncio.Event()
        bot.on("message", lambda ctx, next: _set(handled))
        task = asyncio.create_task(bot.run_polling(timeout=60))
        await api.user(token).send("hi")
        await handled.wait()
        bot.stop()  # the next getUpdates waits up to 60 s; stop must not
        await finish(task)
        assert api.pending_updates(token) == []

    async def test_a_webhook_is_deleted_before_polling(self, api: LocalBotAPI) -> None:
        token = api.add_bot()
        bot = Bot(token, api_server=api.url)
        await bot.api.set_webhook("http://127.0.0.1:9/hook")
        handled = asyncio.Event()

        @bot.on("message")
        async def got(ctx: Context, next: NextFn) -> None:
            handled.set()
            bot.stop()

        task = asyncio.create_task(bot.run_polling(timeout=5))
        await api.user(token).send("hi")
        await finish(task)
        assert handled.is_set()
        assert "deleteWebhook" in [method for method, _ in api.calls(token)]

    async def test_errors_are_logged_and_polling_continues_by_default(
        self, api: LocalBotAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        token = api.add_bot()
        user = api.user(token)
        bot = Bot(token, api_server=api.url)
        handled: list[str] = []

        @bot.on("message:text")
        async def fragile(ctx: Context, next: NextFn) -> None:
            word = ctx.update["message"]["text"]
            handled.append(word)
            if word == "fail":
                raise ValueError("handler failed")
            bot.stop()

        await user.send("fail")
        await user.send("ok")
        with caplog.at_level(logging.ERROR, logger="botsessions.bot"):
            await finish(asyncio.create_task(bot.run_polling(timeout=5)))
        assert handled == ["fail", "ok"]
        assert "handler failed" in caplog.text

    async def test_an_error_handler_that_raises_stops_polling(self, api: LocalBotAPI) -> None:
        token = api.add_bot()
        user = api.user(token)
        bot = Bot(token, api_server=api.url)
        bot.use(lambda ctx, next: _raise(ValueError("handler failed")))

        @bot.catch
        async def fatal(err: BotError) -> None:
            raise RuntimeError("giving up") from err

        await user.send("one")
        with pytest.raises(RuntimeError, match="giving up"):
            await finish(asyncio.create_task(bot.run_polling(timeout=5)))
        assert len(api.pending_updates(token)) == 1  # not confirmed: delivered again

    async def test_concurrency_handles_several_updates_at_once(self, api: LocalBotAPI) -> None:
        token = api.add_bot()
        bot = Bot(token, api_server=api.url)
        user = api.user(token)
        both_running = asyncio.Event()
        running = 0
        handled = 0

        @bot.on("message")
        async def slow(ctx: Context, next: NextFn) -> None:
            nonlocal running, handled
            running += 1
            if running == 2:
                both_running.set()
            await both_running.wait()
            handled += 1
            if handled == 2:
                bot.stop()

        await user.send("a")
        await user.send("b")
        await finish(asyncio.create_task(bot.run_polling(timeout=5, concurrency=2)))
        assert handled == 2
        assert api.pending_updates(token) == []

    async def test_a_rejected_token_stops_polling_with_a_clear_error(
        self, api: LocalBotAPI
    ) -> None:
        bot = Bot("999:not-registered", api_server=api.url, bot_info=BOT_INFO)
        with pytest.raises(Unauthorized, match="token was rejected") as info:
            await finish(asyncio.create_task(bot.run_polling(timeout=5)))
        assert str(info.value).count("token was rejected") == 1

    async def test_a_rejected_token_at_init_is_explained_once(self, api: LocalBotAPI) -> None:
        bot = Bot("999:not-registered", api_server=api.url)
        with pytest.raises(Unauthorized) as info:
            await finish(asyncio.create_task(bot.run_polling(timeout=5)))
        assert str(info.value).count("token was rejected") == 1
        assert info.value.__cause__ is None  # not wrapped in a second explanation

    async def test_start_inside_an_event_loop_points_to_run_polling(self) -> None:
        bot = Bot("4242:token", bot_info=BOT_INFO)
        with pytest.raises(RuntimeError, match=r"await bot.run_polling\(\)"):
            bot.start()

    async def test_polling_twice_at_once_is_refused(self, api: LocalBotAPI) -> None:
        token = api.add_bot()
        bot = Bot(token, api_server=api.url)
        started = asyncio.Event()
        bot.on("message", lambda ctx, next: _set(started))
        task = asyncio.create_task(bot.run_polling(timeout=5))
        await api.user(token).send("hi")
        await started.wait()
        with pytest.raises(RuntimeError, match="already polling"):
            await bot.run_polling()
        bot.stop()
        await finish(task)


async def _set(event: asyncio.Event) -> None:
    event.set()


async def _raise(exc: Exception) -> None:
    raise exc


class FaultyServer:
    """A Bot API stand-in whose first getUpdates answers fail in a scripted way."""

    def __init__(self, faults: Sequence[Callable[[web.Request], Any]]) -> None:
        self.faults = list(faults)
        self.calls: list[tuple[float, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FaultyServer:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if method != "getUpdates":
            return web.json_response({"ok": True, "result": True})
        params = {key: str(value) for key, value in (await request.json()).items()}
        self.calls.append((time.monotonic(), params))
        if self.faults:
            result = self.faults.pop(0)(request)
            if isinstance(result, web.StreamResponse):
                return result
        if params.get("timeout", "0") != "0" and len(self.calls) > 1:
            await asyncio.sleep(3600)  # a long poll that only stop() ends
        return web.json_response({"ok": True, "result": []})


def _too_many_requests(request: web.Request) -> web.Response:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    return web.json_response(body, status=429)


def _conflict(request: web.Request) -> web.Response:
    body = {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: terminated by other getUpdates request",
    }
    return web.json_response(body, status=409)


def _bad_gateway(request: web.Request) -> web.Response:
    return web.Response(status=502, text="<html>Bad Gateway</html>")


def _disconnect(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


def _one_update(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "result": [text("hi")]})


class TestRetries:
    async def test_flood_control_waits_the_retry_after_the_server_asked_for(self) -> None:
        async with FaultyServer([_too_many_requests, _one_update]) as server:
            bot = Bot("4242:token", api_server=server.url, bot_info=BOT_INFO)

            @bot.on("message")
            async def got(ctx: Context, next: NextFn) -> None:
                bot.stop()

            await finish(asyncio.create_task(bot.run_polling(timeout=5)))
        (first, _), (second, _) = server.calls[:2]
        assert second - first >= 0.9  # retry_after is 1 s

    async def test_a_conflict_stops_polling_with_the_error(self) -> None:
        async with FaultyServer([_conflict]) as server:
            bot = Bot("4242:token", api_server=server.url, bot_info=BOT_INFO)
            with pytest.raises(Conflict, match="terminated by other getUpdates") as info:
                await finish(asyncio.create_task(bot.run_polling(timeout=5)))
        assert info.value.error_code == 409
        assert info.value.method == "getUpdates"

    async def test_server_errors_are_retried_with_backoff(self) -> None:
        async with FaultyServer([_bad_gateway, _one_update]) as server:
            bot = Bot("4242:token", api_server=server.url, bot_info=BOT_INFO)
            handled: list[str] = []

            @bot.on("message:text")
            async def got(ctx: Context, next: NextFn) -> None:
                handled.append(ctx.update["message"]["text"])
                bot.stop()

            await finish(
                asyncio.create_task(bot.run_polling(timeout=5, retry_initial=0.01, retry_max=0.05))
            )
        assert handled == ["hi"]

    async def test_network_errors_are_retried_with_backoff(self) -> None:
        faults = [_disconnect, _disconnect, _one_update]
        async with FaultyServer(faults) as server:
            bot = Bot("4242:token", api_server=server.url, bot_info=BOT_INFO)
            handled: list[str] = []

            @bot.on("message:text")
            async def got(ctx: Context, next: NextFn) -> None:
                handled.append(ctx.update["message"]["text"])
                bot.stop()

            await finish(
                asyncio.create_task(bot.run_polling(timeout=5, retry_initial=0.01, retry_max=0.05))
            )
        assert handled == ["hi"]
        attempts = [params for _, params in server.calls]
        assert len(attempts) == 4  # two failures, the update, the confirmation on stop
        assert attempts[-1]["timeout"] == "0"
        assert "offset" in attempts[-1]


SCRIPT = """
import sys
from botsessions import Bot

bot = Bot(sys.argv[2], api_server=sys.argv[1])

@bot.command("start")
async def start(ctx, next):
    await ctx.reply("Welcome!")

bot.start(timeout=30)
print("stopped cleanly", flush=True)
"""


class TestStartInASubprocess:
    @pytest.mark.slow
    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
    async def test_start_answers_over_http_and_stops_on_a_signal(
        self, api: LocalBotAPI, tmp_path: Path, sig: signal.Signals
    ) -> None:
        token = api.add_bot(username="demo_bot")
        user = api.user(token)
        script = tmp_path / "bot.py"
        script.write_text(SCRIPT)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), api.url, token, stdout=asyncio.subprocess.PIPE
        )
        try:
            await user.send("/start")
            reply = await user.reply(timeout=30)
            process.send_signal(sig)
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert reply["text"] == "Welcome!"
        assert process.returncode == 0
        assert b"stopped cleanly" in stdout
        assert api.pending_updates(token) == []
