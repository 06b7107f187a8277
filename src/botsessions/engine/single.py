"""SingleUpdate: one update of a single (strict or lazy) session."""

from __future__ import annotations

import asyncio
from typing import Any

from botsessions.engine.plan import PropertyPlan, coerce_key
from botsessions.engine.property import NO_KEY, PropertySession

__all__ = ["SingleUpdate"]


class SingleUpdate:
    """One update of a single session: key, lock and read before the handler, the save
    after it. ``run_update`` drives it; ``slot`` is what ``ctx.session`` forwards to.

    Each step has a synchronous part that finishes when nothing has to wait
    (``enter_now``/``leave_now`` return ``True``) and an ``async`` rest that goes on from
    wherever that part stopped (``enter``/``leave``).
    """

    __slots__ = ("_pending_key", "_plan", "key", "slot")

    key: str | None  # the prefixed key (None without one)
    slot: PropertySession  # the session of this update

    def __init__(self, plan: PropertyPlan) -> None:
        self._plan = plan

    def enter_now(self, ctx: Any) -> bool:
        """Compute the key, then lock and read (strict) if nothing has to wait."""
        plan = self._plan
        key = plan.get_key(ctx)
        if key.__class__ is not str:
            self.slot = PropertySession(plan, None)
            self.key = None
            if key is None:
                return True  # NO_KEY: no lock, no storage call
            self._pending_key = key  # an async key function, an int, ...
            return False
        owner = asyncio.current_task() if plan.locks is not None else None
        prop = self.slot = PropertySession(plan, key, owner)
        self.key = prop.key
        if plan.lazy:
            return True
        try:
            return prop.load_now()
        except BaseException:
            prop.unlock()
            raise

    async def enter(self) -> None:
        """The rest of ``enter_now``: await the key, wait for the lock, read."""
        plan = self._plan
        if self.slot.state is NO_KEY:  # enter_now stopped at the key
            key = await coerce_key(self._pending_key, plan)
            if key is None:
                return
            owner = asyncio.current_task() if plan.locks is not None else None
            self.slot = PropertySession(plan, key, owner)
            self.key = self.slot.key
            if plan.lazy:
                return
        prop = self.slot
        try:
            await prop.load()
        except BaseException:
            prop.unlock()
            raise

    def leave_now(self) -> bool:
        """The handler returned: save and unlock, if that needs no waiting."""
        return self.slot.finish_now()

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
