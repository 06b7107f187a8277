"""PostgresStorage and its connection pool: updates holding locks never starve the storage.

Every update holding a session lock keeps a pool connection. These tests drive whole bots
(``session()`` on a ``PostgresStorage``) against the real server with pools smaller than the
number of concurrent updates; each runs under ``asyncio.timeout`` so that a regression (a
wait for a connection that never comes) fails instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from botsessions import Bot, BotError, Context, SessionOptions, session
from botsessions._errors import LockTimeoutError, StorageError
from botsessions.storage import PostgresStorage
from tests.integrations._updates import message

BOT_INFO = {"id": 1, "is_bot": True, "first_name": "Pool", "username": "pool_bot"}
GUARD = 30.0  # seconds: far beyond what any of these runs needs

Handler = Callable[[Context], Awaitable[None]]


@pytest.fixture
async def make(
    postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
) -> AsyncIterator[Callable[..., PostgresStorage]]:
    """Build ``PostgresStorage`` objects on the test's table; all are closed afterwards."""
    made: list[PostgresStorage] = []

    def build(**options: Any) -> PostgresStorage:
        storage = PostgresStorage(options.pop("dsn", postgres_dsn), table=unique_name, **options)
        made.append(storage)
        return storage

    yield build
    for storage in made:
        await storage.close()


def counting_bot(storage: PostgresStorage, handler: Handler) -> Bot:
    """A bot counting updates per chat in its session; ``handler`` runs before the count."""
    bot = Bot("123456:pool-token", bot_info=BOT_INFO)
    bot.use(session(initial=lambda: {"count": 0}, storage=storage))

    @bot.use
    async def count(ctx: Context, next: Any) -> None:
        await handler(ctx)
        ctx.session["count"] += 1

    return bot


class Gathering:
    """Handlers wait here until ``size`` of them are inside at the same time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.inside = 0
        self.most = 0
        self.full = asyncio.Event()

    async def arrive(self) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        if self.inside >= self.size:
            self.full.set()
        await self.full.wait()

    def leave(self) -> None:
        self.inside -= 1


async def handle_all(bot: Bot, chats: range) -> list[BaseException | None]:
    async with asyncio.timeout(GUARD):
        return await asyncio.gather(
            *(bot.handle_update(message(chat, chat)) for chat in chats), return_exceptions=True
        )


async def counts(storage: PostgresStorage, chats: range) -> list[Any]:
    return [await storage.read(str(chat)) for chat in chats]


class TestLockHoldersAndPlainOperations:
    async def test_handlers_of_more_chats_than_connections_can_read_the_storage(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(max_size=4)
        await storage.write("shared", {"news": 1})
        together = Gathering(3)  # the pool's share of lock holders: max_size - 1

        async def handler(ctx: Context) -> None:
            await together.arrive()
            assert await storage.read("shared") == {"news": 1}
            together.leave()

        results = await handle_all(counting_bot(storage, handler), range(1, 9))
        assert results == [None] * 8
        assert together.most == 3
        assert await counts(storage, range(1, 9)) == [{"count": 1}] * 8

    async def test_a_pool_of_one_lets_the_handler_enumerate_the_storage(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(min_size=1, max_size=1)
        await storage.write("a", 1)
        listed: list[list[str]] = []

        async def handler(ctx: Context) -> None:
            listed.append([key async for key in storage.read_all_keys()])
            entries = [entry async for entry in storage.read_all_entries()]
            assert entries == [("1", {"count": 0}), ("a", 1)]

        await storage.write("1", {"count": 0})
        assert await handle_all(counting_bot(storage, handler), range(1, 2)) == [None]
        assert listed == [["1", "a"]]
        assert await storage.read("1") == {"count": 1}

    async def test_concurrent_operations_of_one_handler_share_its_connection(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(min_size=1, max_size=1)

        async def handler(ctx: Context) -> None:
            key = f"side{ctx.chat.id}"  # type: ignore[union-attr]  # every update has a chat
            await asyncio.gather(*(storage.write(f"{key}.{i}", i) for i in range(5)))
            found = await asyncio.gather(
                storage.read(f"{key}.3"), storage.has(f"{key}.4"), storage.delete(f"{key}.0")
            )
            assert list(found) == [3, True, None]

        results = await handle_all(counting_bot(storage, handler), range(1, 4))
        assert results == [None] * 3
        assert await counts(storage, range(1, 4)) == [{"count": 1}] * 3
        assert [k async for k in storage.read_all_keys()] == [
            "1", "2", "3", *(f"side{c}.{i}" for c in (1, 2, 3) for i in range(1, 5))
        ]  # fmt: skip

    async def test_operations_outside_any_lock_find_the_reserved_connection(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(max_size=3)
        await storage.write("shared", {"news": 1})
        together = Gathering(2)
        release = asyncio.Event()

        async def handler(ctx: Context) -> None:
            await together.arrive()
            await release.wait()
            together.leave()

        bot = counting_bot(storage, handler)
        updates = asyncio.ensure_future(handle_all(bot, range(1, 5)))
        try:
            async with asyncio.timeout(GUARD):
                await together.full.wait()
                # Two updates hold locks and two wait for a connection: this task holds no
                # lock, and its operations still run, on the connection kept in reserve.
                assert await storage.read("shared") == {"news": 1}
                assert [k async for k in storage.read_all_keys()] == ["shared"]
                assert together.inside == 2
        finally:
            release.set()
        assert await updates == [None] * 4
        assert await counts(storage, range(1, 5)) == [{"count": 1}] * 4

    async def test_a_task_started_by_the_handler_outlives_the_lock_and_still_runs(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(min_size=1, max_size=1)
        go = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []

        async def later() -> Any:
            await go.wait()
            return await storage.read("1")

        async def handler(ctx: Context) -> None:
            tasks.append(asyncio.create_task(later()))

        assert await handle_all(counting_bot(storage, handler), range(1, 2)) == [None]
        go.set()  # the lease is gone: the read takes the pool's connection
        async with asyncio.timeout(GUARD):
            assert await tasks[0] == {"count": 1}

    async def test_a_pool_you_pass_is_measured_by_its_max_size(
        self, make: Callable[..., PostgresStorage], postgres_dsn: str
    ) -> None:
        pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
        try:
            storage = make(dsn=pool)
            together = Gathering(1)

            async def handler(ctx: Context) -> None:
                await together.arrive()
                assert await storage.read("nothing") is None
                together.leave()

            results = await handle_all(counting_bot(storage, handler), range(1, 5))
            assert results == [None] * 4
            assert together.most == 1  # a pool of 2: one lock holder, one in reserve
        finally:
            await pool.close()


class TestMultiSessionsOnOneStorage:
    @pytest.mark.parametrize("max_size", [10, 1])
    async def test_updates_of_many_chats_with_two_fragments_all_complete(
        self, make: Callable[..., PostgresStorage], max_size: int
    ) -> None:
        storage = make(min_size=1, max_size=max_size)
        bot = Bot("123456:pool-token", bot_info=BOT_INFO)
        bot.use(
            session(
                type="multi",
                chat=SessionOptions(initial=lambda: {"n": 0}, storage=storage),
                user=SessionOptions(
                    initial=lambda: {"n": 0},
                    storage=storage,
                    get_session_key=lambda ctx: f"user:{ctx.from_user.id}",
                ),
            )
        )
        # With 9 connections for locks, 6 updates locking two fragments each at the same
        # time need fragments to share their update's connection.
        together = Gathering(6 if max_size == 10 else 1)

        @bot.use
        async def handler(ctx: Context, next: Any) -> None:
            await together.arrive()
            ctx.session.chat["n"] += 1
            ctx.session.user["n"] += 1

        assert await handle_all(bot, range(1, 13)) == [None] * 12
        assert await counts(storage, range(1, 13)) == [{"n": 1}] * 12
        assert [await storage.read(f"user:{u}") for u in range(1, 13)] == [{"n": 1}] * 12


class TestPoolExhaustion:
    async def test_a_lock_waiting_past_lock_wait_for_a_connection_says_why(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(max_size=2, lock_wait=0.2)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def handler(ctx: Context) -> None:
            if ctx.chat.id == 1:  # type: ignore[union-attr]  # every update has a chat
                holding.set()
                await release.wait()

        bot = counting_bot(storage, handler)
        first = asyncio.ensure_future(bot.handle_update(message(1, 1)))
        try:
            async with asyncio.timeout(GUARD):
                await holding.wait()
                with pytest.raises(BotError) as caught:
                    await bot.handle_update(message(2, 2))
        finally:
            release.set()
        error = caught.value.error
        assert isinstance(error, LockTimeoutError)
        assert error.key == "2"
        text = str(error)
        assert "session '2'" in text
        assert "pool of 2 connections is exhausted by updates holding session locks" in text
        assert "max_size=" in text
        async with asyncio.timeout(GUARD):
            await first
        assert await counts(storage, range(1, 3)) == [{"count": 1}, None]

    async def test_a_plain_operation_waiting_past_pool_timeout_says_why(
        self, make: Callable[..., PostgresStorage]
    ) -> None:
        storage = make(min_size=1, max_size=1, pool_timeout=0.2)
        await storage.write("other", 1)
        holding = asyncio.Event()
        release = asyncio.Event()

        async def handler(ctx: Context) -> None:
            holding.set()
            await release.wait()

        first = asyncio.ensure_future(counting_bot(storage, handler).handle_update(message(1, 1)))
        try:
            async with asyncio.timeout(GUARD):
                await holding.wait()
                # This task holds no lock, and the only connection is the lock holder's.
                with pytest.raises(StorageError) as caught:
                    await storage.read("other")
        finally:
            release.set()
        assert caught.value.key == "other"
        text = str(caught.value)
        assert "read of session 'other'" in text
        assert "pool_timeout" in text
        assert "pool of 1 connections is exhausted" in text
        assert "max_size=" in text
        async with asyncio.timeout(GUARD):
            await first
        assert await storage.read("1") == {"count": 1}
        assert await storage.read("other") == 1

    @pytest.mark.parametrize(
        ("value", "error"), [(0, ValueError), (-1.0, ValueError), ("1", TypeError)]
    )
    def test_pool_timeout_is_validated_when_built(
        self, postgres_dsn: str, value: Any, error: type[Exception]
    ) -> None:
        with pytest.raises(error, match="pool_timeout"):
            PostgresStorage(postgres_dsn, pool_timeout=value)

    @pytest.mark.parametrize("value", [None, float("inf"), 0.5])
    def test_pool_timeout_accepts_durations_and_never(self, postgres_dsn: str, value: Any) -> None:
        PostgresStorage(postgres_dsn, pool_timeout=value)
