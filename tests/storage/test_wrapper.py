"""StorageWrapper: forwards every method, applies its hooks, and keeps the lock."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions import MemorySessionStorage, session
from botsessions.storage import StorageWrapper
from botsessions.storage._locking import LockingStorage
from tests.session_support import FakeContext, run
from tests.storage._fakes import FakeLockingStorage


class Tagged(StorageWrapper):
    """Stores every value as ``{"tagged": value}``."""

    def transform_in(self, key: str, value: Any) -> Any:
        return {"tagged": value}

    def transform_out(self, key: str, stored: Any) -> Any:
        return stored["tagged"]


class TestStorageWrapper:
    async def test_every_method_is_forwarded_to_a_sync_storage(self) -> None:
        inner = MemorySessionStorage[Any]()
        storage = StorageWrapper(inner)
        await storage.write("a", {"n": 1})
        assert inner.read("a") == {"n": 1}
        assert await storage.read("a") == {"n": 1}
        assert await storage.read("missing") is None
        assert await storage.has("a")
        assert not await storage.has("missing")
        assert [k async for k in storage.read_all_keys()] == ["a"]
        assert [v async for v in storage.read_all_values()] == [{"n": 1}]
        assert [e async for e in storage.read_all_entries()] == [("a", {"n": 1})]
        await storage.delete("a")
        assert inner.read("a") is None

    async def test_the_hooks_apply_to_reads_writes_and_enumeration(self) -> None:
        inner = MemorySessionStorage[Any]()
        storage = Tagged(inner)
        await storage.write("a", 1)
        assert inner.read("a") == {"tagged": 1}
        assert await storage.read("a") == 1
        assert [e async for e in storage.read_all_entries()] == [("a", 1)]
        assert [v async for v in storage.read_all_values()] == [1]

    async def test_a_storage_with_only_read_all_keys_still_lists_entries(self) -> None:
        class KeysOnly:
            def __init__(self) -> None:
                self.data = {"a": 1}

            def read(self, key: str) -> Any:
                return self.data.get(key)

            def write(self, key: str, value: Any) -> None:
                self.data[key] = value

            def delete(self, key: str) -> None:
                self.data.pop(key, None)

            def read_all_keys(self) -> list[str]:
                return list(self.data)

        storage = StorageWrapper(KeysOnly())
        assert [e async for e in storage.read_all_entries()] == [("a", 1)]
        assert await storage.has("a")  # no has(): answered by a read

    async def test_a_storage_that_cannot_enumerate_says_so(self) -> None:
        class Plain:
            def read(self, key: str) -> Any:
                return None

            def write(self, key: str, value: Any) -> None: ...

            def delete(self, key: str) -> None: ...

        with pytest.raises(TypeError, match="cannot list its sessions"):
            [e async for e in StorageWrapper(Plain()).read_all_entries()]

    def test_a_storage_without_read_write_delete_is_refused(self) -> None:
        with pytest.raises(TypeError, match="has no read"):
            StorageWrapper(object())

    def test_only_a_wrapper_of_a_locking_storage_offers_the_lock(self) -> None:
        plain = Tagged(MemorySessionStorage())
        locking = Tagged(FakeLockingStorage())
        assert not isinstance(plain, LockingStorage)
        assert not hasattr(plain, "acquire")
        assert isinstance(locking, LockingStorage)
        assert isinstance(locking, Tagged)
        assert type(locking).__name__ == "Tagged"
        assert type(Tagged(FakeLockingStorage())) is type(locking)  # built once per class
        assert isinstance(StorageWrapper(locking), LockingStorage)  # wrappers of wrappers

    async def test_the_lease_applies_the_hooks_and_forwards_keep(self) -> None:
        inner = FakeLockingStorage()
        inner.data["k"] = {"tagged": 1}
        storage = Tagged(inner)
        lease = await storage.acquire(  # type: ignore[attr-defined]  # the locking twin
            "k", read=True
        )
        assert lease.value == 1
        await lease.write(2, keep=True)
        assert lease.value == 2
        await lease.delete(keep=True)
        assert lease.value is None
        await lease.write(3)
        await lease.release()
        assert inner.calls == [
            ("acquire", "k", True),
            ("write", "k", {"tagged": 2}, True),
            ("delete", "k", True),
            ("write", "k", {"tagged": 3}, False),
            ("release", "k"),
        ]
        assert inner.data["k"] == {"tagged": 3}

    async def test_a_lease_whose_value_cannot_be_opened_is_released(self) -> None:
        inner = FakeLockingStorage()
        inner.data["k"] = {"not tagged": 1}
        with pytest.raises(KeyError):
            await Tagged(inner).acquire("k", read=True)  # type: ignore[attr-defined]
        assert inner.calls == [("acquire", "k", True), ("release", "k")]

    async def test_sessions_lock_through_the_wrapper(self) -> None:
        inner = FakeLockingStorage()
        mw = session(initial=lambda: {"n": 0}, storage=Tagged(inner))

        async def bump(ctx: FakeContext) -> None:
            ctx.session["n"] += 1

        await run(mw, FakeContext(), bump)
        assert inner.calls == [
            ("acquire", "42", True),
            ("write", "42", {"tagged": {"n": 1}}, False),
        ]

    async def test_close_and_async_with_close_the_wrapped_storage(self) -> None:
        closed: list[str] = []

        class Closing(MemorySessionStorage[Any]):
            async def close(self) -> None:
                closed.append("closed")

        async with StorageWrapper(Closing()) as storage:
            await storage.write("k", 1)
        assert closed == ["closed"]
        await StorageWrapper(MemorySessionStorage()).close()  # nothing to close: fine
