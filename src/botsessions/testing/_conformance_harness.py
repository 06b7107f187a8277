"""The harness of the storage conformance suite: one event loop per test, sync or async."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from botsessions.storage._wrapper import collect
from botsessions.storage._wrapper import maybe_await as await_

__all__ = ["Body", "ConformanceHarness", "StorageFactory", "await_", "collect"]

#: Makes a fresh, empty storage (or an awaitable of one). Keyword ``ttl`` (seconds) is passed
#: only when the class sets ``ttl_clock``, ``namespace`` only with ``supports_namespaces``.
StorageFactory = Callable[..., Any]


Body = Callable[[Callable[..., Awaitable[Any]]], Awaitable[None]]


class ConformanceHarness:
    """Runs a test body in its own event loop, closing every storage it made."""

    @staticmethod
    def _run(factory: StorageFactory, body: Body) -> None:
        async def main() -> None:
            made: list[Any] = []

            async def make(**options: Any) -> Any:
                storage = await await_(factory(**options))
                made.append(storage)
                return storage

            try:
                await body(make)
            finally:
                for storage in made:
                    close = getattr(storage, "close", None)
                    if callable(close):
                        await await_(close())

        asyncio.run(main())

    @staticmethod
    def _require(storage: Any, *methods: str) -> None:
        for method in methods:
            if not callable(getattr(storage, method, None)):
                pytest.skip(f"{type(storage).__name__} has no {method}()")
