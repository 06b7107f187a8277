"""botsessions inside aiogram 3: ``setup_sessions(dp, ...)`` on a Dispatcher with
``disable_fsm=True`` (the session replaces aiogram's FSM storage).

Baseline W0 is the same bare Dispatcher as aiogram's own W0. Updates are parsed before
timing, exactly as for the aiogram peer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiogram import Dispatcher
from aiogram.types import Message, Update

from bench._common import W3_CHAT, Json, Prepared, Workload, make_updates
from bench._env import Env
from bench._ours_cases import Case, cases, session_options, session_workload, w3_rows
from bench.peer_aiogram import make_bot

_bot, _api = make_bot()


def _dispatcher(case: Case | None, storage: Any, handled: list[int]) -> Dispatcher:
    from botsessions.integrations.aiogram import setup_sessions

    dp = Dispatcher(disable_fsm=True)
    kind = "ignore" if case is None else case.handler
    if case is not None:
        options = session_options(case, storage)
        setup_sessions(dp, lazy=case.lazy, **options)
    if kind == "count":

        @dp.message()
        async def count(message: Message, session: dict[str, int]) -> None:
            session["count"] += 1

    elif kind == "read":

        @dp.message()
        async def read(message: Message, session: dict[str, int]) -> None:
            if session["count"] >= 0:
                handled[0] += 1

    else:

        @dp.message()
        async def ignore(message: Message) -> None:
            handled[0] += 1

    return dp


async def _glue(case: Case, storage: Any, handled: list[int]) -> tuple[Any, Any]:
    dp = _dispatcher(case, storage, handled)

    async def feed(update: Update) -> Any:
        return await dp.feed_update(_bot, update)

    return feed, None


def _api_calls() -> int:
    return _api.calls


async def workloads(phase: str, env: Env) -> Sequence[Workload]:
    raw = make_updates(env.n, env.chats)
    updates: list[Any] = [Update.model_validate(d, context={"bot": _bot}) for d in raw]

    async def build_w0(n: int) -> Prepared:
        handled = [0]
        dp = _dispatcher(None, None, handled)

        async def feed(update: Update) -> Any:
            return await dp.feed_update(_bot, update)

        async def verify(n: int) -> Json:
            return {"handled": handled[0], "ok": handled[0] == n}

        return Prepared(feed, updates, verify)

    base = Workload("W0", "Dispatcher(disable_fsm=True), no-op handler", build_w0, _api_calls)
    found = [
        session_workload(c, env, updates, _glue, _api_calls)
        for c in cases(phase, integration=True)
        if not c.lazy
    ]
    return [base, *found] if found else []


async def concurrency(env: Env, slow: bool) -> list[Json]:
    from botsessions.integrations.aiogram import setup_sessions

    raw = make_updates(env.k, 1, chat_base=W3_CHAT)
    updates: list[Any] = [Update.model_validate(d, context={"bot": _bot}) for d in raw]

    async def glue(storage: Any) -> tuple[Any, Any]:
        dp = Dispatcher(disable_fsm=True)
        setup_sessions(dp, initial=lambda: {"count": 0}, storage=storage)

        @dp.message()
        async def rmw(message: Message, session: dict[str, int]) -> None:
            value = session["count"]
            await asyncio.sleep(0.001)
            session["count"] = value + 1

        async def feed(update: Update) -> Any:
            return await dp.feed_update(_bot, update)

        return feed, None

    warmup = Update.model_validate(
        make_updates(1, 1, chat_base=W3_CHAT + 1)[0], context={"bot": _bot}
    )
    rows = await w3_rows("botsessions+aiogram", env, updates, glue, warmup=warmup)
    if _api.calls:
        raise RuntimeError(f"aiogram made {_api.calls} Bot API calls")
    return rows
