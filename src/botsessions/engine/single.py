"""SingleUpdate: one update of a single (strict or lazy) session, and the engine's fast path.

A ``SingleUpdate`` *is* the update's ``PropertySession`` (the state machine lives in that
base class) and its ``SessionSlot``: one object per update, nothing copied by hand.

The fast path
=============

``enter_now`` and ``leave_now`` below are the engine's only synchronous shortcut. When the
key function is synchronous, the key's lock is free and the storage is a
``JSONBytesStorage`` (``MemorySessionStorage``, ``Shape.MEMORY_BYTES``), entering and
leaving need no ``await``, so ``run_update`` creates no coroutine besides the handler's.
They make the same state changes as ``enter``/``leave`` and apply the one write decision
(``PropertySession.decide``); the few calls they inline are marked. What that saves,
about 1 µs per update against the ``async`` path, is what bench W1 ("MemorySessionStorage:
counter += 1") shows, and ``python -m bench.engine_ab`` compares it with an earlier
engine in one process. Each returns ``False`` as soon as something would have to wait,
leaving the rest to its ``async`` twin.
"""

from __future__ import annotations

import asyncio
from typing import Any

from botsessions.engine.locks import KeyedLock
from botsessions.engine.plan import coerce_key
from botsessions.engine.property import (
    ACCESSED,
    ASSIGNED,
    DELETE,
    LOADED,
    NO_KEY,
    UNLOADED,
    WRITE,
    PropertySession,
)
from botsessions.storage._protocol import NOT_JSON_BYTES

__all__ = ["SingleUpdate"]


class SingleUpdate(PropertySession):
    """One update of a single session: key, lock and read before the handler, the save
    after it. ``run_update`` drives it (``SingleUpdate(plan)`` starts in ``NO_KEY``).

    ``key`` is the prefixed key (``None`` without one); ``slot``, what ``ctx.session``
    forwards to, is the update itself.
    """

    __slots__ = ("_pending_key",)

    @property
    def slot(self) -> SingleUpdate:
        """What ``ctx.session`` forwards to: this object (``get``/``set``)."""
        return self

    # -- the fast path (see the module docstring) --------------------------------------

    def enter_now(self, ctx: Any) -> bool:
        """Compute the key, then lock and read (strict) if nothing has to wait."""
        plan = self.plan
        key = plan.get_key(ctx)
        if key.__class__ is not str:
            if key is None:
                return True  # NO_KEY: no lock, no storage call
            self._pending_key = key  # an async key function, an int, ...
            return False
        prefix = plan.prefix
        key = self.key = prefix + key if prefix else key  # start(), inlined
        self.state = UNLOADED
        if plan.lazy:
            return True  # locks and reads on first access
        access = plan.access
        if not access.sync:
            return False
        locks = plan.locks
        if locks is not None:  # locks.try_acquire(key, self), inlined
            owners = locks.owners
            if key in owners:
                return False
            owners[key] = self  # this update is the key's (lazy) owner
            self.locked = True
        try:
            stored = access.read_now(key)  # type: ignore[attr-defined]  # sync access
            if stored is NOT_JSON_BYTES:  # kept in another form: JSONBytesStorage's rule
                stored = access.read_other(key)  # type: ignore[attr-defined]
        except BaseException:
            self.unlock()
            raise
        self.stored = stored
        self.state = LOADED
        return True

    def leave_now(self) -> bool:
        """The handler returned: save and unlock, if that needs no waiting. ``False``:
        nothing was done (not even unlocking), ``leave`` must run."""
        state = self.state
        plan = self.plan
        access = plan.access
        if state is ACCESSED and access.sync:
            pass  # the common case: read, maybe changed
        elif state is LOADED or state is NO_KEY or state is UNLOADED:
            if self.lease is not None or plan.observer is not None:
                return False
            self.unlock()
            return True
        elif state is not ASSIGNED or not access.sync or self.task is not None:
            return False  # LOADING, FAILED, or an assignment racing a lazy read
        elif isinstance(self.value, asyncio.Future) or (plan.lazy and not self.try_lock()):
            return False
        try:
            action, stored = self.decide()
            if action is WRITE:
                if stored.__class__ is bytes:  # write_now(), inlined
                    access.write_bytes(self.key, stored)  # type: ignore[attr-defined]
                else:
                    access.write_now(self.key, stored)  # type: ignore[attr-defined]
            elif action is DELETE:
                access.delete_now(self.key)  # type: ignore[attr-defined]  # sync access
        finally:
            if self.locked:  # unlock(), inlined, and locks.release() when nobody waits
                self.locked = False
                held: KeyedLock = plan.locks  # type: ignore[assignment]  # locked: set
                key = self.key
                if key in held.queues:
                    held.release(key)
                else:
                    del held.owners[key]
        return True

    # -- the rest ----------------------------------------------------------------------

    async def enter(self) -> None:
        """The rest of ``enter_now``: await the key, wait for the lock, read."""
        if self.state is NO_KEY:  # enter_now stopped at the key
            key = await coerce_key(self._pending_key, self.plan)
            if key is None:
                return
            self.start(key)
            if self.plan.lazy:
                return
        try:
            await self.load()
        except BaseException:
            self.unlock()
            raise

    async def leave(self) -> None:
        """The handler returned: write what changed (or hand the lease on), unlock."""
        try:
            await self.finish()
        finally:
            self.unlock()

    async def fail(self) -> None:
        """The handler raised: write nothing, end the lease, unlock."""
        try:
            await self.abort()
        finally:
            self.unlock()
