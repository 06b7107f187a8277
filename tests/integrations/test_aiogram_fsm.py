"""FSMStorage: aiogram's FSM and scenes on every botsessions storage.

Real aiogram, real backends (Redis and PostgreSQL from ``tests/services.py``). Isolation
is tested in ``test_aiogram_fsm_isolation.py``; aiogram_dialog, aiogram's own test suite
and the example bot in ``test_aiogram_fsm_end_to_end.py``.
"""

from __future__ import annotations

import asyncio
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

from botsessions import CorruptDataError
from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation
from botsessions.storage import MemorySessionStorage, RedisStorage, SQLiteStorage
from tests.integrations import _updates
from tests.integrations._fsm_storages import KEY, RECORD, Stores, feed, read, redis_store, stores

__all__ = ["redis_store", "stores"]  # fixtures


class Form(StatesGroup):
    name = State()
    age = State()


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
