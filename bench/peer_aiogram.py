"""aiogram 3 as a peer: Dispatcher with ``disable_fsm``, FSM MemoryStorage and RedisStorage.

Updates are parsed with ``Update.model_validate`` before timing (as ``feed_raw_update``
would do per call) and fed with ``await dp.feed_update(bot, update)``. The bot's session
counts and refuses every Bot API call.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import DisabledEventIsolation, MemoryStorage, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.methods import TelegramMethod
from aiogram.types import Message, Update

from bench._common import (
    BOT_ID,
    FAKE_TOKEN,
    W3_CHAT,
    Json,
    Prepared,
    Workload,
    make_updates,
    now,
)
from bench._env import Env


class NoNetworkSession(BaseSession):
    """An aiogram client session that counts every Bot API call and refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        self.calls += 1
        raise RuntimeError(f"network disabled in benchmark ({type(method).__name__})")

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        self.calls += 1
        raise RuntimeError("network disabled in benchmark")
        yield b""  # pragma: no cover

    async def close(self) -> None:
        return None


class CountingStorage(BaseStorage):
    """Delegates to another FSM storage and counts its calls."""

    def __init__(self, inner: BaseStorage, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        self.calls["set_state"] += 1
        await self.inner.set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        self.calls["get_state"] += 1
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Any) -> None:
        self.calls["set_data"] += 1
        await self.inner.set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        self.calls["get_data"] += 1
        return await self.inner.get_data(key)

    async def close(self) -> None:
        return None


async def _count(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await state.update_data(count=data.get("count", 0) + 1)


def make_bot() -> tuple[Bot, NoNetworkSession]:
    session = NoNetworkSession()
    return Bot(FAKE_TOKEN, session=session), session


async def redis_counter_sum(url: str, pattern: str) -> Json:
    """Number of keys matching ``pattern`` and the sum of their JSON ``count`` fields."""
    import json

    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
        total = 0
        for i in range(0, len(keys), 500):
            for raw in await client.mget(keys[i : i + 500]):
                if raw is not None:
                    value = json.loads(raw)
                    if isinstance(value, dict):
                        total += int(value.get("count", 0))
        await client.flushdb()
    finally:
        await client.aclose()
    return {"keys": len(keys), "sum": total}


async def workloads(phase: str, env: Env) -> Sequence[Workload]:
    """The aiogram workloads of one phase (W0 first)."""
    if phase not in ("memory", "redis"):
        return []
    bot, session = make_bot()
    raw = make_updates(env.n, env.chats)
    updates = [Update.model_validate(d, context={"bot": bot}) for d in raw]

    def builder(
        kind: str, calls: Counter[str] | None = None
    ) -> Callable[[int], Awaitable[Prepared]]:
        async def build(n: int) -> Prepared:
            handled = [0]

            async def noop(message: Message) -> None:
                handled[0] += 1

            storage: BaseStorage | None = None
            if kind == "W0":
                dp = Dispatcher(disable_fsm=True)
            else:
                inner: BaseStorage = (
                    MemoryStorage()
                    if kind in ("W1", "W1u")
                    else RedisStorage.from_url(env.redis_url)
                )
                storage = CountingStorage(inner, calls) if calls is not None else inner
                dp = Dispatcher(storage=storage)
            counts = kind in ("W1", "W2")
            dp.message.register(_count if counts else noop)

            async def verify(n: int) -> Json:
                if not counts:
                    return {"handled": handled[0], "ok": handled[0] == n}
                target = storage.inner if isinstance(storage, CountingStorage) else storage
                if isinstance(target, MemoryStorage):
                    total = sum(rec.data.get("count", 0) for rec in target.storage.values())
                    return {"sum": total, "ok": total == n}
                found = await redis_counter_sum(env.redis_url, "fsm:*:data")
                return {**found, "ok": found["sum"] == n}

            async def close() -> None:
                if storage is not None:
                    await (
                        storage.inner if isinstance(storage, CountingStorage) else storage
                    ).close()
                if kind in ("W2u",):
                    await redis_counter_sum(env.redis_url, "fsm:*")

            async def feed(update: Update) -> Any:
                return await dp.feed_update(bot, update)

            return Prepared(feed, updates, verify, close)

        return build

    def counter(kind: str) -> Callable[[int], Awaitable[Json]]:
        async def count_calls(n: int) -> Json:
            calls: Counter[str] = Counter()
            prepared = await builder(kind, calls)(n)
            for update in updates[:n]:
                await prepared.feed(update)
            await prepared.verify(n)
            if prepared.close is not None:
                await prepared.close()
            return {name: c / n for name, c in sorted(calls.items())}

        return count_calls

    def api_calls() -> int:
        return session.calls

    def make(name: str, label: str, redis: bool = False) -> Workload:
        return Workload(
            name,
            label,
            builder(name),
            api_calls,
            counts_redis=redis,
            count_calls=counter(name) if name != "W0" else None,
        )

    base = make("W0", "Dispatcher(disable_fsm=True), no-op handler")
    if phase == "memory":
        return [
            base,
            make("W1u", "FSM MemoryStorage on (default Dispatcher), no-op handler"),
            make("W1", "FSM MemoryStorage: get_data + update_data(count+1)"),
        ]
    return [
        base,
        make("W2", "FSM RedisStorage: get_data + update_data(count+1)", redis=True),
        make("W2u", "FSM RedisStorage installed, no-op handler", redis=True),
    ]


async def concurrency(env: Env, slow: bool) -> list[Json]:
    """W3: ``k`` updates of one chat at once through the Dispatcher (asyncio.gather)."""
    bot, session = make_bot()
    raw = make_updates(env.k, 1, chat_base=W3_CHAT)
    updates = [Update.model_validate(d, context={"bot": bot}) for d in raw]
    isolations: list[tuple[str, str]] = [
        ("memory", "DisabledEventIsolation (default)"),
        ("memory", "SimpleEventIsolation"),
        ("redis", "DisabledEventIsolation (default)"),
        ("redis", "SimpleEventIsolation"),
    ]
    if slow:
        isolations.append(("redis", "RedisEventIsolation"))
    rows: list[Json] = []
    for storage_kind, isolation in isolations:
        storage: BaseStorage = (
            MemoryStorage() if storage_kind == "memory" else RedisStorage.from_url(env.redis_url)
        )
        events: BaseEventIsolation
        if isolation.startswith("Simple"):
            events = SimpleEventIsolation()
        elif isolation.startswith("Redis"):
            events = RedisEventIsolation.from_url(env.redis_url)
        else:
            events = DisabledEventIsolation()
        key = StorageKey(bot_id=BOT_ID, chat_id=W3_CHAT, user_id=W3_CHAT)
        dp = Dispatcher(storage=storage, events_isolation=events)

        async def rmw(message: Message, state: FSMContext) -> None:
            data = await state.get_data()
            await asyncio.sleep(0.001)
            await state.update_data(count=data.get("count", 0) + 1)

        dp.message.register(rmw)
        started = now()
        results = await asyncio.gather(
            *(dp.feed_update(bot, u) for u in updates), return_exceptions=True
        )
        seconds = now() - started
        final = (await storage.get_data(key)).get("count", 0)
        await storage.close()
        await events.close()
        if storage_kind == "redis":
            await redis_counter_sum(env.redis_url, "*")
        rows.append(
            {
                "system": "aiogram",
                "config": f"{storage_kind}, {isolation}",
                "storage": storage_kind,
                "final": final,
                "lost": env.k - final,
                "errors": sum(1 for r in results if isinstance(r, BaseException)),
                "seconds": seconds,
            }
        )
    if session.calls:
        raise RuntimeError(f"aiogram made {session.calls} Bot API calls")
    return rows
