"""The conformance cases for ``ttl``: expired sessions are invisible, expiry follows writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Literal

import pytest

from botsessions.testing._conformance_harness import (
    ConformanceHarness,
    Make,
    StorageFactory,
    await_,
    collect,
    with_storages,
)

__all__ = ["ExpiryCases"]


class _Clock:
    """A stand-in for ``time.time`` that moves only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class ExpiryCases(ConformanceHarness):
    """Mixed into ``StorageConformance``: the ``ttl_clock`` and ``server_ttl`` cases."""

    ttl_clock: ClassVar[Literal["time", "server"] | None] = None
    server_ttl: ClassVar[float] = 1.0

    def test_expired_sessions_are_invisible(
        self, make_storage: StorageFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if self.ttl_clock == "server":
            self._expire_on_server(make_storage)
            return
        if self.ttl_clock != "time":
            pytest.skip("the storage does not declare ttl support")
        clock = _Clock()
        monkeypatch.setattr(time, "time", clock)

        async def body(make: Make) -> None:
            storage = await make(ttl=60)
            await await_(storage.write("k", {"v": 1}))
            clock.now += 59
            assert await await_(storage.read("k")) == {"v": 1}
            await await_(storage.write("other", 2))  # written at +59: lives until +119
            clock.now += 2
            assert await await_(storage.read("k")) is None
            await self._assert_only_key(storage, "other", 2)

        self._run(make_storage, body)

    @with_storages("make_storage")
    async def test_ttl_counts_from_the_last_write(
        self, make: Make, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if self.ttl_clock != "time":
            pytest.skip("needs a storage whose expiry follows time.time()")
        clock = _Clock()
        monkeypatch.setattr(time, "time", clock)

        storage = await make(ttl=60)
        await await_(storage.write("k", 1))
        clock.now += 50
        await await_(storage.write("k", 2))
        clock.now += 50
        assert await await_(storage.read("k")) == 2
        clock.now += 11
        assert await await_(storage.read("k")) is None

    def _expire_on_server(self, make_storage: StorageFactory) -> None:
        async def body(make: Callable[..., Awaitable[Any]]) -> None:
            storage = await make(ttl=self.server_ttl)
            permanent = await make()
            await await_(permanent.write("other", 2))
            await await_(storage.write("k", {"v": 1}))
            assert await await_(storage.read("k")) == {"v": 1}
            deadline = time.monotonic() + self.server_ttl + 10
            while await await_(storage.read("k")) is not None:
                assert time.monotonic() < deadline, "the session never expired"
                await asyncio.sleep(0.05)
            await self._assert_only_key(storage, "other", 2)

        self._run(make_storage, body)

    @staticmethod
    async def _assert_only_key(storage: Any, key: str, value: Any) -> None:
        if callable(getattr(storage, "has", None)):
            assert await await_(storage.has("k")) is False
        if callable(getattr(storage, "read_all_keys", None)):
            assert await collect(storage.read_all_keys()) == [key]
            assert await collect(storage.read_all_values()) == [value]
            assert await collect(storage.read_all_entries()) == [(key, value)]
