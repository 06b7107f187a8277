"""A minimal context and helpers for driving session middleware directly in tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botsessions.engine.protocols import HostMiddleware, SessionSlot

Handler = Callable[["FakeContext"], Awaitable[None]]


class FakeContext:
    """Just what the session middleware needs: the KeyContext attributes and the slot."""

    def __init__(
        self,
        chat_id: int | None = 42,
        *,
        user_id: int | None = None,
        thread_id: int | None = None,
        business_connection_id: str | None = None,
    ) -> None:
        self.chat_id = chat_id
        self.user_id = user_id
        self.thread_id = thread_id
        self.business_connection_id = business_connection_id
        self.session_key: str | None = None
        self._slot: SessionSlot | None = None

    def bind_session(self, slot: SessionSlot, key: str | None) -> None:
        self._slot = slot
        self.session_key = key

    @property
    def session(self) -> Any:
        assert self._slot is not None, "no session middleware ran"
        return self._slot.get()

    @session.setter
    def session(self, value: Any) -> None:
        assert self._slot is not None, "no session middleware ran"
        self._slot.set(value)


async def run(mw: HostMiddleware, ctx: FakeContext, handler: Handler | None = None) -> None:
    """Run ``mw`` for ``ctx`` with ``handler`` as the rest of the chain."""

    async def downstream() -> None:
        if handler is not None:
            await handler(ctx)

    await mw(ctx, downstream)


async def nothing(ctx: FakeContext) -> None:
    """A handler that does not touch the session."""


async def touch(ctx: FakeContext) -> None:
    """A handler that only reads the session."""
    _ = ctx.session


class DictBacked:
    """``read``/``write``/``delete`` on a plain ``data`` dict, for fakes that add a lock."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def read(self, key: str) -> Any:
        return self.data.get(key)

    async def write(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)
