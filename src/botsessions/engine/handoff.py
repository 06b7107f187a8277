"""Local lease handoff: the next update of a session in this process inherits the lease.

Without it, every update of a key locked across processes costs two round trips: lock
and read, then write and unlock. When another update in this process already waits for
the same key, unlocking only to lock again is wasted work: the ending update instead
writes with ``keep=True`` (the write is fenced as usual, the lease renewed and kept) and
hands the lease, whose ``value`` is now the stored value, to the waiter together with the
in-process lock (``KeyedLock.hand_over``). The waiter reads ``lease.value`` and takes no
lock: a burst of updates for one chat costs one round trip per changed update, plus one
lock per chain.

Rules:

* Only when an update of the same key already waits in this process; the lease is never
  kept "just in case".
* An update that did not change its session (or whose handler raised: it wrote nothing,
  so the lease and the stored value are still what it got) hands over with no round trip.
* A chain is capped (``HANDOFF_LIMIT`` handoffs, ``HANDOFF_WINDOW`` seconds since its
  first handoff) and then the lease is released normally, so updates of other processes,
  queued for the lock in the storage, get their turn.
* A lease whose keep-write fails (``LeaseLostError``, a storage error, cancellation) is
  released and never handed on: the next update locks afresh.
* The next update starts only once the kept write is committed (it never runs on a value
  the storage refused). A lease that can commit without waiting for the disk
  (``FlushingLease``: PostgreSQL) does so when the caller passes ``handed``: the key is
  handed on as soon as the write is committed, and the ending update then waits for the
  disk flush while the next ones already run. The lease's last write (or release) flushes
  the whole chain at once, so a burst pays one disk flush per chain instead of one per
  update (about 0.3 ms each on a local server), and every update still ends only once its
  write is durable (``bench.fsm`` on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from botsessions.engine.locks import KeyedLock
from botsessions.storage._locking import SessionLease

__all__ = [
    "HANDOFF_LIMIT",
    "HANDOFF_WINDOW",
    "FlushingLease",
    "HeldLease",
    "LeaseAction",
    "defers_flush",
    "end_lease",
    "may_hand_on",
]


class LeaseAction(enum.Enum):
    """What an ending update does to the stored session under its lease."""

    KEEP = "keep"
    """Nothing changed: the stored value stays as it is."""
    WRITE = "write"
    """Write the new stored form."""
    DELETE = "delete"
    """Delete the stored session."""


HANDOFF_LIMIT = 16
"""Consecutive local handoffs of one lease before it is released for other processes."""

HANDOFF_WINDOW = 0.5
"""Seconds after the first handoff of a chain during which it may be handed on."""


class FlushingLease(Protocol):
    """A lease whose kept writes can return once committed, before they reach the disk.

    ``write``/``delete`` with ``keep=True, flush=False`` return once the change is
    committed and visible; ``flush_mark`` counts such writes, and ``flushed(mark)`` waits
    until the first ``mark`` of them are durable (also after the lease moved on or ended).
    """

    flush_mark: int

    async def write(self, value: Any, *, keep: bool = False, flush: bool = True) -> None: ...

    async def delete(self, *, keep: bool = False, flush: bool = True) -> None: ...

    async def release(self) -> None: ...

    async def flushed(self, mark: int) -> None: ...


def defers_flush(lease: object) -> bool:
    """Whether ``lease`` is a ``FlushingLease``: it offers ``flushed(mark)``."""
    return callable(getattr(lease, "flushed", None))


class HeldLease:
    """A storage lease travelling from one update to the next with the in-process lock."""

    __slots__ = ("count", "lease", "since")

    def __init__(self, lease: SessionLease) -> None:
        self.lease = lease
        self.count = 0  # handoffs so far in this chain
        self.since = time.monotonic()

    def __repr__(self) -> str:
        return f"<HeldLease {self.lease!r} handed {self.count}x>"

    async def drop(self) -> None:
        """Release the lease: no update is left to take it over."""
        await release_quietly(self.lease)


async def release_quietly(lease: SessionLease) -> None:
    """``lease.release()``, for when another error is the one to report."""
    with contextlib.suppress(Exception):
        await lease.release()


def _may_pass(
    lease: SessionLease, chain: HeldLease | None, locks: KeyedLock | None, key: str
) -> HeldLease | None:
    """The chain to hand on when ``lease`` should go to a local waiter, else ``None``."""
    if locks is None or not locks.waiting(key):
        return None
    if chain is None:
        chain = HeldLease(lease)  # a chain starts with its first handoff
    return chain if may_hand_on(chain.count, chain.since) else None


def may_hand_on(count: int, since: float) -> bool:
    """Whether a chain handed on ``count`` times, the first at ``since`` (monotonic
    seconds), may be handed on once more (``HANDOFF_LIMIT``, ``HANDOFF_WINDOW``)."""
    return count < HANDOFF_LIMIT and time.monotonic() - since < HANDOFF_WINDOW


async def end_lease(
    lease: SessionLease,
    chain: HeldLease | None,
    locks: KeyedLock | None,
    key: str,
    action: LeaseAction,
    value: Any = None,
    *,
    handed: Callable[[], None] | None = None,
) -> bool:
    """End an update's ``lease``: apply ``action`` (keep, write ``value``, delete)
    and either hand the lease to the next local update of ``key`` or release it.

    ``locks`` is the in-process lock family when the caller holds ``key`` in it (else
    ``None``: no handoff). ``chain`` is the ``HeldLease`` the lease arrived in, if it was
    handed over. Returns ``True`` when the key was handed over: the caller no longer
    holds it (in-process or in storage) and must not release it. ``handed``, if given, is
    called at the moment of the handoff, before any further wait: then a ``FlushingLease``
    is handed on before its disk flush, which this call still awaits (see the module
    docstring), so it may raise after ``handed`` was called.

    Raises:
        LeaseLostError: the lease was lost before the write or delete; nothing was written.
        StorageError: the write or delete failed (or, after ``handed``, its flush).
    """
    held = _may_pass(lease, chain, locks, key)
    if held is None:
        if action is LeaseAction.WRITE:
            await lease.write(value)
        elif action is LeaseAction.DELETE:
            await lease.delete()
        else:
            await lease.release()
        return False
    flushing = (
        cast(FlushingLease, lease)
        if handed is not None and action is not LeaseAction.KEEP and defers_flush(lease)
        else None
    )
    if action is not LeaseAction.KEEP:
        try:
            if flushing is not None:
                await _write_unflushed(flushing, action, value)
            elif action is LeaseAction.WRITE:
                await lease.write(value, keep=True)
            else:
                await lease.delete(keep=True)
        except BaseException:
            await release_quietly(lease)  # in doubt: never hand on a lease that failed
            raise
    held.count += 1
    mark = 0 if flushing is None else flushing.flush_mark  # this update's writes
    handed_over = locks is not None and locks.hand_over(key, held)  # locks: set when held is
    if handed_over and handed is not None:
        handed()
    elif not handed_over:
        await lease.release()  # the waiter gave up meanwhile (a release flushes as well)
    if flushing is not None:
        await flushing.flushed(mark)
    return handed_over


async def _write_unflushed(lease: FlushingLease, action: LeaseAction, value: Any) -> None:
    if action is LeaseAction.WRITE:
        await lease.write(value, keep=True, flush=False)
    else:
        await lease.delete(keep=True, flush=False)
