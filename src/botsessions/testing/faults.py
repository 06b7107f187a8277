"""Storages that fail or stall on purpose, to test how a bot copes with a bad backend.

Both wrap any storage (sync or async) and are async themselves::

    storage = FailingStorage(MemorySessionStorage(), fail_on={"write": [2]})
    # the 2nd write raises StorageError; every other call reaches the wrapped storage

    gate = asyncio.Event()
    storage = SlowStorage(MemorySessionStorage(), gate=gate)
    # every call waits until gate.set(): hold a storage call open at a chosen moment

They forward ``read``, ``write``, ``delete``, ``has`` and ``read_all_*``; they do not
forward the lock capability (``acquire``), so the session engine sees a plain storage.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Literal

from botsessions._errors import StorageError
from botsessions.storage._wrapper import iterate, maybe_await

__all__ = ["FailingStorage", "SlowStorage"]

_METHODS = frozenset(
    {"read", "write", "delete", "has", "read_all_keys", "read_all_values", "read_all_entries"}
)


class _Wrapper:
    """Calls the wrapped storage, running ``_before(method, key)`` first."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    async def _before(self, method: str, key: str | None) -> None:
        raise NotImplementedError

    async def read(self, key: str) -> Any:
        await self._before("read", key)
        return await maybe_await(self.wrapped.read(key))

    async def write(self, key: str, value: Any) -> None:
        await self._before("write", key)
        await maybe_await(self.wrapped.write(key, value))

    async def delete(self, key: str) -> None:
        await self._before("delete", key)
        await maybe_await(self.wrapped.delete(key))

    async def has(self, key: str) -> bool:
        await self._before("has", key)
        return bool(await maybe_await(self.wrapped.has(key)))

    async def read_all_keys(self) -> AsyncIterator[str]:
        await self._before("read_all_keys", None)
        async for key in iterate(self.wrapped.read_all_keys()):
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        await self._before("read_all_values", None)
        async for value in iterate(self.wrapped.read_all_values()):
            yield value

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        await self._before("read_all_entries", None)
        async for entry in iterate(self.wrapped.read_all_entries()):
            yield entry

    async def close(self) -> None:
        """Close the wrapped storage, if it can be closed."""
        close = getattr(self.wrapped, "close", None)
        if callable(close):
            await maybe_await(close())


class FailingStorage(_Wrapper):
    """Raises on chosen calls of chosen methods; every other call goes through.

    Args:
        wrapped: the storage that handles the calls that do not fail.
        fail_on: method name -> the call numbers that fail (counted from 1 per method),
            or ``"always"``. Example: ``{"write": [1, 3], "read": "always"}``.
        error: builds the exception for a failing call from ``(method, key)``; by default a
            ``StorageError`` saying it was injected.

    ``calls`` counts every call per method (failed ones included); ``failures`` lists the
    ``(method, key)`` of each call that raised.

    Raises:
        ValueError: ``fail_on`` names a method a storage does not have, or a call number < 1.
    """

    def __init__(
        self,
        wrapped: Any,
        *,
        fail_on: Mapping[str, Iterable[int] | Literal["always"]],
        error: Callable[[str, str | None], BaseException] | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._fail_on: dict[str, frozenset[int] | None] = {}
        for method, numbers in fail_on.items():
            if method not in _METHODS:
                raise ValueError(
                    f"fail_on: unknown method {method!r}; use one of {sorted(_METHODS)}"
                )
            if numbers == "always":
                self._fail_on[method] = None
                continue
            chosen = frozenset(numbers)
            if any(n < 1 for n in chosen):
                raise ValueError(
                    f"fail_on[{method!r}]: call numbers start at 1, got {sorted(chosen)}"
                )
            self._fail_on[method] = chosen
        self._error = error or _injected
        self.calls: Counter[str] = Counter()
        self.failures: list[tuple[str, str | None]] = []

    async def _before(self, method: str, key: str | None) -> None:
        self.calls[method] += 1
        if method not in self._fail_on:
            return
        numbers = self._fail_on[method]
        if numbers is None or self.calls[method] in numbers:
            self.failures.append((method, key))
            raise self._error(method, key)


def _injected(method: str, key: str | None) -> BaseException:
    return StorageError(f"injected failure of {method}({key!r})", key=key)


class SlowStorage(_Wrapper):
    """Delays every call: by ``delay`` seconds, and/or until ``gate`` is set.

    Args:
        wrapped: the storage that handles the calls.
        delay: seconds to sleep before each call.
        gate: an ``asyncio.Event``; each call waits for it before reaching the storage.
            Tests use it to hold a read or write open at an exact moment, without sleeps.

    ``waiting`` counts the calls currently held at the gate or in the delay; ``entered`` is
    set whenever a call starts waiting, so a test can wait until the storage is busy.
    """

    def __init__(
        self, wrapped: Any, *, delay: float = 0.0, gate: asyncio.Event | None = None
    ) -> None:
        super().__init__(wrapped)
        if delay < 0:
            raise ValueError(f"delay must not be negative, got {delay!r}")
        self._delay = delay
        self._gate = gate
        self.waiting = 0
        self.entered = asyncio.Event()

    async def _before(self, method: str, key: str | None) -> None:
        self.waiting += 1
        self.entered.set()
        try:
            if self._delay:
                await asyncio.sleep(self._delay)
            if self._gate is not None:
                await self._gate.wait()
        finally:
            self.waiting -= 1
