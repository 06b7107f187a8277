"""FailingStorage and SlowStorage: injected failures and delays around a real storage."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest

from botsessions._errors import StorageError
from botsessions.storage import MemorySessionStorage
from botsessions.testing.conformance import StorageConformance, StorageFactory
from botsessions.testing.faults import FailingStorage, SlowStorage


class TestFailingStorage:
    async def test_the_chosen_call_fails_and_the_others_reach_the_storage(self) -> None:
        storage = FailingStorage(MemorySessionStorage(), fail_on={"write": [2]})
        await storage.write("a", 1)
        with pytest.raises(StorageError, match="injected failure of write"):
            await storage.write("b", 2)
        await storage.write("c", 3)
        assert [await storage.read(k) for k in "abc"] == [1, None, 3]
        assert storage.calls["write"] == 3
        assert storage.failures == [("write", "b")]

    async def test_always_fails_every_call_of_that_method(self) -> None:
        storage = FailingStorage(MemorySessionStorage(), fail_on={"read": "always"})
        await storage.write("a", 1)
        for _ in range(3):
            with pytest.raises(StorageError):
                await storage.read("a")

    async def test_a_custom_error_is_raised(self) -> None:
        storage = FailingStorage(
            MemorySessionStorage(),
            fail_on={"delete": [1]},
            error=lambda method, key: ConnectionError(f"{method} {key}"),
        )
        with pytest.raises(ConnectionError, match="delete k"):
            await storage.delete("k")

    async def test_enumeration_can_fail_too(self) -> None:
        storage = FailingStorage(MemorySessionStorage(), fail_on={"read_all_keys": [1]})
        await storage.write("a", 1)
        with pytest.raises(StorageError):
            _ = [key async for key in storage.read_all_keys()]
        assert [key async for key in storage.read_all_keys()] == ["a"]

    def test_unknown_methods_and_call_numbers_below_one_are_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown method 'get'"):
            FailingStorage(MemorySessionStorage(), fail_on={"get": [1]})
        with pytest.raises(ValueError, match="start at 1"):
            FailingStorage(MemorySessionStorage(), fail_on={"read": [0]})

    async def test_it_wraps_sync_adapters(self) -> None:
        class Sync:
            def __init__(self) -> None:
                self.data: dict[str, Any] = {}

            def read(self, key: str) -> Any:
                return self.data.get(key)

            def write(self, key: str, value: Any) -> None:
                self.data[key] = value

            def delete(self, key: str) -> None:
                self.data.pop(key, None)

        storage = FailingStorage(Sync(), fail_on={})
        await storage.write("k", [1])
        assert await storage.read("k") == [1]


class TestSlowStorage:
    async def test_calls_wait_at_the_gate_until_it_opens(self) -> None:
        gate = asyncio.Event()
        storage = SlowStorage(MemorySessionStorage(), gate=gate)
        write = asyncio.create_task(storage.write("k", 1))
        await storage.entered.wait()
        assert storage.waiting == 1
        assert storage.wrapped.read("k") is None
        gate.set()
        await write
        assert storage.waiting == 0
        assert await storage.read("k") == 1

    async def test_a_cancelled_call_never_reaches_the_storage(self) -> None:
        storage = SlowStorage(MemorySessionStorage(), gate=asyncio.Event())
        write = asyncio.create_task(storage.write("k", 1))
        await storage.entered.wait()
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        assert storage.waiting == 0
        assert storage.wrapped.read("k") is None

    def test_a_negative_delay_is_refused(self) -> None:
        with pytest.raises(ValueError, match="delay"):
            SlowStorage(MemorySessionStorage(), delay=-1)


class TestFailingStorageConformance(StorageConformance):
    """A wrapper that injects nothing behaves exactly like the storage it wraps."""

    ttl_clock = "time"
    error_type = StorageError

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return lambda ttl=None: FailingStorage(MemorySessionStorage(ttl=ttl), fail_on={})

    @pytest.fixture
    def make_broken_storage(self) -> StorageFactory:
        methods = ["read", "write", "delete", "has", "read_all_keys", "read_all_entries"]
        every: dict[str, Literal["always"]] = dict.fromkeys(methods, "always")
        return lambda: FailingStorage(MemorySessionStorage(), fail_on=every)
