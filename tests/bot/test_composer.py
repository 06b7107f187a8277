"""Middleware trees: order, next() semantics, branches and triggers."""

from __future__ import annotations

import re

import pytest

from botsessions import BotError, Composer, Context
from botsessions.bot import NextFn
from tests.bot._updates import CHANNEL, callback, make_bot, message, text, update


class TestMiddlewareOrder:
    async def test_middleware_runs_in_registration_order_around_next(self) -> None:
        bot = make_bot()
        log: list[str] = []

        @bot.use
        async def outer(ctx: Context, next: NextFn) -> None:
            log.append("outer in")
            await next()
            log.append("outer out")

        @bot.use
        async def inner(ctx: Context, next: NextFn) -> None:
            log.append("inner")

        await bot.handle_update(text("hi"))
        assert log == ["outer in", "inner", "outer out"]

    async def test_middleware_that_does_not_call_next_stops_the_chain(self) -> None:
        bot = make_bot()
        log: list[str] = []

        async def stop(ctx: Context, next: NextFn) -> None:
            log.append("stop")

        async def never(ctx: Context, next: NextFn) -> None:
            log.append("never")

        bot.use(stop, never)
        await bot.handle_update(text("hi"))
        assert log == ["stop"]

    async def test_next_reraises_what_downstream_raised(self) -> None:
        bot = make_bot()
        seen: list[BaseException] = []

        @bot.use
        async def guard(ctx: Context, next: NextFn) -> None:
            try:
                await next()
            except KeyError as exc:
                seen.append(exc)

        @bot.use
        async def boom(ctx: Context, next: NextFn) -> None:
            raise KeyError("downstream")

        await bot.handle_update(text("hi"))
        assert [str(e) for e in seen] == ["'downstream'"]

    async def test_calling_next_twice_raises(self) -> None:
        bot = make_bot()

        @bot.use
        async def twice(ctx: Context, next: NextFn) -> None:
            await next()
            await next()

        @bot.use
        async def noop(ctx: Context, next: NextFn) -> None:
            pass

        with pytest.raises(BotError) as info:
            await bot.handle_update(text("hi"))
        assert isinstance(info.value.error, RuntimeError)
        assert "twice" in str(info.value.error)

    async def test_calling_next_twice_at_the_end_of_the_chain_raises(self) -> None:
        bot = make_bot()

        @bot.use
        async def twice(ctx: Context, next: NextFn) -> None:
            await next()
            await next()

        with pytest.raises(BotError, match="twice"):
            await bot.handle_update(text("hi"))

    async def test_handlers_added_after_the_first_update_are_used(self) -> None:
        bot = make_bot()
        log: list[str] = []
        await bot.handle_update(text("first"))
        sub = bot.on("message")

        @sub
        async def late(ctx: Context, next: NextFn) -> None:
            log.append("late")

        await bot.handle_update(text("second"))
        assert log == ["late"]

    async def test_a_composer_can_be_mounted_in_a_bot(self) -> None:
        feature = Composer()
        log: list[str] = []

        @feature.command("help")
        async def help_(ctx: Context, next: NextFn) -> None:
            log.append("help")

        bot = make_bot()
        bot.use(feature)
        await bot.handle_update(text("/help"))
        assert log == ["help"]

    async def test_a_handler_added_to_a_mounted_composer_later_is_used(self) -> None:
        feature = Composer()
        bot = make_bot()
        bot.use(feature)
        log: list[str] = []
        await bot.handle_update(text("first"))
        feature.on("message:text", lambda ctx, next: _append(log, ctx.update["message"]["text"]))
        await bot.handle_update(text("second"))
        assert log == ["second"]

    async def test_a_composer_mounted_in_two_bots_updates_both(self) -> None:
        feature = Composer()
        first, second = make_bot(), make_bot()
        first.use(feature)
        second.use(feature)
        await first.handle_update(text("x"))
        await second.handle_update(text("x"))
        log: list[str] = []
        feature.use(lambda ctx, next: _append(log, "seen"))
        await first.handle_update(text("y"))
        await second.handle_update(text("y"))
        assert log == ["seen", "seen"]

    async def test_a_change_elsewhere_does_not_recompile_a_bot(self) -> None:
        bot = make_bot()
        bot.use(lambda ctx, next: next())
        compiled = bot.middleware()
        Composer().use(lambda ctx, next: next())  # unrelated to this bot
        assert bot.middleware() is compiled

    async def test_composer_middleware_runs_the_whole_tree(self) -> None:
        composer = Composer()
        log: list[str] = []
        composer.on("message:text", lambda ctx, next: _append(log, "text"))
        bot = make_bot()
        bot.use(composer.middleware())
        await bot.handle_update(text("hi"))
        assert log == ["text"]

    def test_non_callable_middleware_is_rejected(self) -> None:
        with pytest.raises(TypeError, match="Middleware must be"):
            Composer().use(42)  # type: ignore[call-overload]


async def _append(log: list[str], item: str) -> None:
    log.append(item)


class TestBranches:
    async def test_matching_handler_does_not_call_next_automatically(self) -> None:
        bot = make_bot()
        log: list[str] = []

        @bot.on("message:text")
        async def first(ctx: Context, next: NextFn) -> None:
            log.append("first")

        @bot.on("message")
        async def second(ctx: Context, next: NextFn) -> None:
            log.append("second")

        await bot.handle_update(text("hi"))
        assert log == ["first"]

    async def test_non_matching_update_passes_through(self) -> None:
        bot = make_bot()
        log: list[str] = []

        @bot.on("callback_query")
        async def press(ctx: Context, next: NextFn) -> None:
            log.append("press")

        @bot.use
        async def rest(ctx: Context, next: NextFn) -> None:
            log.append("rest")

        await bot.handle_update(text("hi"))
        assert log == ["rest"]

    async def test_handler_calling_next_continues_after_its_branch(self) -> None:
        bot = make_bot()
        log: list[str] = []

        @bot.on("message")
        async def first(ctx: Context, next: NextFn) -> None:
            log.append("first")
            await next()

        @bot.use
        async def after(ctx: Context, next: NextFn) -> None:
            log.append("after")

        await bot.handle_update(text("hi"))
        assert log == ["first", "after"]

    async def test_branches_chain(self) -> None:
        bot = make_bot()
        log: list[str] = []
        bot.on("message").command("start", lambda ctx, next: _append(log, "start"))
        await bot.handle_update(text("/start"))
        await bot.handle_update(update("channel_post", message("/start", chat=CHANNEL)))
        assert log == ["start"]

    async def test_filter_takes_sync_and_async_predicates(self) -> None:
        bot = make_bot()
        log: list[str] = []

        async def is_alice(ctx: Context) -> bool:
            return ctx.user_id == 7

        bot.filter(lambda ctx: ctx.chat_id == 999, lambda ctx, next: _append(log, "sync"))
        bot.filter(is_alice, lambda ctx, next: _append(log, "async"))
        await bot.handle_update(text("hi"))
        assert log == ["async"]

    def test_unknown_query_fails_at_registration(self) -> None:
        with pytest.raises(ValueError, match="Invalid filter query"):
            make_bot().on("mesage:text")


class TestCommands:
    @pytest.mark.parametrize(
        ("sent", "match"),
        [
            ("/start", ""),
            ("/start  deep link ", "deep link"),
            ("/start@test_bot", ""),
            ("/start@TEST_Bot payload", "payload"),
            ("/start\nsecond line", "second line"),
        ],
    )
    async def test_command_matches_and_sets_match(self, sent: str, match: str) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.command("start", lambda ctx, next: _append_obj(matched, ctx.match))
        await bot.handle_update(text(sent))
        assert matched == [match]

    @pytest.mark.parametrize("sent", ["/start@other_bot", "/starter", "start", "x /start"])
    async def test_command_ignores_other_bots_and_other_text(self, sent: str) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.command("start", lambda ctx, next: _append_obj(matched, ctx.match))
        await bot.handle_update(text(sent))
        assert matched == []

    async def test_command_takes_a_list_of_names(self) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.command(["help", "/about"], lambda ctx, next: _append_obj(matched, ctx.match))
        await bot.handle_update(text("/help"))
        await bot.handle_update(text("/about x"))
        assert matched == ["", "x"]

    async def test_command_matches_channel_posts_but_not_edits(self) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.command("start", lambda ctx, next: _append_obj(matched, ctx.kind))
        await bot.handle_update(update("channel_post", message("/start", chat=CHANNEL)))
        await bot.handle_update(update("edited_message", message("/start")))
        assert matched == ["channel_post"]

    @pytest.mark.parametrize("name", ["", "/", "two words", "start@bot"])
    def test_invalid_command_name_is_rejected(self, name: str) -> None:
        with pytest.raises(ValueError, match="command"):
            make_bot().command(name)

    async def test_decorated_command_handler_stays_a_function(self) -> None:
        bot = make_bot()

        @bot.command("start")
        async def start(ctx: Context, next: NextFn) -> None:
            return None

        assert start.__name__ == "start"


async def _append_obj(log: list[object], item: object) -> None:
    log.append(item)


class TestHears:
    async def test_string_matches_the_exact_text(self) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.hears("hi", lambda ctx, next: _append_obj(matched, ctx.match))
        await bot.handle_update(text("hi"))
        await bot.handle_update(text("hi there"))
        assert matched == ["hi"]

    async def test_regex_searches_and_exposes_the_match(self) -> None:
        bot = make_bot()
        matched: list[object] = []
        pattern = re.compile(r"order (\d+)")
        bot.hears(pattern, lambda ctx, next: _append_obj(matched, ctx.match))
        await bot.handle_update(text("my order 42 please"))
        assert isinstance(matched[0], re.Match)
        assert matched[0].group(1) == "42"

    async def test_hears_matches_captions(self) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.hears("cat", lambda ctx, next: _append_obj(matched, ctx.match))
        await bot.handle_update(update("message", message(None, caption="cat", photo=[])))
        assert matched == ["cat"]

    def test_hears_rejects_other_types(self) -> None:
        with pytest.raises(TypeError, match=r"re\.compile"):
            make_bot().hears(42)  # type: ignore[arg-type]


class TestCallbackQuery:
    async def test_exact_data_and_regex(self) -> None:
        bot = make_bot()
        matched: list[object] = []
        bot.callback_query("yes", lambda ctx, next: _append_obj(matched, ctx.match))
        bot.callback_query(
            re.compile(r"^page:(\d+)$"), lambda ctx, next: _append_obj(matched, ctx.match)
        )
        await bot.handle_update(callback("yes"))
        await bot.handle_update(callback("page:3"))
        await bot.handle_update(callback("no"))
        assert matched[0] == "yes"
        assert isinstance(matched[1], re.Match)
        assert matched[1].group(1) == "3"
        assert len(matched) == 2


class TestHandlerShapes:
    async def test_a_handler_may_take_only_ctx_and_ends_the_chain(self) -> None:
        bot = make_bot()
        log: list[str] = []

        @bot.on("message")
        async def only_ctx(ctx: Context) -> None:
            log.append(f"only ctx: {ctx.chat_id}")

        bot.use(lambda ctx, next: _append(log, "after"))
        await bot.handle_update(text("hi"))
        await bot.handle_update(callback())
        assert log == ["only ctx: 7", "after"]
