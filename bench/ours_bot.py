"""botsessions' own bot layer: ``Bot.handle_update(raw_dict)`` with ``session()``.

The Bot gets ``bot_info`` (no getMe) and its aiogram client session is replaced by one
that counts and refuses every Bot API call. Updates are fed as raw dicts, as grammY is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench._common import (
    BOT_USER,
    FAKE_TOKEN,
    W3_CHAT,
    Json,
    Prepared,
    Workload,
    make_updates,
)
from bench._env import Env
from bench._ours_cases import Case, cases, session_options, session_workload, w3_rows

# Nothing listens on port 9 (discard): a benchmark update that tried to call the Bot API
# would fail loudly instead of reaching a server.
NO_SERVER = "http://127.0.0.1:9"


def make_bot() -> Any:
    from botsessions import Bot

    return Bot(FAKE_TOKEN, bot_info=BOT_USER, api_server=NO_SERVER)


def _handler(kind: str, handled: list[int]) -> Callable[[Any, Any], Awaitable[None]]:
    if kind == "count":

        async def count(ctx: Any, next: Any) -> None:
            ctx.session["count"] += 1

        return count
    if kind == "read":

        async def read(ctx: Any, next: Any) -> None:
            if ctx.session["count"] >= 0:
                handled[0] += 1

        return read

    async def ignore(ctx: Any, next: Any) -> None:
        handled[0] += 1

    return ignore


async def _glue(case: Case, storage: Any, handled: list[int]) -> tuple[Any, Any]:
    from botsessions import lazy_session, session

    bot = make_bot()
    factory = lazy_session if case.lazy else session
    bot.use(factory(**session_options(case, storage)))
    bot.on("message", _handler(case.handler, handled))
    return bot.handle_update, None


def _api_calls() -> int:
    # A Bot API call cannot succeed against NO_SERVER: it would fail the update (and the run).
    return 0


async def workloads(phase: str, env: Env) -> Sequence[Workload]:
    updates: list[Any] = make_updates(env.n, env.chats)

    async def build_w0(n: int) -> Prepared:
        bot = make_bot()
        handled = [0]
        bot.on("message", _handler("ignore", handled))

        async def verify(n: int) -> Json:
            return {"handled": handled[0], "ok": handled[0] == n}

        return Prepared(bot.handle_update, updates, verify)

    base = Workload("W0", "Bot.handle_update, no session, no-op handler", build_w0, _api_calls)
    found = [session_workload(c, env, updates, _glue, _api_calls) for c in cases(phase)]
    return [base, *found] if found else []


async def concurrency(env: Env, slow: bool) -> list[Json]:
    from botsessions import session

    updates: list[Any] = make_updates(env.k, 1, chat_base=W3_CHAT)

    async def glue(storage: Any) -> tuple[Any, Any]:
        import asyncio

        bot = make_bot()
        bot.use(session(initial=lambda: {"count": 0}, storage=storage))

        async def rmw(ctx: Any, next: Any) -> None:
            value = ctx.session["count"]
            await asyncio.sleep(0.001)
            ctx.session["count"] = value + 1

        bot.on("message", rmw)
        return bot.handle_update, None

    warmup = make_updates(1, 1, chat_base=W3_CHAT + 1)[0]
    return await w3_rows("botsessions", env, updates, glue, warmup=warmup)
