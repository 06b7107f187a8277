"""The harness of the locking suite: its settings, backend hooks and event loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import select
from typing import Any, ClassVar

import pytest

from botsessions.storage._locking import SessionLease
from botsessions.testing._conformance_harness import Body, Make
from botsessions.testing._locking_worker import LockingStorageSpec, build_storage, popen

__all__ = ["Body", "LockingHarness", "Make"]


class LockingHarness:
    """The class attributes, hooks and harness of ``LockingConformance``."""

    lease: ClassVar[float] = 1.0
    processes: ClassVar[int] = 3
    increments: ClassVar[int] = 50
    prompt: ClassVar[float] = 5.0

    @pytest.fixture
    def locking_storage(self) -> LockingStorageSpec:
        """Override: return the ``LockingStorageSpec`` of a fresh, empty namespace."""
        raise NotImplementedError("define a locking_storage fixture returning a spec")

    async def count_waiters(self, spec: LockingStorageSpec, key: str) -> int | None:
        """Override: how many acquirers wait for ``key``; ``None`` when unknown."""
        return None

    async def lose_leases(self, spec: LockingStorageSpec, keys: list[str]) -> None:
        """Make the held leases of ``keys`` lost (default: a worker takes them over)."""
        worker = popen("take", spec, lease=self.lease, keys=keys)
        assert worker.stdout is not None
        # Blocking the event loop on purpose: this process cannot renew its leases.
        ready, _, _ = select.select([worker.stdout], [], [], self.lease * 10 + 10)
        assert ready, "a worker could not take over leases that were not renewed"
        line = worker.stdout.readline()
        _, err = worker.communicate(timeout=30)
        assert line.strip() == b"taken", err.decode()

    # -- harness -----------------------------------------------------------------------------

    def _run(self, spec: LockingStorageSpec, body: Body) -> None:
        async def main() -> None:
            made: list[Any] = []

            async def make(*, lease: float | None = None) -> Any:
                storage = await build_storage(spec.factory, spec.options, lease)
                made.append(storage)
                return storage

            try:
                await body(make)
            except BaseException:
                # A failed test may leave a lease held, and some storages' close() waits
                # for it: report the failure, not a hang.
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.prompt):
                        await _close_all(made)
                raise
            await _close_all(made)

        asyncio.run(main())

    async def _until_waiting(self, spec: LockingStorageSpec, key: str, count: int) -> bool:
        """Wait until ``count`` acquirers are in line; ``False`` if that cannot be told."""
        if await self.count_waiters(spec, key) is None:
            return False
        async with asyncio.timeout(self.prompt):
            while await self.count_waiters(spec, key) != count:  # noqa: ASYNC110
                await asyncio.sleep(0.005)  # polling the backend: there is no event to wait on
        return True

    async def _acquire_promptly(self, storage: Any, key: str) -> SessionLease:
        async with asyncio.timeout(self.prompt):
            lease: SessionLease = await storage.acquire(key, read=True)
        return lease

    async def _acquire_once_expired(self, storage: Any, *, read: bool = True) -> SessionLease:
        """Acquire ``"chat"`` within the time a lease left behind takes to expire."""
        async with asyncio.timeout(self.lease * 2 + self.prompt):
            lease: SessionLease = await storage.acquire("chat", read=read)
        return lease

    @staticmethod
    async def _commit(storage: Any, key: str, lease: SessionLease, value: Any) -> None:
        """End ``lease`` with a write of ``value`` and check that ``storage`` reads it back."""
        await lease.write(value)
        assert await storage.read(key) == value


async def _close_all(storages: list[Any]) -> None:
    for storage in storages:
        close = getattr(storage, "close", None)
        if callable(close):
            result = close()
            if inspect.isawaitable(result):
                await result
