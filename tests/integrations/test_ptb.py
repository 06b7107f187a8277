from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from botsessions import CorruptDataError, SessionKeyError, SessionOptions, keys
from botsessions.integrations.ptb import (
    SessionApplication,
    SessionContext,
    UpdateKeyContext,
    setup_sessions,
)
from botsessions.storage import RedisStorage, SQLiteStorage
from botsessions.testing.recording import RecordingStorage
from tests.integrations import _updates

AnyBuilder = ApplicationBuilder[Any, Any, Any, Any, Any, Any]
AnyApp = Application[Any, Any, Any, Any, Any, Any]
Handler = Callable[[Update, SessionContext], Any]


def counter() -> dict[str, int]:
    return {"count": 0}


async def count_across_an_await(update: Update, context: SessionContext) -> None:
    """Increment the counter with an await between read and write: concurrent updates of
    one chat would overwrite each other's count without the session lock."""
    value = context.session["count"]
    await asyncio.sleep(0)
    context.session["count"] = value + 1


@pytest.fixture
def storage() -> RecordingStorage:
    return RecordingStorage()


async def started(app: AnyApp) -> AnyApp:
    await app.initialize()
    return app


@pytest.fixture
async def apps() -> AsyncIterator[list[AnyApp]]:
    """Applications built by a test; shut down at the end."""
    built: list[AnyApp] = []
    yield built
    for app in built:
        await app.shutdown()


async def build(apps: list[AnyApp], builder: AnyBuilder, *handlers: Any, **options: Any) -> AnyApp:
    app = setup_sessions(builder, **options).build()
    for handler in handlers:
        app.add_handler(handler)
    apps.append(app)
    await app.initialize()
    return app


async def process(app: AnyApp, raw: dict[str, Any]) -> None:
    await app.process_update(Update.de_json(raw, app.bot))


class TestStrictSession:
    async def test_session_is_loaded_before_the_handler_and_saved_after(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        seen: list[int] = []

        async def count(update: Update, context: SessionContext) -> None:
            context.session["count"] += 1
            seen.append(context.session["count"])

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, count), initial=counter, storage=storage
        )
        assert isinstance(app, SessionApplication)
        for i in range(3):
            await process(app, _updates.message(i + 1, chat_id=7))

        assert seen == [1, 2, 3]
        assert storage.storage.read("7") == {"count": 3}
        assert storage.writes == 3

    async def test_handler_that_ignores_the_session_causes_no_write(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        async def ignore(update: Update, context: SessionContext) -> None:
            pass

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, ignore), initial=counter, storage=storage
        )
        await process(app, _updates.message(1, chat_id=7))

        assert storage.writes == 0
        assert storage.deletes == 0

    async def test_session_read_but_unchanged_is_not_written(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        storage.storage.write("7", {"count": 5})
        seen: list[int] = []

        async def read_only(update: Update, context: SessionContext) -> None:
            seen.append(context.session["count"])

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, read_only), initial=counter,
            storage=storage,
        )  # fmt: skip
        await process(app, _updates.message(1, chat_id=7))

        assert seen == [5]
        assert storage.writes == 0

    async def test_assigning_none_deletes_the_stored_session(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        storage.storage.write("7", {"count": 5})
        keys: list[str | None] = []

        async def reset(update: Update, context: SessionContext) -> None:
            keys.append(context.session_key)
            context.session = None

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, reset), initial=counter, storage=storage
        )
        await process(app, _updates.message(1, chat_id=7))

        assert keys == ["7"]
        assert storage.deletes == 1
        assert storage.storage.read("7") is None

    async def test_error_in_handler_writes_nothing_and_reaches_error_handlers(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        storage.storage.write("7", {"count": 1})
        errors: list[str] = []

        async def fail(update: Update, context: SessionContext) -> None:
            context.session["count"] += 1
            raise ValueError("handler failed")

        async def on_error(update: object, context: SessionContext) -> None:
            errors.append(str(context.error))

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, fail), initial=counter, storage=storage
        )
        app.add_error_handler(on_error)
        await process(app, _updates.message(1, chat_id=7))

        assert errors == ["handler failed"]
        assert storage.writes == 0
        assert storage.storage.read("7") == {"count": 1}

    async def test_application_handler_stop_still_saves(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        async def stop(update: Update, context: SessionContext) -> None:
            context.session["count"] += 1
            raise ApplicationHandlerStop

        async def never(update: Update, context: SessionContext) -> None:
            context.session["count"] += 100

        app = await build(apps, ptb_builder, initial=counter, storage=storage)
        app.add_handler(TypeHandler(Update, stop), group=-1)
        app.add_handler(MessageHandler(filters.ALL, never))
        await process(app, _updates.message(1, chat_id=7))

        assert storage.storage.read("7") == {"count": 1}

    async def test_every_handler_group_shares_one_session(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        async def first(update: Update, context: SessionContext) -> None:
            context.session["count"] += 1

        async def second(update: Update, context: SessionContext) -> None:
            context.session["count"] *= 10

        app = await build(apps, ptb_builder, initial=counter, storage=storage)
        app.add_handler(MessageHandler(filters.ALL, first), group=0)
        app.add_handler(MessageHandler(filters.ALL, second), group=1)
        await process(app, _updates.message(1, chat_id=7))

        assert storage.storage.read("7") == {"count": 10}
        assert storage.reads == 1
        assert storage.writes == 1

    async def test_non_blocking_handler_cannot_use_a_saved_session(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder
    ) -> None:
        release = asyncio.Event()
        errors: list[BaseException] = []
        done = asyncio.Event()

        async def late(update: Update, context: SessionContext) -> None:
            await release.wait()
            context.session["count"] += 1

        async def on_error(update: object, context: SessionContext) -> None:
            assert context.error is not None
            errors.append(context.error)
            done.set()

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, late, block=False), initial=counter
        )
        app.add_error_handler(on_error)
        await app.start()
        await process(app, _updates.message(1, chat_id=7))
        release.set()
        await done.wait()
        await app.stop()

        assert isinstance(errors[0], RuntimeError)
        assert "already saved" in str(errors[0])


class TestConcurrency:
    async def test_1000_concurrent_process_update_calls_lose_nothing(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        handler = MessageHandler(filters.ALL, count_across_an_await)
        app = await build(apps, ptb_builder, handler, initial=counter, storage=storage)
        await asyncio.gather(
            *(process(app, _updates.message(i + 1, chat_id=7)) for i in range(1000))
        )

        assert storage.storage.read("7") == {"count": 1000}

    async def test_concurrent_updates_from_the_queue_lose_nothing(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        handler = MessageHandler(filters.ALL, count_across_an_await)
        app = await build(
            apps, ptb_builder.concurrent_updates(64), handler, initial=counter, storage=storage
        )
        await app.start()
        for i in range(300):
            await app.update_queue.put(Update.de_json(_updates.message(i + 1, chat_id=7), app.bot))
        await app.update_queue.join()
        await app.stop()

        assert storage.storage.read("7") == {"count": 300}


class TestLazyAndMulti:
    async def test_lazy_session_reads_storage_only_when_awaited(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        async def count(update: Update, context: SessionContext) -> None:
            data = await context.session
            data["count"] += 1

        async def other(update: Update, context: SessionContext) -> None:
            pass

        app = await build(apps, ptb_builder, lazy=True, initial=counter, storage=storage)
        app.add_handler(CommandHandler("count", count))
        app.add_handler(MessageHandler(filters.ALL, other))
        await process(app, _updates.message(1, chat_id=7, text="plain"))
        assert storage.calls == []

        await process(app, _updates.message(2, chat_id=7, text="/count"))
        assert storage.reads == 1
        assert storage.storage.read("7") == {"count": 1}

    async def test_multi_session_fragments_are_saved_separately(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder
    ) -> None:
        chats = RecordingStorage()
        users = RecordingStorage()

        async def both(update: Update, context: SessionContext) -> None:
            context.session.chat["messages"] += 1
            context.session.user["language"] = "de"

        await build(
            apps,
            ptb_builder,
            MessageHandler(filters.ALL, both),
            type="multi",
            chat=SessionOptions(initial=lambda: {"messages": 0}, storage=chats),
            user={
                "initial": lambda: {"language": "en"},
                "storage": users,
                "get_session_key": lambda ctx: str(ctx.user_id),
            },
        )
        await process(apps[0], _updates.message(1, chat_id=-100, user_id=5))

        assert chats.storage.read("-100") == {"messages": 1}
        assert users.storage.read("5") == {"language": "de"}


class TestConversationHandler:
    async def test_conversation_states_and_session_data_advance_together(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        name_state, age_state = 0, 1

        async def start(update: Update, context: SessionContext) -> int:
            context.session["step"] = "name"
            return name_state

        async def name(update: Update, context: SessionContext) -> int:
            assert update.message is not None
            context.session["name"] = update.message.text
            return age_state

        async def age(update: Update, context: SessionContext) -> int:
            assert update.message is not None
            context.session["age"] = int(update.message.text or "0")
            del context.session["step"]
            return ConversationHandler.END

        conversation = ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={
                name_state: [MessageHandler(filters.TEXT, name)],
                age_state: [MessageHandler(filters.TEXT, age)],
            },
            fallbacks=[],
        )
        app = await build(apps, ptb_builder, conversation, initial=dict, storage=storage)
        for i, text in enumerate(["/start", "Alice", "30"]):
            await process(app, _updates.message(i + 1, chat_id=7, text=text))

        assert storage.storage.read("7") == {"name": "Alice", "age": 30}


class TestKeys:
    async def test_update_without_chat_fails_only_when_the_session_is_touched(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        outcomes: list[str] = []

        async def inline(update: Update, context: SessionContext) -> None:
            outcomes.append("handled")
            try:
                _ = context.session
            except SessionKeyError:
                outcomes.append("no key")

        app = await build(
            apps, ptb_builder, TypeHandler(Update, inline), initial=counter, storage=storage
        )
        await process(app, _updates.inline_query(1, user_id=5))

        assert outcomes == ["handled", "no key"]
        assert storage.calls == []

    async def test_custom_key_function_sees_topic_and_bot(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        seen: list[tuple[object, ...]] = []

        def topic_key(ctx: UpdateKeyContext) -> str:
            seen.append((ctx.bot_id, ctx.chat_id, ctx.user_id, ctx.thread_id))
            return f"{ctx.chat_id}:{ctx.thread_id}"

        async def count(update: Update, context: SessionContext) -> None:
            context.session["count"] += 1

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, count), initial=counter,
            storage=storage, get_session_key=topic_key,
        )  # fmt: skip
        await process(app, _updates.message(1, chat_id=-100, user_id=5, thread_id=3))

        assert seen == [(42, -100, 5, 3)]
        assert storage.storage.read("-100:3") == {"count": 1}

    async def test_business_connection_id_reaches_the_key_function(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder
    ) -> None:
        seen: list[str | None] = []

        def key(ctx: UpdateKeyContext) -> str:
            seen.append(ctx.business_connection_id)
            return "k"

        app = await build(apps, ptb_builder, initial=counter, get_session_key=key)
        await process(app, _updates.business_message(1, chat_id=7, connection_id="bc1"))

        assert seen == ["bc1"]


class TestSetup:
    def test_context_types_without_session_context_are_rejected(
        self, ptb_builder: AnyBuilder
    ) -> None:
        with pytest.raises(TypeError, match="SessionContext"):
            setup_sessions(ptb_builder, context_types=ContextTypes(), initial=counter)

    async def test_subclass_of_session_context_keeps_sessions(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder
    ) -> None:
        class MyContext(SessionContext):
            @property
            def count(self) -> int:
                value: int = self.session["count"]
                return value

        seen: list[int] = []

        async def show(update: Update, context: MyContext) -> None:
            context.session["count"] += 2
            seen.append(context.count)

        app = setup_sessions(
            ptb_builder, context_types=ContextTypes(context=MyContext), initial=counter
        ).build()
        apps.append(app)
        app.add_handler(MessageHandler(filters.ALL, show))
        await app.initialize()
        await process(app, _updates.message(1, chat_id=7))

        assert seen == [2]

    def test_importing_botsessions_does_not_import_python_telegram_bot(self) -> None:
        code = "import sys, botsessions, botsessions.storage; print('telegram' in sys.modules)"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "False"


class TestRedisStorage:
    async def test_concurrent_updates_keep_every_write_in_redis(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, redis_url: str, unique_name: str
    ) -> None:
        async with RedisStorage(redis_url, prefix=f"{unique_name}:") as storage:
            handler = MessageHandler(filters.ALL, count_across_an_await)
            app = await build(apps, ptb_builder, handler, initial=counter, storage=storage)
            await asyncio.gather(
                *(process(app, _updates.message(i + 1, chat_id=7)) for i in range(200))
            )

            assert await storage.read("7") == {"count": 200}
            await storage.delete("7")


def corrupt_sqlite_value(path: Path, key: str) -> None:
    """Replace the stored value of ``key`` by text that is not JSON."""
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE sessions SET value = 'not json{' WHERE key = ?", (key,))


class TestSessionErrors:
    async def test_corrupt_session_fails_only_its_update_with_default_settings(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, tmp_path: Path
    ) -> None:
        path = tmp_path / "sessions.db"
        async with SQLiteStorage(path) as storage:
            await storage.write("7", {"count": 1})
            corrupt_sqlite_value(path, "7")
            handled: list[int] = []
            errors: list[BaseException] = []

            async def count(update: Update, context: SessionContext[dict[str, int]]) -> None:
                context.session["count"] += 1
                assert update.effective_chat is not None
                handled.append(update.effective_chat.id)

            async def on_error(update: object, context: SessionContext) -> None:
                assert context.error is not None
                errors.append(context.error)

            app = await build(
                apps, ptb_builder, MessageHandler(filters.ALL, count), initial=counter,
                storage=storage,
            )  # fmt: skip
            app.add_error_handler(on_error)
            await app.start()  # PTB's default: one update after the other, from the queue
            try:
                for update_id, chat in enumerate((7, 8, 9), start=1):
                    await app.update_queue.put(
                        Update.de_json(_updates.message(update_id, chat), app.bot)
                    )
                await app.update_queue.join()
                await app.update_queue.put(Update.de_json(_updates.message(4, 10), app.bot))
                await app.update_queue.join()
            finally:
                await app.stop()

            assert handled == [8, 9, 10]
            assert [type(error) for error in errors] == [CorruptDataError]
            assert isinstance(errors[0], CorruptDataError)
            assert errors[0].key == "7"
            with sqlite3.connect(path) as connection:
                row = connection.execute("SELECT value FROM sessions WHERE key = '7'").fetchone()
            assert row == ("not json{",)  # left in place

    async def test_session_error_of_a_direct_process_update_call_reaches_error_handlers(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, tmp_path: Path
    ) -> None:
        path = tmp_path / "sessions.db"
        async with SQLiteStorage(path) as storage:
            await storage.write("7", {"count": 1})
            corrupt_sqlite_value(path, "7")
            errors: list[str] = []

            async def on_error(update: object, context: SessionContext) -> None:
                errors.append(type(context.error).__name__)

            app = await build(apps, ptb_builder, initial=counter, storage=storage)
            app.add_error_handler(on_error)
            await process(app, _updates.message(1, chat_id=7))

            assert errors == ["CorruptDataError"]

    async def test_process_update_before_initialize_still_raises(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder
    ) -> None:
        app = setup_sessions(ptb_builder, initial=counter).build()
        with pytest.raises(RuntimeError, match="initialize"):
            await app.process_update(Update.de_json(_updates.message(1, 7), app.bot))


@dataclass
class Score:
    points: int = 0


class TestOutsideAnUpdate:
    async def test_application_sessions_open_changes_a_session_between_updates(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        seen: list[int] = []

        async def score(update: Update, context: SessionContext[Score]) -> None:
            context.session.points += 1
            seen.append(context.session.points)

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, score), initial=Score, storage=storage
        )
        await process(app, _updates.message(1, chat_id=7))
        assert isinstance(app, SessionApplication)
        async with app.sessions.open("7") as handle:
            assert handle.data == Score(points=1)
            handle.data.points = 10
        await process(app, _updates.message(2, chat_id=7))

        assert seen == [1, 11]
        assert [(key, value) async for key, value in app.sessions.entries()] == [
            ("7", Score(points=11))
        ]
        assert [key async for key in app.sessions.keys()] == ["7"]  # noqa: SIM118 (an async iterator)

    async def test_a_job_callback_opens_the_session_through_its_context(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        app = await build(apps, ptb_builder, initial=counter, storage=storage)
        context = SessionContext(app)  # what a JobQueue job receives

        with pytest.raises(RuntimeError, match=r"sessions\.open"):
            context.session["count"] += 1
        assert isinstance(context.application, SessionApplication)
        async with context.application.sessions.open("7") as handle:
            handle.data["count"] += 5

        assert storage.storage.read("7") == {"count": 5}

    async def test_per_bot_chat_keys_sessions_by_the_bot_id(
        self, apps: list[AnyApp], ptb_builder: AnyBuilder, storage: RecordingStorage
    ) -> None:
        async def count(update: Update, context: SessionContext) -> None:
            context.session["count"] += 1

        app = await build(
            apps, ptb_builder, MessageHandler(filters.ALL, count), initial=counter,
            storage=storage, get_session_key=keys.per_bot_chat,
        )  # fmt: skip
        await process(app, _updates.message(1, chat_id=7))

        assert storage.storage.read("42:7") == {"count": 1}

    def test_bot_id_comes_from_the_token_before_initialize(self, ptb_builder: AnyBuilder) -> None:
        app = setup_sessions(ptb_builder, initial=counter).build()
        assert UpdateKeyContext(None, app).bot_id == 42
