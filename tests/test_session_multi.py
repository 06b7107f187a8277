"""session(type="multi"): independent fragments under ctx.session.<name>."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from botsessions import MemorySessionStorage, SessionKeyError, SessionOptions, session
from botsessions.storage import FileStorage, SQLiteStorage
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, nothing, run


def by_user(ctx: Any) -> str | None:
    return None if ctx.user_id is None else str(ctx.user_id)


async def test_each_fragment_is_read_and_written_with_its_own_key_and_storage() -> None:
    chat, user = RecordingStorage(), RecordingStorage()
    mw = session(
        type="multi",
        chat=SessionOptions(initial=lambda: {"theme": "light"}, storage=chat),
        user={"initial": lambda: {"lang": "en"}, "get_session_key": by_user, "storage": user},
    )

    async def handler(ctx: FakeContext) -> None:
        ctx.session.chat["theme"] = "dark"
        assert ctx.session.user == {"lang": "en"}

    await run(mw, FakeContext(42, user_id=7), handler)
    assert chat.calls == [("read", "42"), ("write", "42", {"theme": "dark"})]
    assert user.calls == [("read", "7"), ("write", "7", {"lang": "en"})]


async def test_untouched_fragments_are_not_written() -> None:
    a, b = RecordingStorage(), RecordingStorage()
    mw = session(type="multi", a={"initial": dict, "storage": a}, b={"initial": dict, "storage": b})

    async def handler(ctx: FakeContext) -> None:
        ctx.session.a["x"] = 1

    await run(mw, FakeContext(), handler)
    assert a.calls == [("read", "42"), ("write", "42", {"x": 1})]
    assert b.calls == [("read", "42")]


async def test_default_fragment_storages_are_separate() -> None:
    mw = session(type="multi", a={"initial": lambda: 1}, b={"initial": lambda: 2})

    async def write(ctx: FakeContext) -> None:
        ctx.session.a = 10

    async def check(ctx: FakeContext) -> None:
        assert (ctx.session.a, ctx.session.b) == (10, 2)

    await run(mw, FakeContext(), write)
    await run(mw, FakeContext(), check)


async def test_nothing_is_written_when_the_handler_raises() -> None:
    a = RecordingStorage()
    mw = session(type="multi", a={"initial": dict, "storage": a})

    async def handler(ctx: FakeContext) -> None:
        ctx.session.a = {"x": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run(mw, FakeContext(), handler)
    assert a.calls == [("read", "42")]


async def test_assigning_none_to_the_session_deletes_every_fragment() -> None:
    a, b = RecordingStorage(), RecordingStorage()
    mw = session(type="multi", a={"storage": a}, b={"storage": b, "prefix": "b-"})

    async def handler(ctx: FakeContext) -> None:
        ctx.session = None

    await run(mw, FakeContext(), handler)
    assert a.calls == [("read", "42"), ("delete", "42")]
    assert b.calls == [("read", "b-42"), ("delete", "b-42")]


async def test_replacing_the_session_object_raises_type_error() -> None:
    mw = session(type="multi", a={})

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"a": 1}

    with pytest.raises(TypeError, match="cannot be replaced"):
        await run(mw, FakeContext(), handler)


async def test_only_the_keyless_fragment_raises_and_reading_the_session_never_does() -> None:
    user = RecordingStorage()
    mw = session(
        type="multi",
        chat={"initial": lambda: 1},
        user={"get_session_key": by_user, "storage": user},
    )

    async def handler(ctx: FakeContext) -> None:
        fragments = ctx.session
        assert fragments.chat == 1
        with pytest.raises(SessionKeyError) as error:
            _ = fragments.user
        assert "session fragment 'user'" in str(error.value)
        assert "by_user" in str(error.value)
        with pytest.raises(SessionKeyError):
            fragments.user = 5

    await run(mw, FakeContext(42, user_id=None), handler)
    assert user.calls == []


async def test_deleting_all_fragments_with_a_keyless_fragment_raises_and_changes_nothing() -> None:
    chat = RecordingStorage()
    mw = session(type="multi", chat={"storage": chat}, user={"get_session_key": by_user})

    async def handler(ctx: FakeContext) -> None:
        with pytest.raises(SessionKeyError):
            ctx.session = None

    await run(mw, FakeContext(42, user_id=None), handler)
    assert chat.calls == [("read", "42")]


async def test_a_multi_session_without_fragments_passes_updates_through() -> None:
    mw = session(type="multi")
    await run(mw, FakeContext(), nothing)


async def test_unknown_fragment_attributes_are_refused() -> None:
    mw = session(type="multi", a={})

    async def handler(ctx: FakeContext) -> None:
        with pytest.raises(AttributeError):
            ctx.session.b = 1
        assert "a" in repr(ctx.session)

    await run(mw, FakeContext(), handler)


def test_fragment_options_are_validated_at_construction() -> None:
    with pytest.raises(TypeError, match="fragment 'a'"):
        session(type="multi", a=5)
    with pytest.raises(TypeError, match="unknown option"):
        session(type="multi", a={"inital": dict})
    with pytest.raises(ValueError, match="identifier"):
        session(type="multi", _private={})


class _GatedStorage:
    """An async storage whose reads wait until ``expected`` reads are in flight at once."""

    def __init__(self, gate: dict[str, Any]) -> None:
        self.gate = gate

    async def read(self, key: str) -> Any:
        self.gate["in_flight"] += 1
        if self.gate["in_flight"] == self.gate["expected"]:
            self.gate["event"].set()
        async with asyncio.timeout(5):  # fails the test instead of hanging when sequential
            await self.gate["event"].wait()
        return {"key": key}

    async def write(self, key: str, value: Any) -> None:
        raise AssertionError("nothing changed, nothing is written")

    async def delete(self, key: str) -> None:
        raise AssertionError("nothing is deleted")


async def test_fragments_in_asynchronous_storages_are_read_concurrently() -> None:
    gate: dict[str, Any] = {"in_flight": 0, "expected": 3, "event": asyncio.Event()}
    fragments = {
        name: SessionOptions(storage=_GatedStorage(gate), prefix=f"{name}:")
        for name in ("a", "b", "c")
    }
    seen: list[Any] = []

    async def handler(ctx: FakeContext) -> None:
        seen.extend([ctx.session.a, ctx.session.b, ctx.session.c])

    await run(session(type="multi", **fragments), FakeContext(), handler)
    assert seen == [{"key": "a:42"}, {"key": "b:42"}, {"key": "c:42"}]


async def test_a_failed_concurrent_read_fails_the_update_after_every_read_ended() -> None:
    class Broken(_GatedStorage):
        async def read(self, key: str) -> Any:
            await super().read(key)
            raise OSError("storage is down")

    gate: dict[str, Any] = {"in_flight": 0, "expected": 2, "event": asyncio.Event()}
    healthy = _GatedStorage(gate)
    mw = session(type="multi", good={"storage": healthy}, bad={"storage": Broken(gate)})
    with pytest.raises(OSError, match="storage is down"):
        await run(mw, FakeContext(), nothing)
    assert gate["in_flight"] == 2
    # The key is free again: the next update of the same chat is not blocked.
    gate2: dict[str, Any] = {"in_flight": 0, "expected": 1, "event": asyncio.Event()}
    healthy.gate = gate2
    await run(session(type="multi", good={"storage": healthy}), FakeContext(), nothing)


async def test_async_key_functions_and_waiting_updates_still_lock_every_fragment() -> None:
    async def by_user_later(ctx: Any) -> str:
        await asyncio.sleep(0)
        return str(ctx.user_id)

    mw = session(
        type="multi",
        chat={"initial": lambda: {"n": 0}},
        user={"initial": lambda: {"n": 0}, "get_session_key": by_user_later},
    )

    async def bump_both(ctx: FakeContext) -> None:
        chat, user = ctx.session.chat["n"], ctx.session.user["n"]
        await asyncio.sleep(0)
        ctx.session.chat["n"] = chat + 1
        ctx.session.user["n"] = user + 1

    await asyncio.gather(*(run(mw, FakeContext(1, user_id=2), bump_both) for _ in range(50)))

    async def check(ctx: FakeContext) -> None:
        assert (ctx.session.chat, ctx.session.user) == ({"n": 50}, {"n": 50})

    await run(mw, FakeContext(1, user_id=2), check)


def _shared_storage(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":
        return MemorySessionStorage()
    if kind == "sqlite":
        return SQLiteStorage(tmp_path / "sessions.db")
    return FileStorage(tmp_path / "sessions")


async def _read(storage: Any, key: str) -> Any:
    value = storage.read(key)
    return await value if inspect.isawaitable(value) else value


@pytest.mark.parametrize("kind", ["memory", "sqlite", "files"])
async def test_two_fragments_on_one_key_of_one_storage_are_refused(
    kind: str, tmp_path: Path
) -> None:
    storage = _shared_storage(kind, tmp_path)
    mw = session(
        type="multi",
        chat={"initial": dict, "storage": storage},
        prefs={"initial": dict, "storage": storage},
    )
    handled = []

    async def handler(ctx: FakeContext) -> None:
        handled.append(ctx)
        ctx.session.chat["theme"] = "dark"
        ctx.session.prefs["lang"] = "en"

    try:
        refused = r"fragments 'chat' and 'prefs' resolve to the same key '42' in the same storage"
        with pytest.raises(ValueError, match=refused + r"; give them different prefixes"):
            await run(mw, FakeContext(), handler)
        assert handled == []  # refused at the update that resolved them, before the handler
        assert await _read(storage, "42") is None
        assert len(mw.manager.plans[0].locks) == 0  # type: ignore[arg-type]

        apart = session(
            type="multi",
            chat={"initial": dict, "storage": storage, "prefix": "chat:"},
            prefs={"initial": dict, "storage": storage, "prefix": "prefs:"},
        )
        await run(apart, FakeContext(), handler)
        assert await _read(storage, "chat:42") == {"theme": "dark"}
        assert await _read(storage, "prefs:42") == {"lang": "en"}
    finally:
        close = getattr(storage, "close", None)
        if close is not None:
            await close()
