"""botsessions inside python-telegram-bot 22: ``setup_sessions(Application.builder())``,
``context.session`` in handlers.

Baseline W0 is a plain PTB Application with a no-op handler (PTB's own W0). Updates are
parsed with ``Update.de_json`` before timing and fed with ``process_update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from bench._common import W3_CHAT, Json, Prepared, Workload, make_updates
from bench._env import Env
from bench._ours_cases import Case, cases, session_options, session_workload, w3_rows
from bench.peer_ptb import build_app, make_bot

_bot, _request = make_bot()


async def _app(
    case: Case | None, storage: Any, handled: list[int]
) -> Application[Any, Any, Any, Any, Any, Any]:
    from botsessions.integrations.ptb import setup_sessions

    kind = "ignore" if case is None else case.handler
    if case is None:
        app = build_app(_bot)
    else:
        builder = Application.builder().bot(_bot).updater(None)
        app = setup_sessions(builder, lazy=case.lazy, **session_options(case, storage)).build()

    async def count(update: Update, context: Any) -> None:
        context.session["count"] += 1

    async def read(update: Update, context: Any) -> None:
        if context.session["count"] >= 0:
            handled[0] += 1

    async def ignore(update: Update, context: Any) -> None:
        handled[0] += 1

    callback = {"count": count, "read": read}.get(kind, ignore)
    app.add_handler(MessageHandler(filters.ALL, callback))
    await app.initialize()
    return app


async def _glue(case: Case, storage: Any, handled: list[int]) -> tuple[Any, Any]:
    app = await _app(case, storage, handled)
    return app.process_update, app.shutdown


async def workloads(phase: str, env: Env) -> Sequence[Workload]:
    updates: list[Any] = [Update.de_json(d, _bot) for d in make_updates(env.n, env.chats)]

    async def build_w0(n: int) -> Prepared:
        handled = [0]
        app = await _app(None, None, handled)

        async def verify(n: int) -> Json:
            return {"handled": handled[0], "ok": handled[0] == n}

        return Prepared(app.process_update, updates, verify, app.shutdown)

    base = Workload("W0", "plain Application, MessageHandler no-op", build_w0, _request.refused)
    found = [
        session_workload(c, env, updates, _glue, _request.refused)
        for c in cases(phase, integration=True)
        if not c.lazy
    ]
    return [base, *found] if found else []


async def concurrency(env: Env, slow: bool) -> list[Json]:
    from botsessions.integrations.ptb import setup_sessions

    updates: list[Any] = [
        Update.de_json(d, _bot) for d in make_updates(env.k, 1, chat_base=W3_CHAT)
    ]

    async def glue(storage: Any) -> tuple[Any, Any]:
        builder = Application.builder().bot(_bot).updater(None)
        app = setup_sessions(builder, initial=lambda: {"count": 0}, storage=storage).build()

        async def rmw(update: Update, context: Any) -> None:
            value = context.session["count"]
            await asyncio.sleep(0.001)
            context.session["count"] = value + 1

        app.add_handler(MessageHandler(filters.ALL, rmw))
        await app.initialize()
        return app.process_update, app.shutdown

    warmup = Update.de_json(make_updates(1, 1, chat_base=W3_CHAT + 1)[0], _bot)
    rows = await w3_rows("botsessions+ptb", env, updates, glue, warmup=warmup)
    if _request.refused():
        raise RuntimeError(f"python-telegram-bot made Bot API calls: {_request.calls}")
    return rows
