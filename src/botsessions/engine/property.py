"""One session property of one update, from load to save: the engine's state machine.

A ``PropertySession`` serves a strict session, a lazy session and every fragment of a
multi session alike. It reaches its storage only through the plan's ``Access`` and keeps
the *stored form* it read (``stored``) untouched, to compare against at the end.

States (``PropertySession.state``), one meaning each:

``NO_KEY``
    The key function gave ``None``: touching ``ctx.session`` raises ``SessionKeyError``;
    no lock, no storage call.
``UNLOADED``
    Key known, nothing locked or read. Strict sessions leave it before the handler; lazy
    ones stay until first accessed (-> ``LOADING``, or ``ACCESSED`` at once when the lock
    is free and the storage synchronous) or assigned (-> ``ASSIGNED``).
``LOADING`` (lazy)
    The one load task runs (lock, then read or lease); every access returns it. An
    assignment (-> ``ASSIGNED``) lets it go on, but its result loses.
``LOADED`` (strict)
    Locked and read before the handler, not decoded yet (an update that never touches its
    session pays no decoding). Reading -> ``ACCESSED``; assigning -> ``ASSIGNED``.
``ACCESSED``
    The handler holds the value: a decoded copy of the stored form, or ``initial()``.
``ASSIGNED``
    The handler assigned a value, ``None``, or an awaitable (kept in a future).
``FAILED`` (lazy)
    The load failed: awaiting ``ctx.session`` re-raises, and so does the end of the
    update unless a value was assigned afterwards.

The end of an update: ``abort`` (the handler raised) writes nothing, cancels pending
work and ends the lease. Otherwise ``decide`` makes the one write decision: ``ACCESSED``
or ``ASSIGNED`` writes when the encoded value differs from the stored form (always when
storage had nothing, or when an assignment beat the lazy read); ``ASSIGNED`` ``None``
deletes; a value read as ``None`` and everything else is kept. A lazy read that an
awaitable assignment raced gives the loaded value to whoever awaits it, so
``ctx.session = bump(ctx.session)`` cannot wait for itself.

Leases (``Shape.LEASED``): the decision is applied under the lease, which then goes on to
the next local update of the key or is released (``engine.handoff``); an update that
arrives with a handed-over lease starts from ``lease.value``, without locking or reading.

A save that has started runs to its end even when the update is cancelled meanwhile (an
``asyncio.timeout()`` around handlers, a shutdown): the key stays locked until the write
is over, so a later update of the key can never be overwritten by it; the cancellation
is raised after (``plan.completed``; under a lease, the storage's lock does the same).

``SingleUpdate`` (``engine.single``) is a ``PropertySession`` too, with the synchronous
fast path of the common update; a ``MultiUpdate`` holds one per fragment.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
from collections.abc import Coroutine
from typing import Any, cast

from botsessions._errors import SessionKeyError
from botsessions.engine.handoff import HeldLease, LeaseAction, end_lease
from botsessions.engine.locks import update_runs_here
from botsessions.engine.plan import PropertyPlan
from botsessions.storage._locking import SessionLease
from botsessions.storage._protocol import NOT_JSON_BYTES

__all__ = ["PropertySession", "State"]


class State(enum.Enum):
    """The states of a session property in one update (see the module docstring)."""

    NO_KEY = "no key"
    UNLOADED = "unloaded"
    LOADING = "loading"
    LOADED = "loaded"
    ACCESSED = "accessed"
    ASSIGNED = "assigned"
    FAILED = "failed"


# Module-level names for the per-update path: on Python 3.11 every ``State.X`` lookup
# runs ``EnumType.__getattr__`` (~0.1 µs), and an update compares states several times.
NO_KEY = State.NO_KEY
UNLOADED = State.UNLOADED
LOADING = State.LOADING
LOADED = State.LOADED
ACCESSED = State.ACCESSED
ASSIGNED = State.ASSIGNED
FAILED = State.FAILED
KEEP = LeaseAction.KEEP
WRITE = LeaseAction.WRITE
DELETE = LeaseAction.DELETE

# Values that are never awaitables (checked before the slower ``inspect.isawaitable``).
_PLAIN = frozenset({dict, list, str, int, float, bool})


class PropertySession:
    """One session property of one update; also its ``SessionSlot`` (``get``/``set``)."""

    __slots__ = (
        "chain",
        "early",
        "handler",
        "key",
        "lease",
        "locked",
        "owner",
        "plan",
        "state",
        "stored",
        "task",
        "value",
    )

    def __init__(self, plan: PropertyPlan) -> None:
        """A property without a key yet (``NO_KEY``); ``start`` gives it one."""
        self.plan = plan
        self.state = NO_KEY
        self.key: str = None  # type: ignore[assignment]  # a str once the state is not NO_KEY
        self.handler: Coroutine[Any, Any, Any] | None = None  # set by run_update: runs_here()
        self.owner: asyncio.Task[Any] | None = None  # for a driver that runs no handler
        self.stored: Any = None  # the stored form read at load; None: storage had none
        self.value: Any = None
        self.lease: SessionLease | None = None
        self.chain: HeldLease | None = None  # how the lease was handed over, if it was
        self.locked = False  # holds its key in the plan's in-process lock family
        self.early = False  # assigned before the lazy read finished: the read loses
        self.task: asyncio.Future[Any] | None = None  # lazy: the one load

    def start(self, key: str) -> None:
        """``NO_KEY`` -> ``UNLOADED`` with what the key function gave (unprefixed)."""
        prefix = self.plan.prefix
        self.key = prefix + key if prefix else key
        self.state = UNLOADED

    def runs_here(self) -> bool:
        """Whether this update runs in the running task (it is the ``LazyOwner`` of the
        keys it locks): its handler coroutine is running, or ``owner`` is that task."""
        return update_runs_here(self.handler, self.owner)

    def __repr__(self) -> str:
        return f"<PropertySession {self.key!r} {self.state.value}>"

    # -- key and loading ---------------------------------------------------------------

    def try_lock(self) -> bool:
        """Take the key's in-process lock if it is free (or there is none to take)."""
        locks = self.plan.locks
        if locks is None or self.locked:
            return True
        if locks.try_acquire(self.key, self):
            self.locked = True
            return True
        return False

    async def lock(self) -> None:
        """Take the key's in-process lock, waiting in line; a lease may come with it."""
        locks = self.plan.locks
        if locks is None or self.locked:
            return
        held = await locks.acquire(self.key, self, self.plan.lock_timeout)
        self.locked = True
        if held is not None:
            self.take(cast(HeldLease, held))  # the only payload the engine hands over

    def take(self, held: HeldLease) -> None:
        """Go on under a lease handed over with the lock: ``lease.value`` is stored."""
        self.chain = held
        self.lease = held.lease

    def unlock(self) -> None:
        """Release the in-process lock, if held."""
        if self.locked:
            self.locked = False
            locks = self.plan.locks
            if locks is not None:
                locks.release(self.key)

    async def load(self) -> None:
        """Lock and read (``UNLOADED`` -> ``LOADED``): what ``SingleUpdate.enter_now``
        leaves to an ``await``."""
        await self.lock()
        await self.read()
        self.state = LOADED

    async def read(self) -> None:
        """Read the stored form (through the lease: handed over, or taken here)."""
        access = self.plan.access
        lease = self.lease
        if lease is None and access.leased:
            lease = self.lease = await access.acquire(self.key, read=True)
        self.stored = lease.value if lease is not None else await access.read(self.key)

    def _materialize(self) -> Any:
        value = self.value = self._decoded()
        self.state = ACCESSED
        return value

    def _decoded(self) -> Any:
        stored = self.stored
        if stored is None:
            initial = self.plan.initial
            return None if initial is None else initial()
        return self.plan.access.decode(stored, self.key)  # a copy: stored stays exact

    # -- ctx.session -------------------------------------------------------------------

    def get(self) -> Any:
        """``ctx.session`` (a lazy session always gives an awaitable)."""
        state = self.state
        if state is LOADED:  # strict only: the first access decodes
            stored = self.stored
            if stored is None:
                return self._materialize()
            value = self.value = self.plan.access.decode(stored, self.key)  # _materialize, inlined
            self.state = ACCESSED
            return value
        if self.plan.lazy:
            return self._lazy_get()
        if state is ACCESSED or state is ASSIGNED:
            return self.value
        raise SessionKeyError(self.plan.access_error)

    def set(self, value: Any) -> None:
        """``ctx.session = value`` (``None`` deletes at the end of the update)."""
        state = self.state
        if state is NO_KEY:
            raise SessionKeyError(self.plan.assign_error)
        if value is not None and value.__class__ not in _PLAIN and inspect.isawaitable(value):
            value = asyncio.ensure_future(value)
        if state is UNLOADED or state is LOADING:
            self.early = True
        self.value = value
        self.state = ASSIGNED

    def _lazy_get(self) -> asyncio.Future[Any]:
        state = self.state
        if state is ACCESSED:
            return _done(self.value)
        if state is ASSIGNED:
            value = self.value
            return value if isinstance(value, asyncio.Future) else _done(value)
        if (state is LOADING or state is FAILED) and self.task is not None:
            return self.task
        if state is NO_KEY:
            raise SessionKeyError(self.plan.access_error)
        # UNLOADED: start the one read of this update.
        access = self.plan.access
        try:
            if access.sync and self.try_lock():
                stored = access.read_now(self.key)  # type: ignore[attr-defined]  # sync
                if stored is NOT_JSON_BYTES:
                    stored = access.read_other(self.key)  # type: ignore[attr-defined]
                self.stored = stored
                return _done(self._materialize())
            locks = self.plan.locks
            if locks is not None and not self.locked:
                locks.refuse_reentry(self.key)  # asked here: the load task is another task
        except Exception as exc:
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)  # awaiting ctx.session re-raises it
            self.task = failed
            self.state = FAILED
            return failed
        self.task = asyncio.ensure_future(self._load_lazily())
        self.state = LOADING
        return self.task

    async def _load_lazily(self) -> Any:
        try:
            await self.lock()
            await self.read()
        except BaseException:
            if self.state is LOADING:
                self.state = FAILED
            raise
        if self.state is LOADING:
            try:
                return self._materialize()
            except BaseException:
                self.state = FAILED
                raise
        value = self.value  # assigned while loading: the assignment wins
        if not isinstance(value, asyncio.Future):
            return value
        return self._decoded()  # an assigned awaitable may be built on this read

    # -- end of update -----------------------------------------------------------------

    def decide(self) -> tuple[LeaseAction, Any]:
        """The write decision (see the module docstring): ``(KEEP, None)``,
        ``(DELETE, None)`` or ``(WRITE, stored form)``. The value must be settled.

        Raises:
            TypeError: the value is not JSON (nothing is written).
        """
        state = self.state
        if state is ACCESSED or state is ASSIGNED:
            value = self.value
            if value is None:
                return (DELETE, None) if state is ASSIGNED else (KEEP, None)
            stored = self.plan.access.encode(value)
            if self.early or self.stored is None or stored != self.stored:
                return WRITE, stored
        return KEEP, None

    async def finish(self) -> None:
        """The handler returned: settle, decide, apply, end the lease.

        The in-process lock is the caller's to release (``unlock``), unless it went on to
        the next update with the lease (then ``locked`` is already cleared).
        """
        try:
            state = self.state
            loading = self.task
            if loading is not None and state is ASSIGNED:
                with contextlib.suppress(Exception):  # the assignment wins over a failed read
                    await loading
            elif loading is not None and (state is LOADING or state is FAILED):
                await loading  # re-raises a failed read
            if isinstance(self.value, asyncio.Future):
                self.value = await self.value
            action, stored = self.decide()
            await self._apply(action, stored)
        except BaseException:
            await self.abort()  # e.g. a value that is not JSON: the unused lease still ends
            raise

    async def _apply(self, action: LeaseAction, stored: Any) -> None:
        plan = self.plan
        access = plan.access
        if action is KEEP and plan.observer is not None and self.state not in (NO_KEY, UNLOADED):
            plan.observer.write_skipped(self.key)  # read, and nothing to write
        if action is not KEEP and plan.lazy:
            await self.lock()  # a lazy session that was only assigned has not locked yet
        if access.leased:
            lease = self.lease
            if lease is None:
                if action is KEEP:
                    return
                lease = await access.acquire(self.key, read=False)
            self.lease = None
            # Not completed(): the storage's own lock covers a write cancelled in flight,
            # which stays held until the write (or the lease's expiry) ends it.
            await self._end(lease, action, stored)
        elif action is WRITE:
            await access.write(self.key, stored)  # completed(), even when cancelled
        elif action is DELETE:
            await access.delete(self.key)

    async def _end(self, lease: SessionLease, action: LeaseAction, stored: Any = None) -> None:
        """Apply ``action`` under ``lease``, then hand it (and the key) on, or release it."""
        plan = self.plan
        locks = plan.locks if self.locked else None
        # A single session hands its key on before a deferred disk flush (engine.handoff:
        # the next update runs meanwhile; bench W3 on PostgreSQL). A multi fragment keeps
        # it until then: the next update needs every fragment, and would wait per fragment.
        handed = self._handed if plan.name is None else None
        if await end_lease(lease, self.chain, locks, self.key, action, stored, handed=handed):
            self.locked = False  # the next update of this key holds it now

    def _handed(self) -> None:
        self.locked = False  # handed over: a flush that fails now must not release the key

    async def abort(self) -> None:
        """The handler raised: write nothing, stop pending work, end the lease."""
        try:
            value = self.value
            if isinstance(value, asyncio.Future) and not value.done():
                value.cancel()
            task = self.task
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    if _cancelling():
                        raise
                except Exception:
                    pass  # a failed read is not the error this update reports
        finally:
            lease = self.lease
            if lease is not None:
                # Nothing was written under it: it is handed on as it came, or released.
                self.lease = None
                with contextlib.suppress(Exception):  # the handler's error is the one to report
                    await self._end(lease, KEEP)


def _done(value: Any) -> asyncio.Future[Any]:
    """An awaitable that is already done: a lazy ``ctx.session`` once it is loaded."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
