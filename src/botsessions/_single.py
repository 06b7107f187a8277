"""SingleUpdate: one update of a single (strict or lazy) session."""

from __future__ import annotations

from collections.abc import Awaitable
from inspect import isawaitable
from types import TracebackType
from typing import Any

from botsessions._engine import LOADED, NO_KEY, UNLOADED, PropertySession
from botsessions._locks import KeyedLock, current_task
from botsessions._spec import PLAIN, PropertySpec, coerce_key

__all__ = ["SingleUpdate"]


class SingleUpdate(PropertySession):
    """One update of a single (strict or lazy) session: context manager, handle and slot.

    The common case (a synchronous storage without a lease, a session that was read and
    maybe changed) runs inline here; everything else goes through ``PropertySession``.
    """

    __slots__ = ("_ctx",)

    def __init__(self, spec: PropertySpec, ctx: Any) -> None:
        # Inlined PropertySession.__init__: this runs once per update.
        self.spec = spec
        self._ctx = ctx
        self.key = None  # type: ignore[assignment]  # a str unless state is NO_KEY
        self.state = NO_KEY
        self.raw = None
        self.blob = None
        self.value = None
        self.lease = None
        self.chain = None
        self.locked = False
        self.early = False
        self.task = None
        self.owner = None

    @property
    def slot(self) -> PropertySession:
        """What ``ctx.session`` forwards to."""
        return self

    async def __aenter__(self) -> SingleUpdate:
        pending = self.enter()
        if pending is not None:
            await pending
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            await self.fail()
            return
        pending = self.leave()
        if pending is not None:
            await pending

    # -- the same, without a coroutine when nothing has to wait -----------------------

    def enter(self) -> Awaitable[None] | None:
        """Start the update: key, lock, strict read. ``None`` when that finished
        synchronously (sync key function, free lock, memory storage), else an awaitable
        that finishes it. After ``enter`` the caller must call ``leave`` or ``fail``."""
        spec = self.spec
        ctx = self._ctx
        self._ctx = None
        key = spec.get_key(ctx)
        if key.__class__ is str:
            return self._enter_key(key)
        if key is None:
            return None  # NO_KEY: no lock, no storage call
        return self._coerce_and_enter(key)  # an async key function, an int, ...

    def leave(self) -> Awaitable[None] | None:
        """The handler returned: write what changed and unlock. ``None`` when that
        finished synchronously, else an awaitable that finishes it."""
        try:
            pending = self.save_now()
        except BaseException:
            self.unlock()
            raise
        if pending is None:
            self.unlock()
            return None
        return self._then_unlock(pending)

    async def fail(self) -> None:
        """The handler raised: write nothing, end the lease, unlock."""
        try:
            await self.abort()  # no catch-and-save: a failed handler writes nothing
        finally:
            self.unlock()

    async def _coerce_and_enter(self, key: Any) -> None:
        key = await coerce_key(key, self.spec)
        if key is not None:
            pending = self._enter_key(key)
            if pending is not None:
                await pending

    def _enter_key(self, key: str) -> Awaitable[None] | None:
        spec = self.spec
        if spec.prefix:
            key = spec.prefix + key
        self.key = key
        owner = self.owner = current_task()
        if spec.lazy:
            self.state = UNLOADED
            return None
        locks = spec.locks
        if locks is not None:
            if not locks.try_acquire(key, owner):
                return self._wait_then_read(locks)
            self.locked = True
        read_blob = spec.read_blob
        if read_blob is None:
            return self._read_then_load()
        try:
            blob = read_blob(key)
            if blob.__class__ is bytes:
                self.blob = blob
            elif blob is not None:  # NOT_JSON: kept as a copy, read the usual way
                self.raw = spec.sync_read(key)  # type: ignore[misc]  # memory: synchronous
        except BaseException:
            self.unlock()
            raise
        self.state = LOADED
        return None

    async def _wait_then_read(self, locks: KeyedLock) -> None:
        held = await locks.acquire(self.key, self.owner, self.spec.lock_timeout)
        self.locked = True
        if held is not None:  # the previous update handed its storage lease over
            self.take(held)
            self.state = LOADED
            return
        await self._read_then_load()

    async def _read_then_load(self) -> None:
        spec = self.spec
        try:
            if spec.read_blob is not None:
                self.read_blob_now()
            elif spec.plain:
                raw = spec.sync_read(self.key)  # type: ignore[misc]  # plain: not None
                if raw is not None and raw.__class__ not in PLAIN and isawaitable(raw):
                    raw = await raw
                self.raw = raw
            else:
                await self.read()
        except BaseException:
            self.unlock()
            raise
        self.state = LOADED

    async def _then_unlock(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        finally:
            self.unlock()
