"""python-telegram-bot 22 as a peer: ``context.chat_data`` (in-process dict, no Redis).

Every Application shares one offline ExtBot whose transport answers ``getMe`` and refuses
any other call. Updates are parsed with ``Update.de_json`` before timing and fed with
``await app.process_update(update)``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, ExtBot, MessageHandler, filters
from telegram.request import BaseRequest, RequestData

from bench._common import BOT_USER, FAKE_TOKEN, W3_CHAT, Json, Prepared, Workload, make_updates, now
from bench._env import Env


class OfflineRequest(BaseRequest):
    """A Bot API transport with no network: answers getMe, counts and refuses the rest."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        self.calls[endpoint] += 1
        if endpoint.lower() == "getme":
            return 200, json.dumps({"ok": True, "result": BOT_USER}).encode()
        raise RuntimeError(f"network disabled in benchmark ({endpoint})")

    def refused(self) -> int:
        """Calls other than getMe (each one would have been a network request)."""
        return sum(n for name, n in self.calls.items() if name.lower() != "getme")


def make_bot() -> tuple[ExtBot[None], OfflineRequest]:
    request = OfflineRequest()
    return ExtBot(FAKE_TOKEN, request=request, get_updates_request=request), request


def build_app(
    bot: ExtBot[None], concurrent: bool = False
) -> Application[Any, Any, Any, Any, Any, Any]:
    return Application.builder().bot(bot).updater(None).concurrent_updates(concurrent).build()


async def workloads(phase: str, env: Env) -> Sequence[Workload]:
    """W0 and the chat_data counter (memory phase only: PTB ships no Redis persistence)."""
    if phase != "memory":
        return []
    bot, request = make_bot()
    updates = [Update.de_json(d, bot) for d in make_updates(env.n, env.chats)]

    def builder(kind: str) -> Callable[[int], Awaitable[Prepared]]:
        async def build(n: int) -> Prepared:
            app = build_app(bot)
            handled = [0]

            async def noop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
                handled[0] += 1

            async def count(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
                data = context.chat_data
                assert data is not None
                data["count"] = data.get("count", 0) + 1

            app.add_handler(MessageHandler(filters.ALL, noop if kind == "W0" else count))
            await app.initialize()

            async def verify(n: int) -> Json:
                if kind == "W0":
                    return {"handled": handled[0], "ok": handled[0] == n}
                total = sum(d.get("count", 0) for d in app.chat_data.values())
                return {"sum": total, "ok": total == n}

            async def close() -> None:
                await app.shutdown()

            return Prepared(app.process_update, updates, verify, close)

        return build

    return [
        Workload("W0", "MessageHandler, no-op", builder("W0"), request.refused),
        Workload("W1", "context.chat_data['count'] += 1", builder("W1"), request.refused),
    ]


def _rmw_handler(
    k: int, done: asyncio.Event
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    finished = [0]

    async def rmw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        data = context.chat_data
        if data is None:  # pragma: no cover - every message has a chat
            raise RuntimeError("update without chat_data")
        value = data.get("count", 0)
        await asyncio.sleep(0.001)
        data["count"] = value + 1
        finished[0] += 1
        if finished[0] == k:
            done.set()

    return rmw


async def concurrency(env: Env, slow: bool) -> list[Json]:
    """W3 on chat_data: the queue with concurrent_updates False/True, and a direct gather."""
    bot, request = make_bot()
    updates = [Update.de_json(d, bot) for d in make_updates(env.k, 1, chat_base=W3_CHAT)]
    rows: list[Json] = []
    for feeding in (
        "update_queue, concurrent_updates=False (default)",
        "update_queue, concurrent_updates=True",
        "gather(process_update)",
    ):
        app = build_app(bot, concurrent=feeding.endswith("=True"))
        done = asyncio.Event()
        app.add_handler(MessageHandler(filters.ALL, _rmw_handler(env.k, done)))
        await app.initialize()
        errors = 0
        started = now()
        if feeding.startswith("update_queue"):
            await app.start()
            for update in updates:
                app.update_queue.put_nowait(update)
            await asyncio.wait_for(done.wait(), timeout=120)
            seconds = now() - started
            await app.stop()
        else:
            results = await asyncio.gather(
                *(app.process_update(u) for u in updates), return_exceptions=True
            )
            seconds = now() - started
            errors = sum(1 for r in results if isinstance(r, BaseException))
        final = app.chat_data[W3_CHAT].get("count", 0)
        await app.shutdown()
        rows.append(
            {
                "system": "python-telegram-bot",
                "config": f"chat_data, {feeding}",
                "storage": "memory",
                "final": final,
                "lost": env.k - final,
                "errors": errors,
                "seconds": seconds,
            }
        )
    if request.refused():
        raise RuntimeError(f"python-telegram-bot made Bot API calls: {request.calls}")
    return rows
