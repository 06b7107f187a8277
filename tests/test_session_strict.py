"""session(): strict single sessions (grammY's suite, plus botsessions' divergences)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botsessions import MemorySessionStorage, SessionKeyError, session
from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage
from tests.session_support import FakeContext, nothing, run, touch

Recording = type[RecordingStorage]
both = pytest.mark.parametrize("recording", [RecordingStorage, SyncRecordingStorage])


@both
async def test_default_key_is_the_chat_id_and_the_value_reaches_storage(
    recording: Recording,
) -> None:
    storage = recording()

    async def handler(ctx: FakeContext) -> None:
        assert ctx.session == {"n": 0}
        assert ctx.session_key == "42"
        ctx.session["n"] = 1

    await run(session(initial=lambda: {"n": 0}, storage=storage), FakeContext(42), handler)
    assert storage.calls == [("read", "42"), ("write", "42", {"n": 1})]


@both
async def test_untouched_session_is_read_but_not_written(recording: Recording) -> None:
    storage = recording()
    storage.storage.write("42", {"n": 5})
    await run(session(storage=storage), FakeContext(42), nothing)
    assert storage.calls == [("read", "42")]


@both
async def test_untouched_initial_data_is_not_written(recording: Recording) -> None:
    calls = []
    storage = recording()

    def initial() -> dict[str, int]:
        calls.append(1)
        return {"n": 0}

    await run(session(initial=initial, storage=storage), FakeContext(), nothing)
    assert storage.calls == [("read", "42")]
    assert calls == []  # initial() only runs when the session is touched


@both
async def test_read_initial_data_is_written_once_and_initial_runs_once(
    recording: Recording,
) -> None:
    calls = []
    storage = recording()

    def initial() -> dict[str, int]:
        calls.append(1)
        return {"n": 0}

    async def handler(ctx: FakeContext) -> None:
        assert ctx.session is ctx.session

    await run(session(initial=initial, storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", {"n": 0})]
    assert calls == [1]


@both
async def test_read_but_unchanged_session_is_not_written(recording: Recording) -> None:
    storage = recording()
    storage.storage.write("42", {"n": 5})
    await run(session(storage=storage), FakeContext(), touch)
    assert storage.calls == [("read", "42")]


@both
async def test_changing_a_value_and_changing_it_back_costs_no_write(recording: Recording) -> None:
    storage = recording()
    storage.storage.write("42", {"n": 5, "tags": ["a"]})

    async def handler(ctx: FakeContext) -> None:
        ctx.session["n"] = 6
        ctx.session["tags"].append("b")
        ctx.session["n"] = 5
        ctx.session["tags"].pop()

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


@both
async def test_assigning_an_equal_value_costs_no_write(recording: Recording) -> None:
    storage = recording()
    storage.storage.write("42", {"a": 1, "b": 2})

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"b": 2, "a": 1}

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


@both
async def test_assigning_a_new_value_writes_it(recording: Recording) -> None:
    storage = recording()
    storage.storage.write("42", {"n": 1})

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"n": 2}

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", {"n": 2})]


@both
async def test_assigning_none_deletes_the_session(recording: Recording) -> None:
    storage = recording()
    storage.storage.write("42", {"n": 1})

    async def handler(ctx: FakeContext) -> None:
        ctx.session = None

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("delete", "42")]
    assert storage.storage.read("42") is None


@both
async def test_reading_a_missing_session_without_initial_gives_none_and_no_write(
    recording: Recording,
) -> None:
    storage = recording()

    async def handler(ctx: FakeContext) -> None:
        assert ctx.session is None

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


@both
async def test_nothing_is_written_when_the_handler_raises(recording: Recording) -> None:
    storage = recording()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"n": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


async def test_an_assigned_awaitable_is_awaited_and_its_result_written() -> None:
    storage = RecordingStorage()

    async def compute() -> dict[str, int]:
        await asyncio.sleep(0)
        return {"n": 42}

    async def handler(ctx: FakeContext) -> None:
        ctx.session = compute()
        assert await ctx.session == {"n": 42}  # the getter returns the awaitable as is

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", {"n": 42})]


async def test_an_assigned_awaitable_resolving_to_none_deletes() -> None:
    storage = RecordingStorage()

    async def gone() -> None:
        return None

    async def handler(ctx: FakeContext) -> None:
        ctx.session = gone()

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("delete", "42")]


async def test_a_custom_key_function_and_prefix_are_applied() -> None:
    storage = RecordingStorage()
    mw = session(
        initial=lambda: 0, prefix="xyz-", get_session_key=lambda ctx: "1764", storage=storage
    )

    async def handler(ctx: FakeContext) -> None:
        assert ctx.session_key == "xyz-1764"
        ctx.session = 7

    await run(mw, FakeContext(), handler)
    assert storage.calls == [("read", "xyz-1764"), ("write", "xyz-1764", 7)]


async def test_an_async_key_function_is_awaited() -> None:
    storage = RecordingStorage()

    async def key(ctx: Any) -> str:
        await asyncio.sleep(0)
        return "k"

    await run(
        session(initial=lambda: 1, get_session_key=key, storage=storage), FakeContext(), touch
    )
    assert storage.calls == [("read", "k"), ("write", "k", 1)]


async def test_an_integer_key_becomes_a_string() -> None:
    storage = RecordingStorage()
    mw = session(
        initial=lambda: 1, prefix="user-", get_session_key=lambda c: 424242, storage=storage
    )
    await run(mw, FakeContext(), touch)
    assert storage.calls[0] == ("read", "user-424242")


async def test_an_empty_string_is_a_valid_key() -> None:
    storage = RecordingStorage()
    mw = session(initial=lambda: 1, prefix="p-", get_session_key=lambda c: "", storage=storage)
    await run(mw, FakeContext(), touch)
    assert storage.calls[0] == ("read", "p-")


async def test_the_key_function_runs_once_per_update_before_any_storage_call() -> None:
    order: list[str] = []
    storage = RecordingStorage()

    def key(ctx: Any) -> str:
        order.append(f"key after {len(storage.calls)} calls")
        return "k"

    async def handler(ctx: FakeContext) -> None:
        ctx.session = 1

    await run(session(get_session_key=key, storage=storage), FakeContext(), handler)
    assert order == ["key after 0 calls"]
    assert storage.calls == [("read", "k"), ("write", "k", 1)]


async def test_updates_without_a_chat_pass_through_without_storage_calls() -> None:
    storage = RecordingStorage()
    ctx = FakeContext(None)
    await run(session(initial=lambda: 0, storage=storage), ctx, nothing)
    assert storage.calls == []
    assert ctx.session_key is None


async def test_touching_the_session_without_a_key_raises_a_clear_error() -> None:
    mw = session(initial=lambda: 0)

    async def read(ctx: FakeContext) -> None:
        _ = ctx.session

    async def assign(ctx: FakeContext) -> None:
        ctx.session = 1

    with pytest.raises(SessionKeyError) as read_error:
        await run(mw, FakeContext(None), read)
    assert "Cannot access session data" in str(read_error.value)
    assert "session key is undefined for this update" in str(read_error.value)
    assert "does not belong to a chat" in str(read_error.value)
    with pytest.raises(SessionKeyError, match="Cannot assign session data"):
        await run(mw, FakeContext(None), assign)


async def test_the_key_error_names_a_custom_key_function() -> None:
    def my_key(ctx: Any) -> None:
        return None

    async def read(ctx: FakeContext) -> None:
        _ = ctx.session

    with pytest.raises(SessionKeyError) as error:
        await run(session(get_session_key=my_key), FakeContext(), read)
    assert "custom get_session_key function" in str(error.value)
    assert "my_key" in str(error.value)
    assert "session key is undefined for this update" in str(error.value)


async def test_default_storage_is_one_memory_storage_per_session_call() -> None:
    first = session(initial=lambda: {"n": 0})
    second = session(initial=lambda: {"n": 0})

    async def bump(ctx: FakeContext) -> None:
        ctx.session["n"] += 1

    async def check(expected: int) -> Any:
        async def handler(ctx: FakeContext) -> None:
            assert ctx.session["n"] == expected

        return handler

    await run(first, FakeContext(), bump)
    await run(first, FakeContext(), bump)
    await run(first, FakeContext(), await check(2))
    await run(second, FakeContext(), await check(0))


async def test_sessions_persist_across_updates_in_memory_storage() -> None:
    storage = MemorySessionStorage[dict[str, int]]()
    mw = session(initial=lambda: {"n": 0}, storage=storage)

    async def bump(ctx: FakeContext) -> None:
        ctx.session["n"] += 1

    for _ in range(3):
        await run(mw, FakeContext(7), bump)
    assert storage.read("7") == {"n": 3}


async def test_non_json_data_in_an_untyped_session_fails_the_update_and_writes_nothing() -> None:
    storage = RecordingStorage()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"when": object()}

    with pytest.raises(TypeError):
        await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


class TestMemoryStorage:
    """The engine reads and writes MemorySessionStorage's JSON bytes directly."""

    async def test_a_value_that_is_not_json_names_its_path_and_is_not_written(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"pair": [1, 2]})

        async def handler(ctx: FakeContext) -> None:
            ctx.session["pair"] = (1, 2)

        with pytest.raises(TypeError, match=r'session\["pair"\]: tuple is not JSON'):
            await run(session(storage=storage), FakeContext(), handler)
        assert storage.read("42") == {"pair": [1, 2]}

    async def test_integers_beyond_64_bits_are_stored_and_read_back(self) -> None:
        storage = MemorySessionStorage[Any]()
        mw = session(initial=lambda: {"n": 2**64}, storage=storage)

        async def bump(ctx: FakeContext) -> None:
            ctx.session["n"] += 1

        await run(mw, FakeContext(), bump)
        await run(mw, FakeContext(), bump)
        assert storage.read("42") == {"n": 2**64 + 2}

    async def test_a_change_between_equal_comparing_values_is_written(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"flag": 1, "ratio": 1})

        async def handler(ctx: FakeContext) -> None:
            ctx.session["flag"] = True  # == 1 in Python, but JSON true
            ctx.session["ratio"] = 1.0

        await run(session(storage=storage), FakeContext(), handler)
        stored = storage.read("42")
        assert stored == {"flag": True, "ratio": 1.0}
        assert type(stored["flag"]) is bool
        assert type(stored["ratio"]) is float

    async def test_the_value_read_is_a_copy_the_stored_form_never_changes(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"items": [1]})
        seen: list[Any] = []

        async def handler(ctx: FakeContext) -> None:
            seen.append(ctx.session)
            ctx.session["items"].append(2)
            assert storage.read("42") == {"items": [1]}

        await run(session(storage=storage), FakeContext(), handler)
        seen[0]["items"].append(3)  # the handler's object after the update: not stored
        assert storage.read("42") == {"items": [1, 2]}

    async def test_a_subclass_overriding_read_and_write_is_called(self) -> None:
        calls: list[str] = []

        class Audited(MemorySessionStorage[Any]):
            def read(self, key: str) -> Any:
                calls.append("read")
                return super().read(key)

            def write(self, key: str, value: Any) -> None:
                calls.append("write")
                super().write(key, value)

        async def bump(ctx: FakeContext) -> None:
            ctx.session["n"] += 1

        await run(session(initial=lambda: {"n": 0}, storage=Audited()), FakeContext(), bump)
        assert calls == ["read", "write"]
