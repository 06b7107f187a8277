"""Built-in key strategies read only the KeyContext attributes."""

from __future__ import annotations

import pytest

from botsessions import keys, session
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, run, touch


def ctx(
    chat: int | None = -100, user: int | None = 7, thread: int | None = None, bc: str | None = None
) -> FakeContext:
    return FakeContext(chat, user_id=user, thread_id=thread, business_connection_id=bc)


@pytest.mark.parametrize(
    ("strategy", "context", "expected"),
    [
        (keys.per_chat, ctx(), "-100"),
        (keys.per_chat, ctx(chat=None), None),
        (keys.per_user, ctx(), "7"),
        (keys.per_user, ctx(user=None), None),
        (keys.per_user_in_chat, ctx(), "-100:7"),
        (keys.per_user_in_chat, ctx(user=None), None),
        (keys.per_topic, ctx(thread=5), "-100/5"),
        (keys.per_topic, ctx(), "-100"),
        (keys.per_topic, ctx(chat=None), None),
        (keys.per_user_in_topic, ctx(thread=5), "-100/5:7"),
        (keys.per_user_in_topic, ctx(), "-100:7"),
        (keys.per_user_in_topic, ctx(chat=None), None),
        (keys.per_business_chat, ctx(bc="abc"), "abc:-100"),
        (keys.per_business_chat, ctx(), "-100"),
        (keys.per_business_chat, ctx(chat=None, bc="abc"), None),
    ],
)
def test_strategy_gives_the_documented_key(
    strategy: object, context: FakeContext, expected: str | None
) -> None:
    assert strategy(context) == expected  # type: ignore[operator]


async def test_a_strategy_plugs_into_session() -> None:
    storage = RecordingStorage()
    await run(session(initial=dict, get_session_key=keys.per_user, storage=storage), ctx(), touch)
    assert storage.calls == [("read", "7"), ("write", "7", {})]
