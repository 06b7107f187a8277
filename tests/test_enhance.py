"""enhance_storage(): grammY's wrapper format, numeric migrations, expiry."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions import (
    CorruptDataError,
    MemorySessionStorage,
    MigrationError,
    enhance_storage,
    session,
)
from botsessions.storage._locking import LockingStorage
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, run
from tests.storage._fakes import FakeLockingStorage


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr("time.time", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


async def test_without_options_values_are_wrapped_in_d() -> None:
    inner = MemorySessionStorage[Any]()
    storage = enhance_storage(storage=inner)
    await storage.write("k", {"__d": 42})
    assert inner.read("k") == {"__d": {"__d": 42}}
    assert await storage.read("k") == {"__d": 42}


async def test_legacy_values_without_d_are_read_as_they_are() -> None:
    inner = MemorySessionStorage[Any]()
    inner.write("k", {"count": 3})
    storage = enhance_storage(storage=inner)
    assert await storage.read("k") == {"count": 3}
    assert await storage.read("missing") is None


def test_an_empty_migrations_dict_is_refused() -> None:
    with pytest.raises(ValueError, match="No migrations given!"):
        enhance_storage(storage=MemorySessionStorage(), migrations={})


async def test_migrations_run_in_numeric_order_from_the_stored_version() -> None:
    inner = MemorySessionStorage[Any]()
    ran: list[float] = []

    def step(version: float) -> Any:
        def migrate(data: list[float]) -> list[float]:
            ran.append(version)
            return [*data, version]

        return migrate

    versions = [10.1, 2, 1.5, 10, 1]
    storage = enhance_storage(storage=inner, migrations={v: step(v) for v in versions})
    inner.write("legacy", [])
    assert await storage.read("legacy") == [1, 1.5, 2, 10, 10.1]
    inner.write("at10", {"__d": [], "v": 10})
    assert await storage.read("at10") == [10.1]
    inner.write("at8", {"__d": [], "v": 8})
    assert await storage.read("at8") == [10, 10.1]
    inner.write("newer", {"__d": [], "v": 99})
    assert await storage.read("newer") == []


async def test_async_migrations_are_awaited_and_new_data_gets_the_latest_version() -> None:
    inner = MemorySessionStorage[Any]()

    async def double(data: int) -> int:
        return data * 2

    storage = enhance_storage(storage=inner, migrations={1: double, 2: lambda d: d + 1})
    inner.write("k", 5)
    assert await storage.read("k") == 11
    await storage.write("k", 11)
    assert inner.read("k") == {"__d": 11, "v": 2}


async def test_a_missing_session_runs_no_migration() -> None:
    def boom(data: Any) -> Any:
        raise AssertionError("must not run")

    storage = enhance_storage(storage=MemorySessionStorage(), migrations={1: boom})
    assert await storage.read("k") is None


async def test_a_failing_migration_names_key_and_version_and_changes_nothing() -> None:
    inner = RecordingStorage()
    inner.storage.write("k", {"__d": 1, "v": 1})

    def boom(data: Any) -> Any:
        raise KeyError("x")

    storage = enhance_storage(storage=inner, migrations={1: lambda d: d, 2.5: boom}, ttl=60)
    mw = session(storage=storage, get_session_key=lambda c: "k")

    async def handler(ctx: FakeContext) -> None:
        raise AssertionError("not reached")

    with pytest.raises(MigrationError) as error:
        await run(mw, FakeContext(), handler)
    assert error.value.key == "k"
    assert error.value.version == 2.5
    assert inner.calls == [("read", "k")]
    assert inner.storage.read("k") == {"__d": 1, "v": 1}


async def test_expired_data_reads_as_none_and_is_deleted(clock: Clock) -> None:
    inner = RecordingStorage()
    storage = enhance_storage(storage=inner, ttl=10)
    await storage.write("k", 1)
    assert inner.storage.read("k") == {"__d": 1, "e": int((clock.now + 10) * 1000)}
    clock.now += 11
    assert not await storage.has("k")
    assert [k async for k in storage.read_all_keys()] == []
    inner.clear()
    assert await storage.read("k") is None
    assert inner.calls == [("read", "k"), ("delete", "k")]


async def test_legacy_data_gets_an_expiry_on_first_read(clock: Clock) -> None:
    inner = MemorySessionStorage[Any]()
    inner.write("k", 0)
    storage = enhance_storage(storage=inner, ttl=5, migrations={1: lambda d: d + 1})
    assert await storage.read("k") == 1
    assert inner.read("k") == {"__d": 0, "e": int((clock.now + 5) * 1000)}
    clock.now += 6
    assert await storage.read("k") is None


async def test_has_and_read_all_yield_unwrapped_migrated_values(clock: Clock) -> None:
    inner = MemorySessionStorage[Any]()
    storage = enhance_storage(storage=inner, migrations={1: lambda d: d * 10}, ttl=100)
    inner.write("legacy", 1)
    await storage.write("fresh", 5)
    assert await storage.has("legacy")
    assert sorted([e async for e in storage.read_all_entries()]) == [("fresh", 5), ("legacy", 10)]
    assert sorted([v async for v in storage.read_all_values()]) == [5, 10]
    assert sorted([k async for k in storage.read_all_keys()]) == ["fresh", "legacy"]


async def test_enhanced_sessions_round_trip_through_session() -> None:
    inner = MemorySessionStorage[Any]()
    storage = enhance_storage(storage=inner, migrations={1: lambda d: {"count": d}})
    inner.write("42", 7)  # data from before the migration
    mw = session(initial=lambda: {"count": 0}, storage=storage)

    async def bump(ctx: FakeContext) -> None:
        ctx.session["count"] += 1

    await run(mw, FakeContext(), bump)
    assert inner.read("42") == {"__d": {"count": 8}, "v": 1}


def test_the_lock_capability_is_forwarded_only_when_present() -> None:
    assert not isinstance(enhance_storage(storage=MemorySessionStorage()), LockingStorage)

    class Locking(MemorySessionStorage[Any]):
        async def acquire(self, key: str, *, read: bool) -> Any:
            raise NotImplementedError

    assert isinstance(enhance_storage(storage=Locking()), LockingStorage)


@pytest.mark.parametrize("versions", [{True: str}, {"one": str}, {float("inf"): str}])
def test_migration_versions_must_be_finite_numbers(versions: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        enhance_storage(storage=MemorySessionStorage(), migrations=versions)


def test_duplicate_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        enhance_storage(storage=MemorySessionStorage(), migrations={1: str, "1.0": str})  # type: ignore[dict-item]


class TestStoredDataIsNeverLost:
    """Issue 18, rows 5, 6 and 13: bad migrations and foreign data fail loudly."""

    async def test_a_migration_returning_none_raises_and_leaves_the_data(self) -> None:
        inner = RecordingStorage()
        inner.storage.write("k", {"__d": {"count": 7}, "v": 1})

        def forgot_return(data: Any) -> Any:
            data["history"] = []

        storage = enhance_storage(storage=inner, migrations={1: str, 2: forgot_return})
        mw = session(initial=lambda: {"count": 0}, storage=storage, get_session_key=lambda c: "k")

        async def handler(ctx: FakeContext) -> None:
            raise AssertionError("the session must not read as missing")

        with pytest.raises(MigrationError, match="returned None") as error:
            await run(mw, FakeContext(), handler)
        assert (error.value.key, error.value.version) == ("k", 2)
        assert "'k'" in str(error.value)
        assert inner.calls == [("read", "k")]
        assert inner.storage.read("k") == {"__d": {"count": 7}, "v": 1}

    async def test_data_newer_than_every_migration_keeps_its_version(self) -> None:
        inner = MemorySessionStorage[Any]()
        inner.write("42", {"__d": {"count": 1, "new_field": True}, "v": 3})
        storage = enhance_storage(storage=inner, migrations={1: lambda d: d, 2: lambda d: d})
        mw = session(initial=lambda: {"count": 0}, storage=storage)

        async def bump(ctx: FakeContext) -> None:
            ctx.session["count"] += 1

        await run(mw, FakeContext(), bump)
        assert inner.read("42") == {"__d": {"count": 2, "new_field": True}, "v": 3}
        await run(mw, FakeContext(7), bump)  # a new session gets this code's version
        assert inner.read("7") == {"__d": {"count": 1}, "v": 2}

    async def test_a_version_is_kept_when_there_are_no_migrations(self) -> None:
        inner = MemorySessionStorage[Any]()
        inner.write("k", {"__d": 1, "v": 5})
        storage = enhance_storage(storage=inner, ttl=60)
        assert await storage.read("k") == 1
        await storage.write("k", 2)
        stored = inner.read("k")
        assert stored is not None
        assert (stored["__d"], stored["v"]) == (2, 5)

    async def test_an_older_version_is_upgraded_as_before(self) -> None:
        inner = MemorySessionStorage[Any]()
        storage = enhance_storage(storage=inner, migrations={1: lambda d: d, 2: lambda d: d + 1})
        inner.write("k", {"__d": 1, "v": 1})
        assert await storage.read("k") == 2
        await storage.write("k", 2)
        assert inner.read("k") == {"__d": 2, "v": 2}

    async def test_a_newer_version_is_kept_under_a_lease_too(self) -> None:
        inner = FakeLockingStorage()
        inner.data["k"] = {"__d": {"n": 1}, "v": 9}
        storage = enhance_storage(storage=inner, migrations={1: lambda d: d})
        lease = await storage.acquire("k", read=True)
        assert lease.value == {"n": 1}
        await lease.write({"n": 2}, keep=True)
        await lease.write({"n": 3})
        assert inner.data["k"] == {"__d": {"n": 3}, "v": 9}

    @pytest.mark.parametrize("expiry", ["soon", [1], {"at": 1}, True])
    async def test_a_non_numeric_expiry_is_corrupt_data_naming_the_key(self, expiry: Any) -> None:
        inner = MemorySessionStorage[Any]()
        inner.write("k", {"__d": {"n": 1}, "e": expiry})
        storage = enhance_storage(storage=inner, ttl=60)
        with pytest.raises(CorruptDataError, match="'k'") as error:
            await storage.read("k")
        assert error.value.key == "k"
        with pytest.raises(CorruptDataError):
            await storage.has("k")
        with pytest.raises(CorruptDataError):
            [e async for e in storage.read_all_entries()]
        assert inner.read("k") == {"__d": {"n": 1}, "e": expiry}

    async def test_a_non_numeric_version_is_corrupt_data_naming_the_key(self) -> None:
        inner = MemorySessionStorage[Any]()
        inner.write("k", {"__d": 1, "v": "2"})
        storage = enhance_storage(storage=inner, migrations={1: lambda d: d})
        with pytest.raises(CorruptDataError, match="'k'"):
            await storage.read("k")
        assert inner.read("k") == {"__d": 1, "v": "2"}
