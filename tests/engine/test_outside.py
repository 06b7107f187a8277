"""Sessions outside an update: open(key), keys(), entries(), encode() and decode()."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from botsessions import (
    CorruptDataError,
    LockError,
    MemorySessionStorage,
    SessionKeyError,
    SessionOptions,
    enhance_storage,
    lazy_session,
    session,
)
from botsessions.storage import SQLiteStorage
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, run


@dataclass
class Cart:
    items: list[str] = field(default_factory=list)
    total: int = 0


class PlainStorage:
    """A storage with read, write and delete only: it cannot list its sessions."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def read(self, key: str) -> Any:
        return self.data.get(key)

    def write(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class TestOpen:
    async def test_open_reads_through_the_prefix_and_writes_what_changed(self) -> None:
        storage = RecordingStorage()
        storage.storage.write("p:42", {"count": 1})
        counter = session(initial=lambda: {"count": 0}, storage=storage, prefix="p:")

        async with counter.open("42") as handle:
            assert handle.key == "42"
            assert handle.data == {"count": 1}
            handle.data["count"] += 1

        assert storage.calls == [("read", "p:42"), ("write", "p:42", {"count": 2})]

    async def test_open_that_changes_nothing_writes_nothing(self) -> None:
        storage = RecordingStorage()
        storage.storage.write("42", {"count": 1})
        counter = session(initial=lambda: {"count": 0}, storage=storage)

        async with counter.open("42") as handle:
            handle.data["count"] += 1
            handle.data["count"] -= 1
        async with counter.open("43"):
            pass  # not even read by the block: nothing to write

        assert storage.writes == 0

    async def test_open_of_a_new_key_starts_from_initial(self) -> None:
        storage = MemorySessionStorage[Any]()
        counter = session(initial=lambda: {"count": 0}, storage=storage)

        async with counter.open("42") as handle:
            handle.data["count"] += 3

        assert storage.read("42") == {"count": 3}

    async def test_open_block_that_raises_writes_nothing(self) -> None:
        storage = RecordingStorage()
        storage.storage.write("42", {"count": 1})
        counter = session(initial=lambda: {"count": 0}, storage=storage)

        async def failing_job() -> None:
            async with counter.open("42") as handle:
                handle.data["count"] = 100
                raise ValueError("job failed")

        with pytest.raises(ValueError, match="job failed"):
            await failing_job()

        assert storage.writes == 0
        assert storage.storage.read("42") == {"count": 1}

    async def test_assigning_none_deletes_the_stored_session(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"count": 1})
        counter = session(initial=lambda: {"count": 0}, storage=storage)

        async with counter.open("42") as handle:
            handle.data = None

        assert storage.read("42") is None

    async def test_typed_session_is_decoded_and_encoded(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"items": ["tea"], "total": 3})
        carts = session(initial=Cart, storage=storage)

        async with carts.open("42") as handle:
            assert handle.data == Cart(items=["tea"], total=3)
            handle.data.items.append("milk")

        assert storage.read("42") == {"items": ["tea", "milk"], "total": 3}

    async def test_lazy_session_is_read_when_the_block_starts(self) -> None:
        storage = RecordingStorage()
        storage.storage.write("42", {"score": 2})
        scores = lazy_session(initial=lambda: {"score": 0}, storage=storage)

        async with scores.open("42") as handle:
            assert storage.reads == 1
            handle.data["score"] += 1  # a value, not an awaitable

        assert storage.storage.read("42") == {"score": 3}

    async def test_migrations_of_an_enhanced_storage_apply(self) -> None:
        inner = MemorySessionStorage[Any]()
        inner.write("42", {"count": 1})  # legacy data, before the first migration
        storage = enhance_storage(storage=inner, migrations={1: lambda d: {"n": d["count"]}})
        counter = session(initial=lambda: {"n": 0}, storage=storage)

        async with counter.open("42") as handle:
            assert handle.data == {"n": 1}
            handle.data["n"] += 1

        assert inner.read("42") == {"__d": {"n": 2}, "v": 1}

    async def test_handle_refuses_access_after_the_block(self) -> None:
        counter = session(initial=lambda: {"count": 0})
        async with counter.open("42") as handle:
            pass
        with pytest.raises(RuntimeError, match="has ended"):
            handle.data["count"] += 1

    async def test_open_needs_a_str_key(self) -> None:
        counter = session(initial=dict)
        with pytest.raises(TypeError, match="session key"):
            counter.open()
        with pytest.raises(TypeError, match="session key"):
            counter.open(None)
        with pytest.raises(TypeError, match="must be a str"):
            counter.open(4.2)  # type: ignore[arg-type]


class TestOpenSerializes:
    async def test_open_waits_for_the_running_update_of_the_same_key(self) -> None:
        storage = MemorySessionStorage[Any]()
        counter = session(initial=lambda: {"count": 0}, storage=storage)
        inside = asyncio.Event()
        proceed = asyncio.Event()

        async def slow_increment(ctx: FakeContext) -> None:
            value = ctx.session["count"]
            inside.set()
            await proceed.wait()
            ctx.session["count"] = value + 1

        update = asyncio.create_task(run(counter, FakeContext(42), slow_increment))
        await inside.wait()

        async def job() -> None:
            async with counter.open("42") as handle:
                handle.data["count"] += 10

        opened = asyncio.create_task(job())
        await asyncio.sleep(0)  # let the job reach the lock
        assert not opened.done()
        proceed.set()
        await asyncio.gather(update, opened)

        assert storage.read("42") == {"count": 11}

    async def test_open_inside_an_update_of_the_same_key_fails_at_once(self) -> None:
        counter = session(initial=lambda: {"count": 0})
        errors: list[str] = []

        async def reopen(ctx: FakeContext) -> None:
            ctx.session["count"] += 1
            try:
                async with counter.open("42"):
                    pass
            except Exception as exc:
                errors.append(type(exc).__name__)

        await run(counter, FakeContext(42), reopen)

        assert errors == ["LockError"]

    async def test_an_update_of_the_same_key_inside_an_open_block_fails_at_once(self) -> None:
        storage = MemorySessionStorage[Any]()
        counter = session(initial=lambda: {"count": 0}, storage=storage)

        async def bump(ctx: FakeContext) -> None:
            ctx.session["count"] += 1

        async with counter.open("42") as handle:
            handle.data["count"] = 5
            with pytest.raises(LockError):
                await run(counter, FakeContext(42), bump)

        assert storage.read("42") == {"count": 5}


class TestCorruptData:
    async def test_open_on_a_value_that_does_not_match_the_type_leaves_it(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"items": "not a list"})
        carts = session(initial=Cart, storage=storage)

        with pytest.raises(CorruptDataError) as caught:
            async with carts.open("42") as handle:
                handle.data.items.append("tea")

        assert caught.value.key == "42"
        assert storage.read("42") == {"items": "not a list"}

    async def test_open_on_a_stored_value_that_is_not_json_leaves_it(self, tmp_path: Path) -> None:
        path = tmp_path / "sessions.db"
        async with SQLiteStorage(path) as storage:
            await storage.write("42", {"count": 1})
            with sqlite3.connect(path) as connection:
                connection.execute("UPDATE sessions SET value = 'oops{' WHERE key = '42'")
            counter = session(initial=lambda: {"count": 0}, storage=storage)

            with pytest.raises(CorruptDataError):
                async with counter.open("42"):
                    pass

            with sqlite3.connect(path) as connection:
                assert connection.execute("SELECT value FROM sessions").fetchall() == [("oops{",)]
            async with counter.open("43") as handle:  # the key's lock was released
                handle.data["count"] += 1


class TestMultiOpen:
    def multi(self, storage: Any) -> Any:
        return session(
            type="multi",
            chat=SessionOptions(initial=lambda: {"theme": "light"}, storage=storage, prefix="c:"),
            user=SessionOptions(initial=lambda: {"lang": "en"}, storage=storage, prefix="u:"),
        )

    async def test_fragments_are_opened_by_keyword(self) -> None:
        storage = MemorySessionStorage[Any]()
        sessions = self.multi(storage)

        async with sessions.open(chat="42", user="7") as handle:
            assert handle.keys == {"chat": "42", "user": "7"}
            handle.data.chat["theme"] = "dark"
            handle.data.user["lang"] = "de"

        assert storage.read("c:42") == {"theme": "dark"}
        assert storage.read("u:7") == {"lang": "de"}

    async def test_a_fragment_that_was_not_opened_cannot_be_used(self) -> None:
        storage = MemorySessionStorage[Any]()
        sessions = self.multi(storage)

        async with sessions.open(chat="42") as handle:
            with pytest.raises(SessionKeyError, match="pass user=<key> to open"):
                handle.data.user["lang"] = "de"
            handle.data.chat["theme"] = "dark"

        assert storage.read("c:42") == {"theme": "dark"}
        assert [key async for key in sessions.keys("chat")] == ["42"]

    async def test_assigning_none_deletes_the_opened_fragments(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("c:42", {"theme": "dark"})
        storage.write("u:7", {"lang": "de"})
        sessions = self.multi(storage)

        async with sessions.open(chat="42") as handle:
            handle.data = None

        assert storage.read("c:42") is None
        assert storage.read("u:7") == {"lang": "de"}

    async def test_open_of_a_multi_session_needs_known_fragments(self) -> None:
        sessions = self.multi(MemorySessionStorage[Any]())
        with pytest.raises(TypeError, match="unknown: team"):
            sessions.open(team="1")
        with pytest.raises(TypeError, match="per fragment"):
            sessions.open("42")
        with pytest.raises(TypeError, match="fragment="):
            sessions.keys()


class TestEntries:
    async def test_entries_are_typed_and_only_this_sessions_keys(self) -> None:
        storage = MemorySessionStorage[Any]()
        carts = session(initial=Cart, storage=storage, prefix="cart:")
        counters = session(initial=lambda: {"count": 0}, storage=storage, prefix="count:")
        for chat in ("1", "2"):
            async with carts.open(chat) as handle:
                handle.data.items.append(f"tea for {chat}")
        async with counters.open("1") as handle:
            handle.data["count"] = 5

        entries = sorted([entry async for entry in carts.entries()], key=lambda e: e[0])
        assert entries == [("1", Cart(items=["tea for 1"])), ("2", Cart(items=["tea for 2"]))]
        assert isinstance(entries[0][1], Cart)
        assert [entry async for entry in counters.entries()] == [("1", {"count": 5})]
        assert sorted([key async for key in carts.keys()]) == ["1", "2"]  # noqa: SIM118 (an async iterator)

    async def test_entries_of_an_enhanced_storage_are_migrated(self) -> None:
        inner = MemorySessionStorage[Any]()
        inner.write("42", {"count": 1})
        storage = enhance_storage(storage=inner, migrations={1: lambda d: {"n": d["count"]}})
        counter = session(initial=lambda: {"n": 0}, storage=storage)

        assert [entry async for entry in counter.entries()] == [("42", {"n": 1})]

    async def test_a_corrupt_value_is_reported_not_skipped(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("1", {"items": []})
        storage.write("2", {"items": 3})
        carts = session(initial=Cart, storage=storage)

        with pytest.raises(CorruptDataError):
            _ = [entry async for entry in carts.entries()]

    async def test_a_storage_that_cannot_enumerate_says_so(self) -> None:
        counter = session(initial=dict, storage=PlainStorage())

        with pytest.raises(TypeError, match=r"PlainStorage .*no read_all_entries\(\)"):
            counter.entries()
        with pytest.raises(TypeError, match=r"PlainStorage .*no read_all_keys\(\)"):
            counter.keys()

    async def test_a_sync_storage_that_enumerates_works(self) -> None:
        class ListingStorage(PlainStorage):
            def read_all_keys(self) -> list[str]:
                return list(self.data)

            def read_all_entries(self) -> list[tuple[str, Any]]:
                return list(self.data.items())

        storage = ListingStorage()
        counter = session(initial=dict, storage=storage, prefix="x:")
        storage.write("x:1", {"a": 1})
        storage.write("y:1", {"b": 2})

        assert [key async for key in counter.keys()] == ["1"]  # noqa: SIM118 (an async iterator)
        assert [entry async for entry in counter.entries()] == [("1", {"a": 1})]


class TestCodec:
    def test_decode_validates_a_stored_value_of_a_typed_session(self) -> None:
        carts = session(initial=Cart)

        assert carts.decode({"items": ["tea"]}) == Cart(items=["tea"])
        with pytest.raises(CorruptDataError):
            carts.decode({"items": 3})

    def test_encode_gives_the_stored_json_form(self) -> None:
        carts = session(initial=Cart)

        assert carts.encode(Cart(items=["tea"], total=2)) == {"items": ["tea"], "total": 2}
        with pytest.raises(TypeError):
            session(initial=dict).encode({"when": object()})

    def test_multi_sessions_name_the_fragment(self) -> None:
        sessions = session(type="multi", chat={"initial": Cart})

        assert sessions.decode({"items": []}, fragment="chat") == Cart(items=[])
        with pytest.raises(TypeError, match="fragment="):
            sessions.decode({"items": []})
