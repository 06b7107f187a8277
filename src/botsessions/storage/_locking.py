"""The locking protocol: how a storage locks one session key across processes.

A storage that implements ``LockingStorage`` gets the same guarantee as ``RedisStorage``
and ``PostgresStorage``: updates that share a session key never lose each other's writes,
even when they run in different processes. The engine uses the capability on its own
whenever a session's storage has it (and ``locking=True``, the default).

The protocol, as the engine drives it for one update of one key::

    lease = await storage.acquire(key, read=True)   # waits for the lock; reads the value
    ...                                             # the handler runs; lease.value is the
                                                    # stored value (None when missing)
    await lease.write(new_value)                    # or lease.delete(), or lease.release()

* ``acquire`` waits for the key's lock (the storage owns how long: it raises
  ``LockTimeoutError`` past its limit) and takes a *lease*: a lock that expires by itself
  after a while unless renewed, so a process that dies while holding it frees the key.
  With ``read=True`` it also reads the stored value, in the same round trip where the
  backend allows; with ``read=False`` ``lease.value`` is ``None``.
* Exactly one of ``write``, ``delete`` or ``release`` ends the lease. ``write`` and
  ``delete`` check the lease first and raise ``LeaseLostError`` without touching the data
  when it was lost (expired and taken by another process); ``release`` never raises for
  a lost lease and may be called again.
* ``keep=True`` (handoff): write or delete under the lease, renew it, and keep holding
  it; ``lease.value`` becomes the written value (``None`` after a delete). The engine does
  this when another update of the same key already waits in this process, and hands the
  lease over to it instead of unlocking and locking again.
* Waiters are served first come, first served across processes, and a waiter that is
  cancelled leaves the line without taking (or leaking) the lock.

``botsessions.testing.LockingConformance`` checks all of this against a real backend.

Optional, for a backend whose commit is cheap but whose disk flush is not (as
``PostgresStorage``'s): a lease whose ``write``/``delete`` also take ``flush=False`` (with
``keep=True``: return once the change is committed and visible, before it is durable),
count such writes in ``flush_mark`` and offer ``await lease.flushed(mark)`` (the first
``mark`` of them are durable) is a ``FlushingLease`` (``botsessions.engine.handoff``). In a
burst of one key the engine then hands the lease on before the flush, and each update
still ends only once its own write is durable.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["LockingStorage", "SessionLease"]


class SessionLease(Protocol):
    """One held lock on one session key, returned by ``LockingStorage.acquire``.

    ``value`` is the stored value read while locking (``None`` when missing or when the
    lock was taken with ``read=False``). The holder ends the lease with exactly one of
    ``write``, ``delete`` or ``release``; with ``keep=True`` a write or delete keeps the
    lease held, to be ended later.
    """

    value: Any

    async def write(self, value: Any, *, keep: bool = False) -> None:
        """Write ``value``, then release the lock unless ``keep``.

        Raises:
            LeaseLostError: the lease expired or was taken over; nothing was written.
        """

    async def delete(self, *, keep: bool = False) -> None:
        """Delete the session, then release the lock unless ``keep``; same guarantee."""

    async def release(self) -> None:
        """Release without writing. Idempotent; silent when the lease is already gone."""


@runtime_checkable
class LockingStorage(Protocol):
    """A storage that can lock one session key for the length of an update.

    The storage owns its lock settings (how long to wait, how long a lease lasts).
    ``acquire(key, read=True)`` also reads the value, in the same round trip where the
    backend allows. See the module documentation for the full protocol.
    """

    async def acquire(self, key: str, *, read: bool) -> SessionLease: ...
