"""The harness of the storage conformance suite: one event loop per test, sync or async."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from botsessions.storage._wrapper import collect
from botsessions.storage._wrapper import maybe_await as await_

__all__ = [
    "Body",
    "ConformanceHarness",
    "Make",
    "StorageFactory",
    "await_",
    "collect",
    "with_storages",
]

#: Makes a fresh, empty storage (or an awaitable of one). Keyword ``ttl`` (seconds) is passed
#: only when the class sets ``ttl_clock``, ``namespace`` only with ``supports_namespaces``.
StorageFactory = Callable[..., Any]


#: Builds a storage for one test (``make(**options)``); the harness closes it afterwards.
Make = Callable[..., Awaitable[Any]]
Body = Callable[[Make], Awaitable[None]]
AsyncTest = Callable[..., Awaitable[None]]


def with_storages(fixture: str) -> Callable[[AsyncTest], Callable[..., None]]:
    """Make ``async def test_x(self, make, ...)`` a pytest test of the kit.

    The test runs in its own event loop through the class's ``_run``, which closes every
    storage ``make(**options)`` built; pytest passes ``fixture`` (the storage factory or
    spec) to ``_run``, and to the test too when it asks for it by name, with any other
    fixture the test names.
    """

    def decorate(test: AsyncTest) -> Callable[..., None]:
        params = list(inspect.signature(test).parameters.values())
        wants_fixture = any(param.name == fixture for param in params)
        others = [param for param in params[2:] if param.name != fixture]

        @functools.wraps(test)
        def run(self: Any, **fixtures: Any) -> None:
            source = fixtures[fixture] if wants_fixture else fixtures.pop(fixture)
            self._run(source, lambda make: test(self, make, **fixtures))

        given = inspect.Parameter(fixture, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        run.__signature__ = inspect.Signature([params[0], given, *others])  # type: ignore[attr-defined]
        return run

    return decorate


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
