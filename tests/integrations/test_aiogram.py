from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import InlineQuery, Message

from botsessions import LockError, SessionKeyError, SessionOptions, keys
from botsessions.integrations.aiogram import (
    EventKeyContext,
    SessionHandle,
    SessionMiddleware,
    setup_sessions,
)
from botsessions.storage import RedisStorage
from botsessions.testing.recording import RecordingStorage
from tests.integrations import _updates


def counter() -> dict[str, int]:
    return {"count": 0}


async def count_across_an_await(message: Message, session: dict[str, int]) -> None:
    """Increment the counter with an await between read and write: concurrent updates of
    one chat would overwrite each other's count without the session lock."""
    value = session["count"]
    await asyncio.sleep(0)
    session["count"] = value + 1


async def feed(dp: Dispatcher, bot: Bot, raw: dict[str, Any]) -> Any:
    return await dp.feed_raw_update(bot, raw)


class TestStrictSession:
    async def test_session_is_loaded_before_the_handler_and_saved_after(
        self, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)
        seen: list[int] = []

        @dp.message()
        async def count(message: Message, session: dict[str, int]) -> None:
            session["count"] += 1
            seen.append(session["count"])

        for i in range(3):
            await feed(dp, aiogram_bot, _updates.message(i + 1, chat_id=7))

        assert seen == [1, 2, 3]
        assert storage.storage.read("7") == {"count": 3}
        assert storage.reads == 3
        assert storage.writes == 3

    async def test_handler_that_does_not_declare_session_causes_no_write(
        self, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)

        @dp.message()
        async def ignore(message: Message) -> None:
            pass

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert storage.writes == 0
        assert storage.deletes == 0

    async def test_session_read_but_unchanged_is_not_written(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        storage.storage.write("7", {"count": 5})
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)
        seen: list[int] = []

        @dp.message()
        async def read_only(message: Message, session: dict[str, int]) -> None:
            seen.append(session["count"])

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert seen == [5]
        assert storage.writes == 0

    async def test_session_handle_deletes_the_stored_session(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        storage.storage.write("7", {"count": 5})
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)

        @dp.message()
        async def reset(message: Message, session_handle: SessionHandle[dict[str, int]]) -> None:
            session_handle.delete()

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert storage.deletes == 1
        assert storage.storage.read("7") is None

    async def test_session_handle_replaces_the_value_and_knows_the_key(
        self, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)
        keys: list[str | None] = []

        @dp.message()
        async def replace(message: Message, session_handle: SessionHandle[dict[str, int]]) -> None:
            keys.append(session_handle.key)
            session_handle.data = {"count": 99}

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert keys == ["7"]
        assert storage.storage.read("7") == {"count": 99}

    async def test_error_in_handler_writes_nothing_and_propagates(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        storage.storage.write("7", {"count": 1})
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)

        @dp.message()
        async def fail(message: Message, session: dict[str, int]) -> None:
            session["count"] += 1
            raise ValueError("handler failed")

        with pytest.raises(ValueError, match="handler failed"):
            await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert storage.writes == 0
        assert storage.storage.read("7") == {"count": 1}

    async def test_handle_kept_after_the_update_refuses_access(self, aiogram_bot: Bot) -> None:
        dp = Dispatcher()
        setup_sessions(dp, initial=counter)
        kept: list[SessionHandle[dict[str, int]]] = []

        @dp.message()
        async def keep(message: Message, session_handle: SessionHandle[dict[str, int]]) -> None:
            kept.append(session_handle)

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        with pytest.raises(RuntimeError, match="already saved"):
            _ = kept[0].data

    async def test_handler_with_kwargs_gets_the_session(self, aiogram_bot: Bot) -> None:
        dp = Dispatcher()
        setup_sessions(dp, initial=counter)
        seen: list[object] = []

        @dp.message()
        async def everything(message: Message, **kwargs: Any) -> None:
            seen.append(kwargs["session"])

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert seen == [{"count": 0}]

    async def test_1000_concurrent_updates_for_one_chat_lose_nothing(
        self, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)

        dp.message()(count_across_an_await)

        await asyncio.gather(
            *(feed(dp, aiogram_bot, _updates.message(i + 1, chat_id=7)) for i in range(1000))
        )

        assert storage.storage.read("7") == {"count": 1000}


class TestKeys:
    async def test_update_without_chat_passes_when_the_handler_ignores_sessions(
        self, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage)
        handled: list[str] = []

        @dp.inline_query()
        async def inline(query: InlineQuery) -> None:
            handled.append(query.query)

        await feed(dp, aiogram_bot, _updates.inline_query(1, user_id=5))

        assert handled == ["q"]
        assert storage.calls == []

    async def test_handler_declaring_session_on_an_update_without_key_fails_clearly(
        self, aiogram_bot: Bot
    ) -> None:
        dp = Dispatcher()
        setup_sessions(dp, initial=counter)

        @dp.inline_query()
        async def inline(query: InlineQuery, session: dict[str, int]) -> None:
            pass

        with pytest.raises(SessionKeyError):
            await feed(dp, aiogram_bot, _updates.inline_query(1, user_id=5))

    async def test_custom_key_function_sees_event_context_fields(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        seen: list[tuple[object, ...]] = []

        def topic_key(ctx: EventKeyContext) -> str:
            seen.append((ctx.bot_id, ctx.chat_id, ctx.user_id, ctx.thread_id))
            return f"{ctx.bot_id}:{ctx.chat_id}:{ctx.thread_id}"

        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage, get_session_key=topic_key)

        @dp.message()
        async def count(message: Message, session: dict[str, int]) -> None:
            session["count"] += 1

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=-100, user_id=5, thread_id=3))

        assert seen == [(42, -100, 5, 3)]
        assert storage.storage.read("42:-100:3") == {"count": 1}

    async def test_business_connection_id_reaches_the_key_function(self, aiogram_bot: Bot) -> None:
        seen: list[str | None] = []

        def key(ctx: EventKeyContext) -> str:
            seen.append(ctx.business_connection_id)
            return "k"

        dp = Dispatcher()
        setup_sessions(dp, initial=counter, get_session_key=key)
        await feed(dp, aiogram_bot, _updates.business_message(1, chat_id=7, connection_id="bc1"))

        assert seen == ["bc1"]


class TestLazySession:
    async def test_lazy_session_reads_storage_only_when_awaited(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, lazy=True, initial=counter, storage=storage)

        @dp.message(lambda m: m.text == "/count")
        async def count(message: Message, session: Awaitable[dict[str, int]]) -> None:
            data = await session
            data["count"] += 1

        @dp.message()
        async def other(message: Message, session: Awaitable[dict[str, int]]) -> None:
            pass

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7, text="plain"))
        assert storage.calls == []

        await feed(dp, aiogram_bot, _updates.message(2, chat_id=7, text="/count"))
        assert storage.reads == 1
        assert storage.storage.read("7") == {"count": 1}


class TestMultiSession:
    async def test_fragments_are_injected_by_name_and_saved_separately(
        self, aiogram_bot: Bot
    ) -> None:
        chats = RecordingStorage()
        users = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(
            dp,
            type="multi",
            chat=SessionOptions(initial=lambda: {"messages": 0}, storage=chats),
            user={
                "initial": lambda: {"language": "en"},
                "storage": users,
                "get_session_key": lambda ctx: str(ctx.user_id),
            },
        )

        @dp.message()
        async def both(message: Message, chat: dict[str, int], user: dict[str, str]) -> None:
            chat["messages"] += 1
            user["language"] = "de"

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=-100, user_id=5))

        assert chats.storage.read("-100") == {"messages": 1}
        assert users.storage.read("5") == {"language": "de"}

    async def test_multi_session_object_is_injected_as_session(self, aiogram_bot: Bot) -> None:
        chats = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(
            dp, type="multi", chat=SessionOptions(initial=lambda: {"n": 0}, storage=chats)
        )

        @dp.message()
        async def count(message: Message, session: Any) -> None:
            session.chat["n"] += 1

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert chats.storage.read("7") == {"n": 1}

    def test_fragment_named_like_an_aiogram_argument_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="state"):
            SessionMiddleware(type="multi", state=SessionOptions(initial=counter))


class TestFrameworkCooperation:
    async def test_sessions_and_fsm_with_simple_event_isolation_do_not_deadlock(
        self, aiogram_bot: Bot
    ) -> None:
        storage = RecordingStorage()
        dp = Dispatcher(events_isolation=SimpleEventIsolation())
        setup_sessions(dp, initial=counter, storage=storage)

        @dp.message()
        async def count(message: Message, session: dict[str, int], state: FSMContext) -> None:
            await state.update_data(seen=True)
            value = session["count"]
            await asyncio.sleep(0)
            session["count"] = value + 1

        # Two users in one group: aiogram locks per user in chat, sessions per chat.
        await asyncio.gather(
            *(
                feed(dp, aiogram_bot, _updates.message(i + 1, chat_id=-100, user_id=1 + i % 2))
                for i in range(200)
            )
        )

        assert storage.storage.read("-100") == {"count": 200}

    async def test_sessions_work_in_handlers_of_nested_routers(self, aiogram_bot: Bot) -> None:
        dp = Dispatcher()
        router = Router()
        dp.include_router(router)
        setup_sessions(dp, initial=counter)
        seen: list[int] = []

        @router.message()
        async def count(message: Message, session: dict[str, int]) -> None:
            session["count"] += 1
            seen.append(session["count"])

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))
        await feed(dp, aiogram_bot, _updates.message(2, chat_id=7))

        assert seen == [1, 2]

    def test_installing_on_a_router_is_rejected(self) -> None:
        with pytest.raises(TypeError, match="Dispatcher"):
            setup_sessions(Router(), initial=counter)  # type: ignore[call-overload]


class TestRedisStorage:
    async def test_concurrent_updates_under_event_isolation_keep_every_write_in_redis(
        self, aiogram_bot: Bot, redis_url: str, unique_name: str
    ) -> None:
        async with RedisStorage(redis_url, prefix=f"{unique_name}:") as storage:
            dp = Dispatcher(events_isolation=SimpleEventIsolation())
            setup_sessions(dp, initial=counter, storage=storage)

            dp.message()(count_across_an_await)

            await asyncio.gather(
                *(
                    feed(dp, aiogram_bot, _updates.message(i + 1, chat_id=-100, user_id=i % 3))
                    for i in range(200)
                )
            )

            assert await storage.read("-100") == {"count": 200}
            await storage.delete("-100")


class TestOutsideAnUpdate:
    async def test_admin_command_changes_another_chats_session(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        sessions = setup_sessions(dp, initial=counter, storage=storage)
        storage.storage.write("8", {"count": 5})

        @dp.message(Command("reset"))
        async def reset(message: Message, command: CommandObject) -> None:
            async with sessions.open(str(command.args)) as handle:
                handle.data["count"] = 0

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7, text="/reset 8"))

        assert storage.storage.read("8") == {"count": 0}
        assert storage.storage.read("7") is None  # the admin's own session: untouched
        assert [key async for key in sessions.keys()] == ["8"]  # noqa: SIM118 (an async iterator)
        assert [entry async for entry in sessions.entries()] == [("8", {"count": 0})]

    async def test_opening_the_key_of_the_running_update_fails_at_once(
        self, aiogram_bot: Bot
    ) -> None:
        dp = Dispatcher()
        sessions = setup_sessions(dp, initial=counter)
        errors: list[BaseException] = []

        @dp.message()
        async def reopen(message: Message, session: dict[str, int]) -> None:
            try:
                async with sessions.open(str(message.chat.id)):
                    pass
            except LockError as exc:
                errors.append(exc)

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert len(errors) == 1

    async def test_per_bot_chat_keys_sessions_by_the_bot_id(self, aiogram_bot: Bot) -> None:
        storage = RecordingStorage()
        dp = Dispatcher()
        setup_sessions(dp, initial=counter, storage=storage, get_session_key=keys.per_bot_chat)

        @dp.message()
        async def count(message: Message, session: dict[str, int]) -> None:
            session["count"] += 1

        await feed(dp, aiogram_bot, _updates.message(1, chat_id=7))

        assert storage.storage.read("42:7") == {"count": 1}
