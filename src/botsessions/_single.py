"""SingleUpdate: one update of a single (strict or lazy) session."""

from __future__ import annotations

from inspect import isawaitable
from types import TracebackType
from typing import Any

from botsessions._engine import ACCESSED, LOADED, NO_KEY, UNLOADED, PropertySession
from botsessions._locks import current_task
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
        self.locked = False
        self.early = False
        self.task = None
        self.owner = None

    @property
    def slot(self) -> PropertySession:
        """What ``ctx.session`` forwards to."""
        return self

    async def __aenter__(self) -> SingleUpdate:
        spec = self.spec
        ctx = self._ctx
        self._ctx = None
        key = await spec.get_key(ctx) if spec.key_is_async else spec.get_key(ctx)
        if key.__class__ is not str and key is not None:
            key = await coerce_key(key, spec)
        if key is None:
            return self  # NO_KEY: no lock, no storage call
        if spec.prefix:
            key = spec.prefix + key
        self.key = key
        owner = self.owner = current_task()
        if spec.lazy:
            self.state = UNLOADED
            return self
        locks = spec.locks
        if locks is not None:
            if not locks.try_acquire(key, owner):
                await locks.acquire(key, owner, spec.lock_timeout)
            self.locked = True
        try:
            if spec.read_blob is not None:
                self.read_blob_now()
            elif spec.plain:
                raw = spec.sync_read(key)  # type: ignore[misc]  # plain: not None
                if raw is not None and raw.__class__ not in PLAIN and isawaitable(raw):
                    raw = await raw
                self.raw = raw
            else:
                await self.read()
        except BaseException:
            self.unlock()
            raise
        self.state = LOADED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            state = self.state
            if exc_type is not None:
                await self.abort()  # no catch-and-save: a failed handler writes nothing
            elif state == LOADED and self.lease is None:
                pass  # never accessed: nothing to write, no lease to end
            elif state == ACCESSED and self.spec.write_blob is not None:
                value = self.value
                if value is not None:
                    spec = self.spec
                    blob = spec.encode_blob(value)
                    if blob is None:
                        await self.finish()  # encode decides: a path-naming error, or a big int
                    elif blob != self.blob:
                        spec.write_blob(self.key, blob)  # type: ignore[misc]  # checked above
            elif state == ACCESSED and self.spec.plain:
                value = self.value
                if value is not None:
                    spec = self.spec
                    encoded = spec.encode(value)
                    raw = self.raw
                    if raw is None or encoded != raw:
                        result = spec.sync_write(self.key, encoded)  # type: ignore[misc]
                        if result is not None:
                            await result
            elif state > NO_KEY:
                await self.finish()
        finally:
            if self.locked:
                self.locked = False
                self.spec.locks.release(self.key)  # type: ignore[union-attr]  # locked
