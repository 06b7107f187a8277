"""Failures before or after the handler change nothing stored."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions import session
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, run, touch


async def test_a_raising_key_function_fails_the_update_before_any_storage_call() -> None:
    storage = RecordingStorage()
    reached = False

    def key(ctx: Any) -> str:
        raise LookupError("no key today")

    async def handler(ctx: FakeContext) -> None:
        nonlocal reached
        reached = True

    with pytest.raises(LookupError, match="no key today"):
        await run(session(get_session_key=key, storage=storage), FakeContext(), handler)
    assert storage.calls == []
    assert not reached


async def test_a_raising_storage_read_fails_the_update_and_writes_nothing() -> None:
    class Broken(RecordingStorage):
        async def read(self, key: str) -> Any:
            self.calls.append(("read", key))
            raise OSError("backend down")

    storage = Broken()
    with pytest.raises(OSError, match="backend down"):
        await run(session(initial=lambda: 1, storage=storage), FakeContext(), touch)
    assert storage.calls == [("read", "42")]


async def test_a_key_function_returning_a_non_string_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="must return a str"):
        await run(session(get_session_key=lambda c: 1.5), FakeContext(), touch)


async def test_the_lock_is_released_after_a_failed_read() -> None:
    fail = True

    class Flaky(RecordingStorage):
        async def read(self, key: str) -> Any:
            if fail:
                raise OSError("once")
            return await super().read(key)

    storage = Flaky()
    mw = session(initial=lambda: 1, storage=storage)
    with pytest.raises(OSError, match="once"):
        await run(mw, FakeContext(), touch)
    fail = False
    await run(mw, FakeContext(), touch)
    assert storage.calls[-1] == ("write", "42", 1)
