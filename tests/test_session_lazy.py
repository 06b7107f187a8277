"""lazy_session(): reads on first access, always an awaitable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botsessions import SessionKeyError, lazy_session
from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage
from tests.session_support import FakeContext, nothing, run

Recording = type[RecordingStorage]
both = pytest.mark.parametrize("recording", [RecordingStorage, SyncRecordingStorage])


@both
async def test_an_untouched_lazy_session_costs_no_storage_call(recording: Recording) -> None:
    storage = recording()
    await run(lazy_session(initial=lambda: 0, storage=storage), FakeContext(), nothing)
    assert storage.calls == []


@both
async def test_the_first_access_reads_once_and_later_accesses_share_it(
    recording: Recording,
) -> None:
    storage = recording()
    storage.storage.write("42", {"n": 1})

    async def handler(ctx: FakeContext) -> None:
        first, second = ctx.session, ctx.session
        a, b = await asyncio.gather(first, second)
        assert a is b
        assert a == {"n": 1}
        assert await ctx.session is a
        a["n"] = 2

    await run(lazy_session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", {"n": 2})]


@both
async def test_the_session_is_always_an_awaitable(recording: Recording) -> None:
    storage = recording()

    async def handler(ctx: FakeContext) -> None:
        for _ in range(3):
            pending = ctx.session
            assert hasattr(pending, "__await__")
            assert await pending == 0
        ctx.session = 5
        assert await ctx.session == 5

    await run(lazy_session(initial=lambda: 0, storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", 5)]


@both
async def test_assigning_before_any_access_skips_the_read(recording: Recording) -> None:
    storage = recording()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"n": 9}
        assert await ctx.session == {"n": 9}

    await run(lazy_session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("write", "42", {"n": 9})]


async def test_assigning_during_the_read_wins_and_earlier_awaiters_get_the_assigned_value() -> None:
    gate = asyncio.Event()

    class SlowStorage(RecordingStorage):
        async def read(self, key: str) -> Any:
            self.calls.append(("read", key))
            await gate.wait()
            return {"stored": True}

    storage = SlowStorage()

    async def handler(ctx: FakeContext) -> None:
        pending = ctx.session
        await asyncio.sleep(0)
        ctx.session = 42
        gate.set()
        assert await pending == 42
        assert await ctx.session == 42

    await run(lazy_session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", 42)]


async def test_an_assigned_awaitable_built_on_the_pending_read_does_not_hang() -> None:
    storage = RecordingStorage()
    storage.storage.write("42", {"n": 1})

    async def bump(pending: Any) -> Any:
        data = await pending
        data["n"] += 1
        return data

    async def handler(ctx: FakeContext) -> None:
        ctx.session = bump(ctx.session)

    await asyncio.wait_for(run(lazy_session(storage=storage), FakeContext(), handler), 5)
    assert storage.calls == [("read", "42"), ("write", "42", {"n": 2})]


async def test_an_accessed_but_never_awaited_session_is_loaded_and_initial_written() -> None:
    storage = RecordingStorage()

    async def handler(ctx: FakeContext) -> None:
        _ = ctx.session

    await run(lazy_session(initial=lambda: 0, storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42"), ("write", "42", 0)]


async def test_an_accessed_unchanged_lazy_session_is_not_written() -> None:
    storage = RecordingStorage()
    storage.storage.write("42", {"n": 1})

    async def handler(ctx: FakeContext) -> None:
        await ctx.session

    await run(lazy_session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


async def test_an_assigned_awaitable_is_written_after_the_update() -> None:
    storage = RecordingStorage()

    async def value() -> int:
        return 42

    async def handler(ctx: FakeContext) -> None:
        ctx.session = value()

    await run(lazy_session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("write", "42", 42)]


async def test_assigning_none_deletes() -> None:
    storage = RecordingStorage()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = None

    await run(lazy_session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("delete", "42")]


async def test_a_failed_update_reads_but_writes_nothing() -> None:
    storage = RecordingStorage()

    async def handler(ctx: FakeContext) -> None:
        (await ctx.session)["n"] = 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run(lazy_session(initial=dict, storage=storage), FakeContext(), handler)
    assert storage.calls == [("read", "42")]


async def test_a_failing_read_fails_the_await_and_the_update() -> None:
    class Broken(RecordingStorage):
        async def read(self, key: str) -> Any:
            raise OSError("disk on fire")

    storage = Broken()

    async def swallow(ctx: FakeContext) -> None:
        with pytest.raises(OSError, match="disk on fire"):
            await ctx.session

    with pytest.raises(OSError, match="disk on fire"):
        await run(lazy_session(storage=storage), FakeContext(), swallow)
    assert storage.calls == []


async def test_lazy_key_errors_name_the_lazy_session() -> None:
    async def read(ctx: FakeContext) -> None:
        _ = ctx.session

    with pytest.raises(SessionKeyError, match="Cannot access lazy session data"):
        await run(lazy_session(), FakeContext(None), read)

    async def assign(ctx: FakeContext) -> None:
        ctx.session = 1

    with pytest.raises(SessionKeyError, match="custom get_session_key"):
        await run(lazy_session(get_session_key=lambda c: None), FakeContext(), assign)


def test_lazy_multi_sessions_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="lazy multi sessions"):
        lazy_session(type="multi", a={})


async def test_the_key_is_computed_even_when_the_session_is_never_touched() -> None:
    seen: list[object] = []

    def key(ctx: Any) -> str:
        seen.append(ctx)
        return "k"

    ctx = FakeContext()
    await run(lazy_session(get_session_key=key), ctx, nothing)
    assert seen == [ctx]
    assert ctx.session_key == "k"
