"""Context[S] and LazyContext[S] at run time: one class, typed handlers run as any other.

What mypy accepts and rejects is checked in tests/typing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_type_hints

import botsessions
from botsessions import Composer, Context, MemorySessionStorage, lazy_session, session
from botsessions.bot import LazyContext, Middleware, NextFn
from tests.bot._updates import callback, make_bot, text


@dataclass
class Counter:
    count: int = 0


def typed_middleware_factory() -> Middleware[Context[Counter]]:
    async def middleware(ctx: Context[Counter], next: NextFn) -> None:
        await next()

    return middleware


class TestOneRuntimeClass:
    def test_lazy_context_is_context_at_run_time(self) -> None:
        bot = make_bot()
        ctx: Context = Context(text("x"), bot.api, bot.me)
        assert LazyContext is Context
        assert isinstance(ctx, LazyContext)

    def test_lazy_context_is_exported_from_botsessions(self) -> None:
        assert botsessions.LazyContext is Context

    def test_type_arguments_are_accepted_at_run_time(self) -> None:
        assert Context[Counter].__origin__ is Context  # type: ignore[attr-defined]
        assert LazyContext[Counter].__origin__ is Context  # type: ignore[attr-defined]
        # Annotations evaluated at run time (no `from __future__ import annotations`).
        hints = get_type_hints(typed_middleware_factory)
        parameters, _ = get_args(hints["return"])
        assert parameters == [Context[Counter], NextFn]

    async def test_a_bot_still_makes_plain_contexts(self) -> None:
        seen: list[type[Any]] = []
        bot = make_bot()

        @bot.use
        async def record(ctx: Context[Counter]) -> None:
            seen.append(type(ctx))

        await bot.handle_update(text("x"))
        assert seen == [Context]


class TestTypedHandlers:
    async def test_a_strict_typed_session_is_read_and_written(self) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        bot = make_bot()
        bot.use(session(initial=Counter, storage=storage))

        @bot.on("message:text")
        async def count(ctx: Context[Counter], next: NextFn) -> None:
            ctx.session.count += 1
            await next()

        @bot.command("reset")
        async def reset(ctx: Context[Counter]) -> None:
            ctx.session = None

        await bot.handle_update(text("hi"))
        await bot.handle_update(text("again"))
        assert storage.read("7") == {"count": 2}
        await bot.handle_update(text("/reset"))
        assert storage.read("7") is None

    async def test_a_lazy_typed_session_is_awaited(self) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        bot = make_bot()
        bot.use(lazy_session(initial=Counter, storage=storage))
        seen: list[Counter] = []

        @bot.on("message")
        async def point(ctx: LazyContext[Counter]) -> None:
            data = await ctx.session
            data.count += 1
            seen.append(data)

        await bot.handle_update(text("hi"))
        assert seen == [Counter(count=1)]
        assert storage.read("7") == {"count": 1}

    async def test_a_lazy_typed_session_accepts_an_awaitable(self) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        bot = make_bot()
        bot.use(lazy_session(initial=Counter, storage=storage))

        async def fresh() -> Counter:
            return Counter(count=10)

        @bot.on("message")
        async def replace(ctx: LazyContext[Counter]) -> None:
            ctx.session = fresh()

        await bot.handle_update(text("hi"))
        assert storage.read("7") == {"count": 10}


class TestDecoratorsReturnTheFunction:
    def test_every_registration_method_returns_the_function_itself(self) -> None:
        bot = make_bot()

        async def handler(ctx: Context[Counter]) -> None:
            pass

        async def lazy(ctx: LazyContext[Counter], next: NextFn) -> None:
            await next()

        def in_chat(ctx: Context[Counter]) -> bool:
            return ctx.chat_id is not None

        register: list[Callable[[], Callable[[Any], Any]]] = [
            lambda: bot.use,
            lambda: bot.on("message"),
            lambda: bot.command("start"),
            lambda: bot.hears(re.compile("x")),
            lambda: bot.callback_query("go"),
            lambda: bot.filter(in_chat),
            lambda: Composer(),
        ]
        for make in register:
            assert make()(handler) is handler
            assert make()(lazy) is lazy

    async def test_typed_middleware_built_by_a_function_runs(self) -> None:
        calls: list[str] = []

        def tracer(name: str) -> Middleware[Context[Counter]]:
            async def trace(ctx: Context[Counter], next: NextFn) -> None:
                calls.append(name)
                await next()

            return trace

        bot = make_bot()
        bot.use(tracer("a"), tracer("b"))

        async def end(ctx: Context[Counter]) -> None:
            calls.append("end")

        bot.callback_query("go", end)
        await bot.handle_update(callback("go"))
        assert calls == ["a", "b", "end"]
