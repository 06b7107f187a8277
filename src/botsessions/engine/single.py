"""SingleUpdate: one update of a single (strict or lazy) session."""

from __future__ import annotations

import asyncio
from typing import Any

from botsessions.engine.plan import PropertyPlan, coerce_key
from botsessions.engine.property import PropertySession

__all__ = ["SingleUpdate"]


class SingleUpdate:
    """One update of a single session: key, lock and read before the handler, the save
    after it. ``run_update`` drives it; ``slot`` is what ``ctx.session`` forwards to.

    Each step has a synchronous part that finishes when nothing has to wait
    (``enter_now``/``leave_now`` return ``True``) and an ``async`` rest that goes on from
    wherever that part stopped (``enter``/``leave``).
    """

    __slots__ = ("_ctx", "_pending_key", "key", "slot")

    def __init__(self, plan: PropertyPlan, ctx: Any) -> None:
        self.slot = PropertySession(plan)
        self.key: str | None = None  # the prefixed key, once known
        self._ctx = ctx
        self._pending_key: Any = None  # a key function's result that needs awaiting

    def enter_now(self) -> bool:
        """Compute the key, then lock and read (strict) if nothing has to wait."""
        prop = self.slot
        plan = prop.plan
        key = plan.get_key(self._ctx)
        self._ctx = None
        if key.__class__ is not str:
            if key is None:
                return True  # NO_KEY: no lock, no storage call
            self._pending_key = key  # an async key function, an int, ...
            return False
        self._begin(key)
        if plan.lazy:
            return True
        try:
            return prop.load_now()
        except BaseException:
            prop.unlock()
            raise

    async def enter(self) -> None:
        """The rest of ``enter_now``: await the key, wait for the lock, read."""
        prop = self.slot
        pending = self._pending_key
        if pending is not None:
            self._pending_key = None
            key = await coerce_key(pending, prop.plan)
            if key is None:
                return
            self._begin(key)
            if prop.plan.lazy:
                return
        try:
            await prop.load()
        except BaseException:
            prop.unlock()
            raise

    def _begin(self, key: str) -> None:
        prop = self.slot
        prop.begin(key, asyncio.current_task() if prop.plan.locks is not None else None)
        self.key = prop.key

    def leave_now(self) -> bool:
        """The handler returned: save and unlock, if that needs no waiting."""
        prop = self.slot
        try:
            done = prop.save_now()
        except BaseException:
            prop.unlock()
            raise
        if done:
            prop.unlock()
        return done

    async def leave(self) -> None:
        """The handler returned: write what changed (or hand the lease on), unlock."""
        prop = self.slot
        try:
            await prop.finish()
        finally:
            prop.unlock()

    async def fail(self) -> None:
        """The handler raised: write nothing, end the lease, unlock."""
        prop = self.slot
        try:
            await prop.abort()
        finally:
            prop.unlock()
