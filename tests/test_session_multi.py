"""session(type="multi"): independent fragments under ctx.session.<name>."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions import SessionKeyError, SessionOptions, session
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
