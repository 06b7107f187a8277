"""The close-on-exit mixins: ``with`` and ``async with`` give the object and close it."""

from __future__ import annotations

import asyncio

import pytest

from botsessions.storage._lifecycle import AsyncClosing, Closing


class _Sync(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class _Async(AsyncClosing):
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


def test_with_gives_the_object_and_closes_it_even_on_error() -> None:
    thing = _Sync()

    def use() -> None:
        with thing as entered:
            assert entered is thing
            raise KeyError("x")

    with pytest.raises(KeyError):
        use()
    assert thing.closed == 1


def test_async_with_gives_the_object_and_closes_it_even_on_error() -> None:
    thing = _Async()

    async def main() -> None:
        async with thing as entered:
            assert entered is thing
            raise KeyError("x")

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert thing.closed == 1
