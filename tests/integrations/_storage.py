"""A real MemorySessionStorage that also records which calls reached it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from botsessions import MemorySessionStorage


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _call(method: Callable[..., Any], *args: Any) -> Any:
    return await _resolve(method(*args))


class CountingStorage:
    """Forwards to a ``MemorySessionStorage`` and records ``(method, key)`` per call."""

    def __init__(self) -> None:
        self.inner: MemorySessionStorage[Any] = MemorySessionStorage()
        self.calls: list[tuple[str, str]] = []

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    async def read(self, key: str) -> Any:
        self.calls.append(("read", key))
        return await _resolve(self.inner.read(key))

    async def write(self, key: str, value: Any) -> None:
        self.calls.append(("write", key))
        await _call(self.inner.write, key, value)

    async def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        await _call(self.inner.delete, key)

    async def seed(self, key: str, value: Any) -> None:
        """Store ``value`` before the test runs (not recorded)."""
        await _call(self.inner.write, key, value)

    async def stored(self, key: str) -> Any:
        """What the storage holds for ``key`` (not recorded)."""
        return await _resolve(self.inner.read(key))
