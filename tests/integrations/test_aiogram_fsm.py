"""aiogram's FSM, scenes and aiogram_dialog on botsessions storages.

Real aiogram, real backends (Redis and PostgreSQL from ``tests/services.py``). aiogram's
own FSM test suite runs against ``FSMStorage`` in ``scripts/aiogram-fsm-tests``, wired
in at the end of this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.scene import Scene, SceneRegistry, on
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message
from aiogram_dialog.test_tools import BotClient
from aiogram_dialog.test_tools.keyboard import InlineButtonTextLocator

from botsessions import CorruptDataError, LockError, enhance_storage
from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation
from botsessions.storage import MemorySessionStorage, RedisStorage, SQLiteStorage
from botsessions.testing.bot_api import ChatUser, LocalBotAPI
from botsessions.testing.recording import RecordingStorage
from tests.integrations import _fsm_dialog, _updates
from tests.integrations._fsm_storages import (
    ALL_KINDS,
    Stores,
    drop_redis,
    read,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = StorageKey(bot_id=42, chat_id=-100, user_id=7)
RECORD = "fsm:-100:7"  # DefaultKeyBuilder() of KEY


class Form(StatesGroup):
    name = State()
    age = State()


def stores_for(request: pytest.FixtureRequest, kind: str, tmp_path: Path, name: str) -> Stores:
    redis_url = request.getfixturevalue("redis_url") if "redis" in kind else None
    postgres_dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    return Stores(
        kind, directory=tmp_path, name=name, redis_url=redis_url, postgres_dsn=postgres_dsn
    )


@pytest.fixture(params=ALL_KINDS)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Stores]:
    built = stores_for(request, request.param, tmp_path, unique_name)
    yield built
    await built.aclose()


@pytest.fixture
async def redis_store(redis_url: str, unique_name: str) -> AsyncIterator[RedisStorage]:
    storage = RedisStorage(redis_url, prefix=f"{unique_name}:", lock_wait=30.0)
    yield storage
    await storage.close()
    await drop_redis(redis_url, f"{unique_name}:")


@pytest.fixture(params=["memory", "redis"])
async def locking_stores(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Stores]:
    built = stores_for(request, request.param, tmp_path, unique_name)
    yield built
    await built.aclose()


async def feed(dp: Dispatcher, bot: Bot, update_id: int, chat_id: int, text: str = "hi") -> Any:
    return await dp.feed_raw_update(bot, _updates.message(update_id, chat_id, text=text))


class TestFSMStorage:
    async def test_state_and_data_round_trip_as_one_record(self, stores: Stores) -> None:
        storage = stores.new()
        state = FSMContext(FSMStorage(storage), KEY)

        await state.set_state(Form.name)
        await state.update_data(name="Alice")
        await state.update_data({"age": 30})

        assert await state.get_state() == "Form:name"
        assert await state.get_data() == {"name": "Alice", "age": 30}
        assert await state.get_value("age") == 30
        assert await state.get_value("missing", "default") == "default"
        assert await read(storage, RECORD) == {
            "state": "Form:name",
            "data": {"name": "Alice", "age": 30},
        }

    async def test_clear_deletes_the_record(self, stores: Stores) -> None:
        storage = stores.new()
        state = FSMContext(FSMStorage(storage), KEY)
        await state.set_state("step")
        await state.set_data({"a": 1})

        await state.clear()

        assert await read(storage, RECORD) is None
        assert await state.get_state() is None
        assert await state.get_data() == {}

    async def test_state_and_data_survive_a_new_storage_object(self, stores: Stores) -> None:
        if stores.kind == "memory":
            pytest.skip("memory storage forgets on restart by design")
        first = FSMContext(FSMStorage(stores.new()), KEY)
        await first.set_state(Form.age)
        await first.update_data(name="Bob")

        again = FSMContext(FSMStorage(stores.new()), KEY)

        assert await again.get_state() == "Form:age"
        assert await again.get_data() == {"name": "Bob"}

    async def test_reading_a_missing_record_stores_nothing(self, stores: Stores) -> None:
        storage = stores.new()
        fsm = FSMStorage(storage)

        assert await fsm.get_state(KEY) is None
        assert await fsm.get_data(KEY) == {}
        await fsm.set_state(KEY, None)
        await fsm.set_data(KEY, {})

        assert await read(storage, RECORD) is None

    async def test_concurrent_updates_of_one_key_lose_nothing(self, stores: Stores) -> None:
        fsm = FSMStorage(stores.new())

        await asyncio.gather(
            fsm.set_state(KEY, "busy"),
            *(fsm.update_data(KEY, {f"k{i}": i}) for i in range(20)),
        )

        assert await fsm.get_data(KEY) == {f"k{i}": i for i in range(20)}
        assert await fsm.get_state(KEY) == "busy"

    async def test_returned_data_is_a_copy(self) -> None:
        fsm = FSMStorage(MemorySessionStorage())
        await fsm.set_data(KEY, {"items": [1]})

        (await fsm.get_data(KEY))["items"].append(2)
        (await fsm.update_data(KEY, {"x": 1}))["items"].append(3)

        assert await fsm.get_data(KEY) == {"items": [1], "x": 1}

    async def test_set_data_refuses_what_is_not_a_dict(self) -> None:
        fsm = FSMStorage(MemorySessionStorage())

        with pytest.raises(DataNotDictLikeError):
            await fsm.set_data(KEY, ())  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "stored",
        ["text", {"state": 1, "data": {}}, {"state": None, "data": []}, {"data": {}}],
        ids=["not-a-dict", "state-not-str", "data-not-dict", "no-state"],
    )
    async def test_corrupt_record_raises_naming_the_key_and_is_left_in_place(
        self, stored: Any
    ) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        storage.write(RECORD, stored)
        fsm = FSMStorage(storage)

        for call in (fsm.get_state(KEY), fsm.get_data(KEY), fsm.update_data(KEY, {"a": 1})):
            with pytest.raises(CorruptDataError) as caught:
                await call
            assert caught.value.key == RECORD
            assert RECORD in str(caught.value)
        assert storage.read(RECORD) == stored

    async def test_corrupt_record_under_a_lease_is_left_in_place(
        self, redis_store: RedisStorage
    ) -> None:
        await redis_store.write(RECORD, ["not", "a", "record"])
        fsm = FSMStorage(redis_store)

        with pytest.raises(CorruptDataError):
            await fsm.set_state(KEY, "x")
        async with SessionIsolation(redis_store).lock(KEY):
            with pytest.raises(CorruptDataError):
                await fsm.get_state(KEY)

        assert await redis_store.read(RECORD) == ["not", "a", "record"]

    async def test_sync_and_async_adapters_of_any_shape(self) -> None:
        class SyncDict:
            def __init__(self) -> None:
                self.data: dict[str, Any] = {}

            def read(self, key: str) -> Any:
                return self.data.get(key)

            def write(self, key: str, value: Any) -> None:
                self.data[key] = value

            def delete(self, key: str) -> None:
                self.data.pop(key, None)

        class AsyncDict(SyncDict):
            async def read(self, key: str) -> Any:
                return self.data.get(key)

            async def write(self, key: str, value: Any) -> None:  # type: ignore[override]
                self.data[key] = value

            async def delete(self, key: str) -> None:  # type: ignore[override]
                self.data.pop(key, None)

        for adapter in (SyncDict(), AsyncDict()):
            state = FSMContext(FSMStorage(adapter), KEY)
            await state.set_state("s")
            await state.update_data(a=1)
            assert adapter.data == {RECORD: {"state": "s", "data": {"a": 1}}}
            await state.clear()
            assert adapter.data == {}

    async def test_close_leaves_the_storage_open(self, tmp_path: Path) -> None:
        async with SQLiteStorage(tmp_path / "x.db") as storage:
            fsm = FSMStorage(storage)
            await fsm.set_state(KEY, "s")
            await fsm.close()
            assert await storage.read(RECORD) == {"state": "s", "data": {}}

    def test_bad_arguments_are_refused_when_built(self) -> None:
        with pytest.raises(TypeError, match="read"):
            FSMStorage(object())
        with pytest.raises(TypeError, match="KeyBuilder"):
            FSMStorage(MemorySessionStorage(), key_builder="fsm")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="KeyBuilder"):
            SessionIsolation(MemorySessionStorage(), key_builder=object())  # type: ignore[arg-type]


class TestKeyBuilder:
    async def test_default_builder_keys_by_chat_thread_and_user(self) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        fsm = FSMStorage(storage)

        await fsm.set_state(KEY, "a")
        await fsm.set_state(StorageKey(bot_id=42, chat_id=-100, user_id=7, thread_id=5), "b")

        assert sorted(storage.read_all_keys()) == ["fsm:-100:5:7", RECORD]

    @pytest.mark.parametrize(
        ("options", "record"),
        [
            ({"prefix": "bot"}, "bot:-100:7"),
            ({"with_bot_id": True}, "fsm:42:-100:7"),
            ({"with_business_connection_id": True}, "fsm:biz:-100:7"),
            ({"with_destiny": True}, "fsm:-100:7:scenes"),
            ({"separator": "/", "with_bot_id": True}, "fsm/42/-100/7"),
        ],
    )
    async def test_builder_options_shape_the_stored_key(
        self, options: dict[str, Any], record: str
    ) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        fsm = FSMStorage(storage, key_builder=DefaultKeyBuilder(**options))
        destiny = "scenes" if options.get("with_destiny") else "default"
        key = StorageKey(
            bot_id=42, chat_id=-100, user_id=7, business_connection_id="biz", destiny=destiny
        )

        await fsm.set_data(key, {"x": 1})

        assert storage.read_all_keys() == [record]

    async def test_default_builder_refuses_another_destiny_as_aiogram_does(self) -> None:
        fsm = FSMStorage(MemorySessionStorage())
        key = StorageKey(bot_id=42, chat_id=-100, user_id=7, destiny="scenes_history")

        with pytest.raises(ValueError, match="with_destiny"):
            await fsm.get_data(key)

    async def test_two_bots_with_bot_id_keep_apart(self) -> None:
        storage: MemorySessionStorage[Any] = MemorySessionStorage()
        fsm = FSMStorage(storage, key_builder=DefaultKeyBuilder(with_bot_id=True))

        await fsm.set_state(StorageKey(bot_id=1, chat_id=5, user_id=5), "one")
        await fsm.set_state(StorageKey(bot_id=2, chat_id=5, user_id=5), "two")

        assert await fsm.get_state(StorageKey(bot_id=1, chat_id=5, user_id=5)) == "one"
        assert await fsm.get_state(StorageKey(bot_id=2, chat_id=5, user_id=5)) == "two"


class TestDispatcher:
    async def test_multi_step_form_through_the_dispatcher(
        self, stores: Stores, aiogram_bot: Bot
    ) -> None:
        storage = stores.new()
        dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))
        replies: list[str] = []

        @dp.message(Form.name)
        async def name(message: Message, state: FSMContext) -> None:
            await state.update_data(name=message.text)
            await state.set_state(Form.age)
            replies.append("age?")

        @dp.message(Form.age)
        async def age(message: Message, state: FSMContext) -> None:
            data = await state.get_data()
            await state.clear()
            replies.append(f"{data['name']} is {message.text}")

        @dp.message()
        async def start(message: Message, state: FSMContext) -> None:
            await state.set_state(Form.name)
            replies.append("name?")

        for i, text in enumerate(["/start", "Alice", "30"]):
            await feed(dp, aiogram_bot, i + 1, chat_id=5, text=text)

        assert replies == ["name?", "age?", "Alice is 30"]
        assert await read(storage, "fsm:5:5") is None

    @pytest.mark.parametrize("fsm", ["aiogram", "botsessions"])
    async def test_an_update_without_a_chat_gets_no_state_as_with_aiogram(
        self, fsm: str, aiogram_bot: Bot
    ) -> None:
        backend: MemorySessionStorage[Any] = MemorySessionStorage()
        storage = MemoryStorage() if fsm == "aiogram" else FSMStorage(backend)
        dp = Dispatcher(storage=storage)
        seen: list[Any] = []

        @dp.inline_query()
        async def inline(query: Any, state: FSMContext | None = None) -> None:
            seen.append(await state.get_state() if state is not None else "no state")

        @dp.poll()
        async def poll(poll: Any, state: FSMContext | None = None) -> None:
            seen.append("no state" if state is None else "state")

        await dp.feed_raw_update(aiogram_bot, _updates.inline_query(1, user_id=9))
        poll_update = {
            "update_id": 2,
            "poll": {
                "id": "p",
                "question": "?",
                "options": [],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            },
        }
        await dp.feed_raw_update(aiogram_bot, poll_update)

        # an inline query has a user but no chat: aiogram keys it by the user
        assert seen == [None, "no state"]
        assert backend.read_all_keys() == []

    async def test_scene_enter_and_leave(self, stores: Stores, aiogram_bot: Bot) -> None:
        storage = stores.new()
        keys = DefaultKeyBuilder(with_destiny=True)
        dp = Dispatcher(
            storage=FSMStorage(storage, key_builder=keys),
            events_isolation=SessionIsolation(storage, key_builder=keys),
        )
        replies: list[str] = []

        class Quiz(Scene, state="quiz"):
            @on.message.enter()
            async def enter(self, message: Message, state: FSMContext) -> None:
                await state.update_data(asked=1)
                replies.append("question")

            @on.message()
            async def answer(self, message: Message, state: FSMContext) -> None:
                data = await state.get_data()
                replies.append(f"answer {message.text} after {data['asked']}")
                await self.wizard.exit()

            @on.message.exit()
            async def leave(self, message: Message) -> None:
                replies.append("bye")

        registry = SceneRegistry(dp)
        registry.add(Quiz)
        dp.message.register(Quiz.as_handler(), lambda m: m.text == "/quiz")

        await feed(dp, aiogram_bot, 1, chat_id=5, text="/quiz")
        assert await read(storage, "fsm:5:5:default") == {"state": "quiz", "data": {"asked": 1}}
        await feed(dp, aiogram_bot, 2, chat_id=5, text="42")

        assert replies == ["question", "answer 42 after 1", "bye"]
        # leaving a scene resets the state and keeps the data, as with MemoryStorage
        assert await read(storage, "fsm:5:5:default") == {"state": None, "data": {"asked": 1}}


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


async def run_bot_processes(backend: str, target: str, name: str) -> None:
    """Four worker processes, 250 updates each of one chat; fails on any worker error."""
    argv = ["--backend", backend, "--target", target, "--name", name, "--updates", "250"]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integrations._fsm_worker",
            *argv,
            "--index",
            str(index),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for index in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 120)
            assert line.strip() == b"ready", line
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        for worker in workers:
            out, err = await asyncio.wait_for(worker.communicate(), 240)
            assert worker.returncode == 0, err.decode()[-2000:]
            report = json.loads(out.decode().strip().removeprefix("done "))
            assert report == {"errors": 0, "first_error": None}
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


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


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_dialog_stopped_midway_resumes_at_the_same_window_after_a_restart(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> None:
    stores = stores_for(request, kind, tmp_path, unique_name)
    try:
        dp, messages = _fsm_dialog.make_dispatcher(stores.new())
        client = BotClient(dp, user_id=7, chat_id=7)
        await client.send("/start")
        assert messages.last_message().text == "What is your name?"
        await client.send("Alice")
        assert messages.last_message().text == "How old are you?"
        for storage in stores.built:
            await storage.close()  # the process stops here

        dp, messages = _fsm_dialog.make_dispatcher(stores.new())
        client = BotClient(dp, user_id=7, chat_id=7)
        await client.send("30")

        assert messages.last_message().text == "Alice, 30"
        summary = messages.last_message()
        dp, messages = _fsm_dialog.make_dispatcher(stores.new())
        client = BotClient(dp, user_id=7, chat_id=7)
        await client.click(summary, InlineButtonTextLocator("Change age"))
        assert messages.last_message().text == "How old are you?"
    finally:
        await stores.aclose()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_aiogram_own_fsm_tests_pass_on_every_backend(redis_url: str, postgres_dsn: str) -> None:
    env = {
        **os.environ,
        "BOTSESSIONS_REDIS_URL": redis_url,
        "BOTSESSIONS_POSTGRES_DSN": postgres_dsn,
    }
    env["BOTSESSIONS_PYTHON"] = sys.executable
    result = subprocess.run(
        [str(ROOT / "scripts" / "aiogram-fsm-tests")],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    if result.returncode == 3:
        pytest.skip(f"PyPI is not reachable: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for backend in ("memory", "sqlite", "redis", "postgres"):
        assert f"| {backend} | " in result.stdout
    assert " failed" not in result.stdout


async def start_form_bot(api: LocalBotAPI, token: str, db: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "BOT_TOKEN": token, "BOT_API_SERVER": api.url, "FORM_DB": str(db)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "aiogram_form.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)  # Ctrl+C, as a user stops it
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def ask(user: ChatUser, text: str) -> str | None:
    await user.send(text)
    reply = await user.reply(timeout=60.0)
    answer: str | None = reply.get("text")
    return answer


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_form_example_goes_on_after_a_restart_over_real_polling(tmp_path: Path) -> None:
    db = tmp_path / "form.db"
    async with LocalBotAPI() as api:
        token = api.add_bot(username="form_bot")
        alice = api.user(token, first_name="Alice")
        bot = await start_form_bot(api, token, db)
        try:
            assert await ask(alice, "/start") == "What is your name?"
            assert await ask(alice, "Alice") == "How old are you?"
        finally:
            await stop(bot)

        bot = await start_form_bot(api, token, db)
        try:
            assert await ask(alice, "thirty") == "Please send your age as a number."
            assert await ask(alice, "30") == "Alice, 30. Is that right? (yes/no)"
            assert await ask(alice, "yes") == "Thank you, Alice!"
            assert await ask(alice, "hello") == "Send /start to fill in the form."
        finally:
            await stop(bot)

    async with SQLiteStorage(db) as store:
        record = f"fsm:{alice.chat_id}:{alice.chat_id}"
        assert await store.read(record) is None  # a finished form leaves no row behind
