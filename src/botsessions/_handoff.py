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

* Only for leases whose ``write`` and ``delete`` accept ``keep`` (checked once per lease
  type); other leases end every update as before.
* Only when an update of the same key already waits in this process; the lease is never
  kept "just in case".
* An update that did not change its session (or whose handler raised: it wrote nothing,
  so the lease and the stored value are still what it got) hands over with no round trip.
* A chain is capped (``HANDOFF_LIMIT`` handoffs, ``HANDOFF_WINDOW`` seconds since its
  first handoff) and then the lease is released normally, so updates of other processes,
  queued for the lock in the storage, get their turn.
* A lease whose keep-write fails (``LeaseLostError``, a storage error, cancellation) is
  released and never handed on: the next update locks afresh.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from typing import Any, cast

from botsessions._locks import KeyedLock
from botsessions.storage._protocol import KeepingLease, SessionLease

__all__ = ["DELETE", "HANDOFF_LIMIT", "HANDOFF_WINDOW", "KEEP", "WRITE", "HeldLease", "end_lease"]

KEEP, WRITE, DELETE = 0, 1, 2
"""What the ending update does to the stored session: nothing, write, delete."""

HANDOFF_LIMIT = 16
"""Consecutive local handoffs of one lease before it is released for other processes."""

HANDOFF_WINDOW = 0.5
"""Seconds after the first handoff of a chain during which it may be handed on."""

_keeps: dict[type, bool] = {}


def keeps(lease: SessionLease) -> bool:
    """Whether this type of lease can write or delete and keep the lock (``keep=True``)."""
    cls = type(lease)
    known = _keeps.get(cls)
    if known is None:
        known = _keeps[cls] = _accepts_keep(getattr(cls, "write", None)) and _accepts_keep(
            getattr(cls, "delete", None)
        )
    return known


def _accepts_keep(method: Any) -> bool:
    try:
        parameter = inspect.signature(method).parameters.get("keep")
    except (TypeError, ValueError):  # not a function, or no signature to inspect
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


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
    if locks is None or not locks.waiting(key) or not keeps(lease):
        return None
    if chain is None:
        chain = HeldLease(lease)  # a chain starts with its first handoff
    if chain.count >= HANDOFF_LIMIT or time.monotonic() - chain.since >= HANDOFF_WINDOW:
        return None
    return chain


async def end_lease(
    lease: SessionLease,
    chain: HeldLease | None,
    locks: KeyedLock | None,
    key: str,
    action: int,
    value: Any = None,
) -> bool:
    """End an update's ``lease``: apply ``action`` (``KEEP``, ``WRITE`` ``value``, ``DELETE``)
    and either hand the lease to the next local update of ``key`` or release it.

    ``locks`` is the in-process lock family when the caller holds ``key`` in it (else
    ``None``: no handoff). ``chain`` is the ``HeldLease`` the lease arrived in, if it was
    handed over. Returns ``True`` when the key was handed over: the caller no longer
    holds it (in-process or in storage) and must not release it.

    Raises:
        LeaseLostError: the lease was lost before the write or delete; nothing was written.
        StorageError: the write or delete failed.
    """
    held = _may_pass(lease, chain, locks, key)
    if held is None:
        if action == WRITE:
            await lease.write(value)
        elif action == DELETE:
            await lease.delete()
        else:
            await lease.release()
        return False
    if action != KEEP:
        keeping = cast(KeepingLease, lease)  # keeps(lease) checked its signature
        try:
            if action == WRITE:
                await keeping.write(value, keep=True)
            else:
                await keeping.delete(keep=True)
        except BaseException:
            await release_quietly(lease)  # in doubt: never hand on a lease that failed
            raise
    held.count += 1
    if cast(KeyedLock, locks).hand_over(key, held):  # _may_pass checked it is not None
        return True
    await lease.release()  # the waiter gave up meanwhile
    return False
