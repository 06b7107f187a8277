"""SessionIsolation: aiogram's event isolation on a botsessions storage's lock.

In one process (memory) and across processes (Redis, PostgreSQL); the held lease is
reused by FSMStorage, and handed on within a burst of one chat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Message

from botsessions import LockError, StorageError, enhance_storage
from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation
from botsessions.storage import RedisStorage
from botsessions.testing.recording import RecordingStorage
from tests.flushing_support import FlushingStorage
from tests.integrations._fsm_processes import run_bot_processes
from tests.integrations._fsm_storages import (
    KEY,
    RECORD,
    Stores,
    drop_redis,
    feed,
    locking_stores,
    redis_store,
    stores_for,
)

__all__ = ["locking_stores", "redis_store"]  # fixtures


class TestSessionIsolation:
    async def test_same_key_handlers_run_one_at_a_time(
        self, locking_stores: Stores, aiogram_bot: Bot
    ) -> None:
        storage = locking_stores.new()
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))
        first_inside = asyncio.Event()
        release_first = asyncio.Event()
        order: list[str] = []

        @dp.message()
        async def handler(message: Message, state: FSMContext) -> None:
            order.append(f"start {message.text}")
            if message.text == "first":
                first_inside.set()
                await release_first.wait()
            await state.update_data({message.text or "": True})
            order.append(f"end {message.text}")

        first = asyncio.create_task(feed(dp, aiogram_bot, 1, chat_id=5, text="first"))
        await first_inside.wait()
        second = asyncio.create_task(feed(dp, aiogram_bot, 2, chat_id=5, text="second"))
        other = asyncio.create_task(feed(dp, aiogram_bot, 3, chat_id=6, text="other"))
        await other  # another chat is not held up
        for _ in range(20):
            await asyncio.sleep(0)  # give the second update every chance to overtake
        assert "start second" not in order
        release_first.set()
        await asyncio.gather(first, second)

        assert order == [
            "start first",
            "start other",
            "end other",
            "end first",
            "start second",
            "end second",
        ]
        assert await FSMStorage(storage).get_data(StorageKey(42, 5, 5)) == {
            "first": True,
            "second": True,
        }

    async def test_read_await_write_counter_is_exact(
        self, locking_stores: Stores, aiogram_bot: Bot
    ) -> None:
        storage = locking_stores.new()
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))

        @dp.message()
        async def count(message: Message, state: FSMContext) -> None:
            data = await state.get_data()
            await asyncio.sleep(0)
            await state.update_data(n=data.get("n", 0) + 1)

        await asyncio.gather(*(feed(dp, aiogram_bot, i, chat_id=5) for i in range(1, 51)))

        assert await FSMStorage(storage).get_data(StorageKey(42, 5, 5)) == {"n": 50}

    async def test_an_update_costs_a_lock_and_a_write_through_the_lease(
        self, redis_store: RedisStorage, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage(redis_store)
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))

        @dp.message()
        async def count(message: Message, state: FSMContext) -> None:
            data = await state.get_data()
            await state.update_data(n=data.get("n", 0) + 1)

        await feed(dp, aiogram_bot, 1, chat_id=5)

        assert storage.calls == [
            ("acquire", "fsm:5:5", True),
            ("lease.write", "fsm:5:5", {"state": None, "data": {"n": 1}}, {"keep": True}),
            ("lease.release", "fsm:5:5"),
        ]

    async def test_a_burst_of_one_chat_hands_the_lease_on_instead_of_relocking(
        self, redis_store: RedisStorage, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage(redis_store)
        gate, all_in_line = asyncio.Event(), asyncio.Event()
        arrived = 0

        class CountingIsolation(SessionIsolation):
            @contextlib.asynccontextmanager
            async def lock(self, key: StorageKey) -> AsyncIterator[None]:
                nonlocal arrived
                arrived += 1
                if arrived == 8:
                    all_in_line.set()  # this update queues for the lock right after
                async with super().lock(key):
                    yield

        isolation = CountingIsolation(storage)
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=isolation)

        @dp.message()
        async def count(message: Message, state: FSMContext) -> None:
            await gate.wait()
            data = await state.get_data()
            await state.update_data(n=data.get("n", 0) + 1)

        burst = [asyncio.create_task(feed(dp, aiogram_bot, i, chat_id=5)) for i in range(1, 9)]
        await all_in_line.wait()
        gate.set()
        await asyncio.gather(*burst)

        names = [call[0] for call in storage.calls]
        assert names.count("acquire") == 1
        assert names.count("lease.write") == 8
        assert names.count("lease.release") == 1
        assert await redis_store.read("fsm:5:5") == {"state": None, "data": {"n": 8}}

    async def test_the_lock_is_held_across_processes_while_the_handler_runs(
        self, redis_url: str, unique_name: str, redis_store: RedisStorage
    ) -> None:
        other_process = RedisStorage(redis_url, prefix=f"{unique_name}:", lock_wait=0.2)
        try:
            async with SessionIsolation(redis_store).lock(KEY):
                await FSMStorage(redis_store).set_state(KEY, "mine")
                with pytest.raises(LockError):
                    await FSMStorage(other_process).set_state(KEY, "theirs")
            await FSMStorage(other_process).update_data(KEY, {"after": True})
        finally:
            await other_process.close()

        assert await redis_store.read(RECORD) == {"state": "mine", "data": {"after": True}}

    async def test_writes_skip_the_disk_flush_and_the_update_waits_for_it_after_the_handoff(
        self, aiogram_bot: Bot
    ) -> None:
        storage = FlushingStorage()
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))

        @dp.message()
        async def count(message: Message, state: FSMContext) -> None:
            data = await state.get_data()
            await state.update_data(n=data.get("n", 0) + 1)

        first = asyncio.create_task(feed(dp, aiogram_bot, 1, chat_id=5))
        second = asyncio.create_task(feed(dp, aiogram_bot, 2, chat_id=5))
        await second  # ran under the handed-over lease while the first waits for the disk
        assert not first.done()
        storage.disk_ready.set()
        await first

        assert storage.data["fsm:5:5"] == {"state": None, "data": {"n": 2}}
        assert storage.counts == Counter(
            {"acquire": 1, "write+keep-flush": 2, "flush": 1, "release": 1}
        )
        assert storage.locked == set()

    async def test_a_failed_flush_fails_its_update_and_not_the_next(self, aiogram_bot: Bot) -> None:
        storage = FlushingStorage()
        storage.fail_flush = True
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))

        @dp.message()
        async def count(message: Message, state: FSMContext) -> None:
            await state.update_data(n=(await state.get_data()).get("n", 0) + 1)

        first = asyncio.create_task(feed(dp, aiogram_bot, 1, chat_id=5))
        second = asyncio.create_task(feed(dp, aiogram_bot, 2, chat_id=5))
        await second  # its own writes were flushed by its release
        storage.disk_ready.set()
        with pytest.raises(StorageError, match="flush failed"):
            await first
        assert storage.locked == set()

    async def test_a_task_started_by_the_handler_does_not_keep_the_lease(
        self, redis_store: RedisStorage
    ) -> None:
        fsm = FSMStorage(redis_store)
        isolation = SessionIsolation(redis_store)
        async with isolation.lock(KEY):
            late = asyncio.create_task(asyncio.sleep(0))
            await late
            background = asyncio.Event()

            async def later() -> None:
                await background.wait()
                await fsm.update_data(KEY, {"late": True})

            straggler = asyncio.create_task(later())
        async with isolation.lock(KEY):
            background.set()
            await asyncio.sleep(0)
            assert not straggler.done()  # it waits for the lock like any other writer
            await fsm.update_data(KEY, {"second": True})
        await straggler

        assert await fsm.get_data(KEY) == {"second": True, "late": True}

    async def test_an_inner_isolation_of_another_storage_keeps_the_outer_lease_in_use(
        self, redis_url: str, unique_name: str, redis_store: RedisStorage
    ) -> None:
        recording = RecordingStorage(redis_store)
        elsewhere = RedisStorage(redis_url, prefix=f"{unique_name}-other:")
        try:
            async with SessionIsolation(recording).lock(KEY):
                async with SessionIsolation(elsewhere).lock(KEY):
                    pass
                await FSMStorage(recording).set_state(KEY, "outer")
        finally:
            await elsewhere.close()
            await drop_redis(redis_url, f"{unique_name}-other:")

        assert [call[0] for call in recording.calls] == ["acquire", "lease.write", "lease.release"]

    async def test_data_read_under_the_lease_is_a_copy_as_a_fresh_read_would_be(
        self, redis_store: RedisStorage
    ) -> None:
        fsm = FSMStorage(redis_store)
        async with SessionIsolation(redis_store).lock(KEY):
            items = [1]
            await fsm.update_data(KEY, {"items": items})
            items.append(2)  # changes neither the lease's record nor storage
            (await fsm.get_data(KEY))["items"].append(3)
            (await fsm.update_data(KEY, {"n": 1}))["items"].append(4)
            assert await fsm.get_data(KEY) == {"items": [1], "n": 1}

        assert await redis_store.read(RECORD) == {"state": None, "data": {"items": [1], "n": 1}}

    async def test_taking_the_same_key_twice_in_one_task_raises(
        self, locking_stores: Stores
    ) -> None:
        isolation = SessionIsolation(locking_stores.new())
        async with isolation.lock(KEY):
            with pytest.raises(LockError, match="already held"):
                async with isolation.lock(KEY):
                    pass

    async def test_a_waiter_cancelled_in_line_leaves_no_lock_behind(
        self, locking_stores: Stores
    ) -> None:
        isolation = SessionIsolation(locking_stores.new())
        inside = asyncio.Event()

        async def wait_for_lock() -> None:
            inside.set()
            async with isolation.lock(KEY):
                pass

        async with isolation.lock(KEY):
            waiter = asyncio.create_task(wait_for_lock())
            await inside.wait()
            await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        async with isolation.lock(KEY):
            pass  # free again

    async def test_fsm_over_another_wrapper_of_the_locked_storage_raises_at_once(
        self, redis_store: RedisStorage
    ) -> None:
        fsm = FSMStorage(enhance_storage(storage=redis_store, ttl=60))
        async with SessionIsolation(redis_store).lock(KEY):
            with pytest.raises(LockError, match="same storage object"):
                await fsm.set_state(KEY, "x")

    async def test_enhanced_storage_reuses_the_lease_too(
        self, redis_store: RedisStorage, aiogram_bot: Bot
    ) -> None:
        recording = RecordingStorage(redis_store)
        storage = enhance_storage(storage=recording, ttl=3600)
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))

        @dp.message()
        async def count(message: Message, state: FSMContext) -> None:
            await state.update_data(n=(await state.get_data()).get("n", 0) + 1)

        await feed(dp, aiogram_bot, 1, chat_id=5)
        await feed(dp, aiogram_bot, 2, chat_id=5)

        assert [call[0] for call in recording.calls].count("acquire") == 2
        assert [call[0] for call in recording.calls].count("read") == 0
        assert await FSMStorage(storage).get_data(StorageKey(42, 5, 5)) == {"n": 2}


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("backend", ["redis", "postgres"])
async def test_four_bot_processes_count_one_chat_to_exactly_1000(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> None:
    stores = stores_for(request, backend, tmp_path, unique_name)
    try:
        target = stores.redis_url if backend == "redis" else stores.postgres_dsn
        assert target is not None
        await run_bot_processes(backend, target, unique_name)
        fsm = FSMStorage(stores.new())
        assert await fsm.get_data(StorageKey(42, 4242, 4242)) == {"n": 1000}
    finally:
        await stores.aclose()
