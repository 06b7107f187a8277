"""Bot: initialization, handle_update, errors, catch."""

from __future__ import annotations

import socket

import pytest

from botsessions import Bot, BotError, Context
from botsessions.bot import NetworkError, NextFn, Unauthorized, User
from botsessions.testing.bot_api import LocalBotAPI
from tests.bot._updates import BOT_INFO, make_bot, text


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class TestInit:
    async def test_bot_info_skips_get_me(self) -> None:
        bot = Bot("4242:token", bot_info=BOT_INFO, api_server=closed_port_url())
        await bot.init()  # no server is listening: no request was made
        assert bot.me.username == "test_bot"

    async def test_init_fetches_the_bot_with_get_me(self) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="demo_bot")
            bot = Bot(token, api_server=api.url)
            assert not bot.is_initialized
            await bot.init()
            await bot.init()
            await bot.api.close()
            calls = [method for method, _ in api.calls(token)]
        assert bot.me.username == "demo_bot"
        assert calls == ["getMe"]

    async def test_rejected_token_gives_one_clear_error(self) -> None:
        async with LocalBotAPI() as api:
            url = api.url
            bot = Bot("999:not-registered", api_server=url)
            with pytest.raises(Unauthorized, match="token was rejected") as info:
                await bot.init()
            await bot.api.close()
        message = str(info.value)
        assert "@BotFather" in message
        assert url in message
        assert message.count("rejected") == 1  # explained once, not wrapped again
        assert info.value.error_code == 401
        assert info.value.method == "getMe"

    async def test_unreachable_server_gives_one_clear_error(self) -> None:
        url = closed_port_url()
        bot = Bot("4242:token", api_server=url)
        with pytest.raises(NetworkError, match="cannot reach the Bot API server") as info:
            await bot.init()
        await bot.api.close()
        assert url in str(info.value)
        assert str(info.value).count("cannot reach") == 1

    def test_bot_info_may_be_a_user_object(self) -> None:
        bot = Bot("4242:token", bot_info=User(BOT_INFO))
        assert bot.me.id == BOT_INFO["id"]

    def test_bot_info_that_is_not_a_get_me_result_is_rejected(self) -> None:
        with pytest.raises(TypeError, match="getMe result"):
            Bot("4242:token", bot_info={"username": "no_id"})

    def test_malformed_token_is_rejected_when_built(self) -> None:
        with pytest.raises(ValueError, match="token is malformed"):
            Bot("not a token")

    async def test_handling_before_init_explains_what_to_do(self) -> None:
        bot = Bot("4242:token")
        with pytest.raises(RuntimeError, match=r"await bot.init\(\)"):
            await bot.handle_update(text("hi"))


class TestHandleUpdate:
    async def test_accepts_an_aiogram_update(self) -> None:
        types = pytest.importorskip("aiogram.types")
        bot = make_bot()
        seen: list[object] = []

        @bot.on("message:text")
        async def handler(ctx: Context, next: NextFn) -> None:
            seen.append(ctx.update)

        raw = text("hi")
        await bot.handle_update(types.Update.model_validate(raw))
        assert seen == [raw]

    async def test_a_raising_middleware_becomes_bot_error(self) -> None:
        bot = make_bot()
        failure = ValueError("boom")

        @bot.use
        async def fail(ctx: Context, next: NextFn) -> None:
            raise failure

        raw = text("hi")
        with pytest.raises(BotError) as info:
            await bot.handle_update(raw)
        assert info.value.error is failure
        assert info.value.__cause__ is failure
        assert info.value.ctx.update is raw
        assert str(raw["update_id"]) in str(info.value)

    @pytest.mark.parametrize("bad", [None, "update", 42, [1]])
    async def test_an_update_that_is_not_a_dict_is_rejected(self, bad: object) -> None:
        with pytest.raises(TypeError, match="Malformed update: expected a dict"):
            await make_bot().handle_update(bad)  # type: ignore[arg-type]

    async def test_an_update_without_update_id_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="Malformed update: no 'update_id'"):
            await make_bot().handle_update({"message": {}})

    async def test_a_custom_context_type_is_used(self) -> None:
        class MyContext(Context):
            __slots__ = ()

            @property
            def shout(self) -> str:
                return str(self.update["message"]["text"]).upper()

        bot = make_bot(context_type=MyContext)
        seen: list[str] = []

        @bot.use
        async def handler(ctx: Context, next: NextFn) -> None:
            assert isinstance(ctx, MyContext)
            seen.append(ctx.shout)

        await bot.handle_update(text("hi"))
        assert seen == ["HI"]


class TestCatch:
    async def test_catch_takes_sync_and_async_handlers_and_returns_them(self) -> None:
        bot = make_bot()
        seen: list[BotError] = []

        @bot.catch
        def on_error(err: BotError) -> None:
            seen.append(err)

        err = BotError(ValueError("x"), Context(text("x"), bot.api, bot.me))
        await bot.report_error(err)

        async def on_error_async(err: BotError) -> None:
            seen.append(err)

        assert bot.catch(on_error_async) is on_error_async
        await bot.report_error(err)
        assert seen == [err, err]

    def test_catch_rejects_non_callables(self) -> None:
        with pytest.raises(TypeError, match="callable"):
            make_bot().catch("nope")  # type: ignore[arg-type]


class TestApiServerFromTheEnvironment:
    def test_bot_api_server_is_read_when_api_server_is_not_given(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BOT_API_SERVER", "http://127.0.0.1:8081/")
        assert Bot("4242:token").api.server == "http://127.0.0.1:8081"

    def test_an_explicit_api_server_wins_over_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BOT_API_SERVER", "http://127.0.0.1:8081")
        assert Bot("4242:token", api_server="http://10.0.0.1").api.server == "http://10.0.0.1"

    @pytest.mark.parametrize("value", [None, ""])
    def test_without_the_variable_the_bot_talks_to_telegram(
        self, monkeypatch: pytest.MonkeyPatch, value: str | None
    ) -> None:
        if value is None:
            monkeypatch.delenv("BOT_API_SERVER", raising=False)
        else:
            monkeypatch.setenv("BOT_API_SERVER", value)
        assert Bot("4242:token").api.server == "https://api.telegram.org"

    async def test_a_bot_written_for_telegram_polls_the_server_in_the_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="env_bot")
            monkeypatch.setenv("BOT_API_SERVER", api.url)
            bot = Bot(token)
            await bot.init()
            await bot.api.close()
        assert bot.me.username == "env_bot"
