"""The engine with a storage that offers leases (the lock capability), plus option checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botsessions import LeaseLostError, SessionOptions, lazy_session, session
from botsessions.storage._protocol import LockingStorage
from tests.session_support import FakeContext, nothing, run, touch


class FakeLease:
    def __init__(self, owner: FakeLockingStorage, key: str, value: Any) -> None:
        self.owner, self.key, self.value = owner, key, value

    async def write(self, value: Any) -> None:
        self.owner.calls.append(("lease.write", self.key, value))
        if self.owner.lose:
            raise LeaseLostError("lost", key=self.key)
        self.owner.data[self.key] = value

    async def delete(self) -> None:
        self.owner.calls.append(("lease.delete", self.key))
        self.owner.data.pop(self.key, None)

    async def release(self) -> None:
        self.owner.calls.append(("lease.release", self.key))


class FakeLockingStorage:
    """A storage with the lock capability that records every call (fault injection)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.lose = False

    async def acquire(self, key: str, *, read: bool) -> FakeLease:
        self.calls.append(("acquire", key, read))
        return FakeLease(self, key, self.data.get(key) if read else None)

    async def read(self, key: str) -> Any:
        self.calls.append(("read", key))
        return self.data.get(key)

    async def write(self, key: str, value: Any) -> None:
        self.calls.append(("write", key, value))
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        self.data.pop(key, None)


def test_the_fake_satisfies_the_lock_protocol() -> None:
    assert isinstance(FakeLockingStorage(), LockingStorage)


async def test_a_changed_strict_session_costs_acquire_then_lease_write() -> None:
    storage = FakeLockingStorage()
    await run(session(initial=lambda: 1, storage=storage), FakeContext(), touch)
    assert storage.calls == [("acquire", "42", True), ("lease.write", "42", 1)]


async def test_an_unchanged_session_releases_the_lease() -> None:
    storage = FakeLockingStorage()
    storage.data["42"] = 5
    await run(session(storage=storage), FakeContext(), touch)
    assert storage.calls == [("acquire", "42", True), ("lease.release", "42")]


async def test_a_deleted_session_uses_lease_delete() -> None:
    storage = FakeLockingStorage()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = None

    await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("acquire", "42", True), ("lease.delete", "42")]


async def test_a_failed_handler_releases_the_lease_and_writes_nothing() -> None:
    storage = FakeLockingStorage()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("acquire", "42", True), ("lease.release", "42")]


async def test_a_session_read_as_none_and_left_alone_releases_the_lease() -> None:
    storage = FakeLockingStorage()
    await run(session(storage=storage), FakeContext(), touch)  # no initial: reads None
    assert storage.calls == [("acquire", "42", True), ("lease.release", "42")]


async def test_a_value_that_cannot_be_saved_still_releases_the_lease() -> None:
    storage = FakeLockingStorage()

    async def handler(ctx: FakeContext) -> None:
        ctx.session = {"when": object()}

    with pytest.raises(TypeError, match="not JSON"):
        await run(session(storage=storage), FakeContext(), handler)
    assert storage.calls == [("acquire", "42", True), ("lease.release", "42")]


async def test_a_lost_lease_fails_the_update() -> None:
    storage = FakeLockingStorage()
    storage.lose = True
    with pytest.raises(LeaseLostError):
        await run(session(initial=lambda: 1, storage=storage), FakeContext(), touch)
    assert 1 not in storage.data.values()


async def test_lazy_sessions_acquire_on_first_access_or_at_the_end_when_only_assigned() -> None:
    storage = FakeLockingStorage()
    mw = lazy_session(initial=lambda: 0, storage=storage)
    await run(mw, FakeContext(), nothing)
    assert storage.calls == []

    async def read(ctx: FakeContext) -> None:
        assert await ctx.session == 0

    await run(mw, FakeContext(), read)
    assert storage.calls == [("acquire", "42", True), ("lease.write", "42", 0)]
    storage.calls.clear()

    async def assign(ctx: FakeContext) -> None:
        ctx.session = 9

    await run(mw, FakeContext(), assign)
    assert storage.calls == [("acquire", "42", False), ("lease.write", "42", 9)]


async def test_locking_false_uses_plain_reads_and_writes() -> None:
    storage = FakeLockingStorage()
    await run(session(initial=lambda: 1, storage=storage, locking=False), FakeContext(), touch)
    assert storage.calls == [("read", "42"), ("write", "42", 1)]


async def test_multi_fragments_take_leases_in_sorted_key_order() -> None:
    storage = FakeLockingStorage()
    mw = session(
        type="multi",
        z={"storage": storage, "prefix": "z-"},
        a={"storage": storage, "prefix": "a-"},
    )
    await run(mw, FakeContext(), nothing)
    assert storage.calls[:2] == [("acquire", "a-42", True), ("acquire", "z-42", True)]


async def test_multi_fragments_sharing_a_key_in_a_locking_storage_are_refused() -> None:
    storage = FakeLockingStorage()
    mw = session(type="multi", a={"storage": storage}, b={"storage": storage})
    with pytest.raises(ValueError, match="different prefixes"):
        await run(mw, FakeContext(), nothing)
    assert storage.calls == []  # refused before any lock was taken


async def test_a_cancelled_update_releases_its_lease() -> None:
    storage = FakeLockingStorage()
    inside = asyncio.Event()

    async def handler(ctx: FakeContext) -> None:
        inside.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run(session(storage=storage), FakeContext(), handler))
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert storage.calls[-1] == ("lease.release", "42")


class TestOptions:
    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"initial": 5}, TypeError),
            ({"prefix": 1}, TypeError),
            ({"get_session_key": "chat"}, TypeError),
            ({"storage": object()}, TypeError),
            ({"locking": "yes"}, TypeError),
            ({"lock_timeout": 0}, ValueError),
            ({"type": "double"}, ValueError),
            ({"unknown": 1}, TypeError),
        ],
    )
    def test_bad_options_fail_when_the_session_is_built(
        self, options: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            session(**options)

    def test_a_class_needing_arguments_is_refused_as_initial(self) -> None:
        class Needs:
            def __init__(self, x: int) -> None:
                self.x = x

        with pytest.raises(TypeError, match="cannot be called without arguments"):
            SessionOptions(initial=Needs)

    def test_session_options_are_frozen(self) -> None:
        options = SessionOptions(prefix="a")
        with pytest.raises(AttributeError):
            options.prefix = "b"  # type: ignore[misc]
