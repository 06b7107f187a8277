"""A locking storage without a server, for tests of wrappers around the lease API."""

from __future__ import annotations

from typing import Any

from botsessions import MemorySessionStorage


class FakeLease:
    """Records how it ends, in its storage's ``calls``."""

    def __init__(self, owner: FakeLockingStorage, key: str, value: Any) -> None:
        self.owner, self.key, self.value = owner, key, value

    async def write(self, value: Any, *, keep: bool = False) -> None:
        self.owner.calls.append(("write", self.key, value, keep))
        self.owner.data[self.key] = value
        self.value = value

    async def delete(self, *, keep: bool = False) -> None:
        self.owner.calls.append(("delete", self.key, keep))
        self.owner.data.pop(self.key, None)
        self.value = None

    async def release(self) -> None:
        self.owner.calls.append(("release", self.key))


class FakeLockingStorage(MemorySessionStorage[Any]):
    """A memory storage with a (non-exclusive) lease API that records its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Any] = {}
        self.calls: list[tuple[Any, ...]] = []

    def read(self, key: str) -> Any:
        return self.data.get(key)

    def write(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def acquire(self, key: str, *, read: bool) -> FakeLease:
        self.calls.append(("acquire", key, read))
        return FakeLease(self, key, self.data.get(key) if read else None)
