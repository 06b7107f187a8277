"""Multi sessions: every fragment of one update, locked in a fixed order.

``MultiPlan`` is the multi session as built (its fragments' plans and the lock order
that does not depend on keys); ``MultiUpdate`` runs one update of it. Fragments are
``PropertySession`` objects, one per fragment, each with its own key and storage.

Deadlocks are ruled out by taking every (lock family, key) pair in one global order
(``engine.locks.lock_order``). A fragment whose storage leases its key owns that key's
in-process lock itself, so it can hand both to the next update of the key
(``engine.handoff``); fragments then end in lock order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

from botsessions.engine.locks import (
    KeyedLock,
    acquire_all,
    lock_order,
    release_all,
    update_runs_here,
)
from botsessions.engine.plan import PropertyPlan, Shape, coerce_key
from botsessions.engine.property import LOADED, NO_KEY, PropertySession

__all__ = ["MultiPlan", "MultiUpdate", "SessionFragments"]

_Pair = tuple[KeyedLock, str]


class MultiPlan:
    """A multi session as built: the fragments' plans, and their lock order if fixed."""

    __slots__ = ("index", "leases", "lock_timeout", "order", "plans")

    def __init__(self, plans: Sequence[PropertyPlan]) -> None:
        self.plans = tuple(plans)
        self.index = {plan.name: i for i, plan in enumerate(plans)}
        timeouts = [p.lock_timeout for p in plans if p.lock_timeout is not None]
        self.lock_timeout = min(timeouts) if timeouts else None
        # Some fragment locks its key in storage too (its lease may be handed on).
        self.leases = any(p.access.leased and p.locks is not None for p in plans)
        # When every fragment has its own lock family, (serial, key) orders by serial
        # alone: the order is fixed here. ``None``: families are shared, sort per update.
        families = [p.locks for p in plans if p.locks is not None]
        distinct = len({id(f) for f in families}) == len(families)
        self.order: tuple[int, ...] | None = (
            tuple(sorted(range(len(plans)), key=lambda i: _serial(plans[i]))) if distinct else None
        )


class SessionFragments:
    """``ctx.session`` of a multi session: one attribute per fragment."""

    __slots__ = ("_index", "_props")
    _index: dict[str | None, int]
    _props: list[PropertySession]

    def __init__(self, index: dict[str | None, int], props: list[PropertySession]) -> None:
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_props", props)

    def __getattr__(self, name: str) -> Any:
        return self._prop(name).get()

    def __setattr__(self, name: str, value: Any) -> None:
        self._prop(name).set(value)

    def _prop(self, name: str) -> PropertySession:
        index = self._index.get(name)
        if index is None:
            raise AttributeError(f"no session fragment {name!r}; fragments: {self._names()}")
        return self._props[index]

    def _names(self) -> str:
        return ", ".join(str(name) for name in self._index)

    def __dir__(self) -> list[str]:
        return sorted(str(name) for name in self._index)

    def __repr__(self) -> str:
        return f"<session fragments: {self._names()}>"


class MultiUpdate:
    """One update of a multi session (the same steps as ``SingleUpdate``; nothing here
    finishes synchronously: ``enter_now``/``leave_now`` leave it all to the rest).

    It is also the update's ``SessionSlot``: ``get()`` gives the fragments, ``set(None)``
    deletes them all.
    """

    __slots__ = ("_ctx", "_ending", "_fragments", "_pairs", "_plan", "_props", "handler", "owner")
    _ctx: Any

    key = None
    """Multi sessions have one key per fragment (``ctx.session_key`` is ``None``)."""

    def __init__(self, plan: MultiPlan) -> None:
        self._plan = plan
        # Placeholders until enter() computes the keys (a fragment without one stays so).
        self._props = [PropertySession(p) for p in plan.plans]
        self._pairs: list[_Pair] = []  # in-process locks this update releases itself
        self._ending = self._props  # the order in which fragments end
        self._fragments = SessionFragments(plan.index, self._props)
        self.handler: Coroutine[Any, Any, Any] | None = None  # set by run_update
        self.owner: asyncio.Task[Any] | None = None  # for a driver that runs no handler

    def runs_here(self) -> bool:
        """Whether this update runs in the running task: the ``LazyOwner`` of its keys."""
        return update_runs_here(self.handler, self.owner)

    @property
    def slot(self) -> MultiUpdate:
        """What ``ctx.session`` forwards to: this object (``get``/``set``)."""
        return self

    def get(self) -> SessionFragments:
        """``ctx.session``: one attribute per fragment."""
        return self._fragments

    def set(self, value: Any) -> None:
        """``ctx.session = None`` deletes every fragment; nothing else can be assigned."""
        if value is not None:
            raise TypeError(
                "ctx.session of a multi session cannot be replaced; assign its fragments "
                "(ctx.session.<fragment> = ...) or assign None to delete every fragment"
            )
        for prop in self._props:
            if prop.state is NO_KEY:
                prop.set(None)  # raises SessionKeyError before anything changes
        for prop in self._props:
            prop.set(None)

    def enter_now(self, ctx: Any) -> bool:
        self._ctx = ctx
        return False

    def leave_now(self) -> bool:
        return False

    async def enter(self) -> None:
        """Compute every fragment's key, take the locks in order, read every fragment."""
        ctx = self._ctx
        self._ctx = None
        props = self._props
        for index, plan in enumerate(self._plan.plans):
            key = plan.get_key(ctx)
            if key is not None and key.__class__ is not str:
                key = await coerce_key(key, plan)
            if key is not None:
                props[index].start(key)
        keyed = [p for p in self._props if p.state is not NO_KEY]
        _check_shared_keys(keyed)
        if self._plan.order is not None:
            ordered = [p for p in (self._props[i] for i in self._plan.order) if p in keyed]
        else:
            ordered = sorted(keyed, key=_prop_order)
        pairs = sorted(
            {(locks, p.key) for p in ordered if (locks := p.plan.locks) is not None},
            key=lock_order,
        )
        handed = await acquire_all(pairs, self, self._plan.lock_timeout)
        self._pairs = pairs
        if self._plan.leases:
            self._pairs = _own_leased_keys(ordered, pairs, handed)
            self._ending = ordered
        try:
            await _read_all(ordered)
        except BaseException:
            try:
                for prop in ordered:
                    await prop.abort()
            finally:
                await self._unlock(ordered)
            raise

    async def leave(self) -> None:
        """Save every fragment; every lease ends, the first error is raised."""
        props = self._ending
        error: BaseException | None = None
        try:
            for prop in props:
                try:
                    ending = prop.finish()
                    await (_after(prop, ending) if prop.locked else ending)
                except BaseException as failure:  # other fragments still end their leases
                    if error is None:
                        error = failure
            if error is not None:
                raise error
        finally:
            await self._unlock(props)

    async def fail(self) -> None:
        """The handler raised: write nothing, end every lease, unlock."""
        props = self._ending
        try:
            for prop in props:
                ending = prop.abort()
                await (_after(prop, ending) if prop.locked else ending)
        finally:
            await self._unlock(props)

    async def _unlock(self, props: list[PropertySession]) -> None:
        try:
            for prop in props:
                if prop.lease is not None:  # interrupted before its turn
                    await prop.abort()
        finally:
            for prop in props:
                prop.unlock()  # a no-op for a fragment whose key went on with its lease
            release_all(self._pairs)


async def _after(prop: PropertySession, ending: Any) -> None:
    """Await the end of ``prop``; after a handoff, let the update that took the key run.

    Fragments end in lock order. The update that just got this key wants the following
    keys next (updates of one multi session usually share them): one turn of the event
    loop lets it queue for them, so they are handed over too instead of released.
    """
    locked = prop.locked
    await ending
    if locked and not prop.locked:
        await asyncio.sleep(0)


async def _read_all(props: list[PropertySession]) -> None:
    """Read every fragment: leases one by one in lock order (they are locks too, and a
    fixed order is what rules out deadlocks between processes), synchronous storages
    inline, and the remaining asynchronous reads concurrently."""
    concurrent = [p for p in props if p.plan.access.shape is Shape.ASYNC]
    for prop in props:
        if prop.plan.access.shape is not Shape.ASYNC:
            await prop.read()
    if len(concurrent) == 1:
        await concurrent[0].read()
    elif concurrent:
        # Every read ends before an error is raised: none is left running after the update.
        results = await asyncio.gather(*(p.read() for p in concurrent), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    for prop in props:
        prop.state = LOADED


def _own_leased_keys(
    props: list[PropertySession], pairs: list[_Pair], handed: list[Any] | None
) -> list[_Pair]:
    """Give each fragment with a storage lease its key's in-process lock (and the lease
    handed over with it, if any); the pairs left for the update itself to release."""
    by_pair = dict(zip(pairs, handed, strict=True)) if handed is not None else {}
    own: set[_Pair] = set()
    for prop in props:
        locks = prop.plan.locks
        if prop.plan.access.leased and locks is not None:
            pair = (locks, prop.key)
            if pair in own:
                continue  # pragma: no cover - two fragments, one key: _check_shared_keys
            own.add(pair)
            prop.locked = True
            held = by_pair.get(pair)
            if held is not None:
                prop.take(held)
    return [pair for pair in pairs if pair not in own]


def _serial(plan: PropertyPlan) -> int:
    return -1 if plan.locks is None else plan.locks.serial


def _prop_order(prop: PropertySession) -> tuple[int, str]:
    return (_serial(prop.plan), prop.key)


def _check_shared_keys(props: list[PropertySession]) -> None:
    """Refuse two fragments that resolve to the same key in the same storage: each would
    overwrite the other's write (and in a locking storage, wait for its own lease).

    Raises:
        ValueError: naming both fragments and the key, before any lock or storage call.
    """
    seen: dict[tuple[int, str], str | None] = {}
    for prop in props:
        ident = (id(prop.plan.storage), prop.key)
        if ident in seen:
            raise ValueError(
                f"session fragments {seen[ident]!r} and {prop.plan.name!r} resolve to the same "
                f"key {prop.key!r} in the same storage; give them different prefixes"
            )
        seen[ident] = prop.plan.name
