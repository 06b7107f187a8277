"""``BaseLease``: the part of a ``SessionLease`` every locking backend shares.

A backend lease subclasses it and supplies the I/O: ``_encode`` (value -> stored form),
``_save`` / ``_remove`` (write or delete under the lock, then unlock, or keep and renew the
lock with ``keep=True``; ``False`` when the lock turned out to be lost), ``_unlock`` (quiet
release), ``_discard`` (clean up after a failed end) and the small hooks below. The base
owns the rules of the protocol (``botsessions.storage._locking``):

* a lease ends exactly once, with ``write``, ``delete`` or ``release``; a second
  ``write``/``delete`` raises ``RuntimeError``, a second ``release`` does nothing;
* ``write``/``delete`` that find the lock lost raise ``LeaseLostError`` and end the lease
  (nothing was written); any other failure ends it too, after ``_discard``;
* ``keep=True`` leaves the lease held on success, with ``value`` set to what was written
  (``None`` after a delete);
* ``release`` never raises for a lost lease or an unreachable backend.

Lost leases and lock waits that ran out are logged as warnings by the
``botsessions.storage`` logger (``log_lock_timeout``), without the session key: the
raised error carries it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from botsessions._errors import LeaseLostError
from botsessions._options import duration

__all__ = ["BaseLease", "lease_seconds", "log_lock_timeout"]

logger = logging.getLogger("botsessions.storage")


def log_lock_timeout(backend: str, wait: float | None) -> None:
    """Log that a session lock was not taken within ``wait`` seconds (``lock_wait``)."""
    limit = "lock_wait" if wait is None else f"lock_wait={wait:g} s"
    logger.warning(
        "%s: a session stayed locked by another update for %s; the update failed "
        "(a handler may be stuck, or lock_wait is too short)",
        backend,
        limit,
    )


def _log_lost(lease: object, operation: str) -> None:
    logger.warning(
        "%s: the lease of a session was lost before the %s, nothing was written "
        "(a handler ran longer than lock_lease, or the process stalled)",
        type(lease).__name__,
        operation,
    )


class BaseLease:
    """One held lock on one session key; subclasses provide the backend's I/O."""

    __slots__ = ("_done", "_key", "value")

    def __init__(self, key: str, value: Any) -> None:
        self._key = key
        self.value = value
        self._done = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self._key!r} {'done' if self._done else 'held'}>"

    async def write(self, value: Any, *, keep: bool = False) -> None:
        """Write ``value``, then release the lock unless ``keep``.

        With ``keep=True`` the lock stays held (and is renewed): the write is committed and
        visible to other processes, and ``value`` becomes this lease's ``value``.

        Raises:
            LeaseLostError: the lock expired or was taken over; nothing was written.
            TypeError: ``value`` is not JSON data (the lease is still held).
        """
        data = self._encode(value)  # before any I/O: a refused value leaves the lease held
        self._begin(keep)
        await self._finish("write", keep, await self._attempt(self._save(data, keep=keep), "write"))
        self.value = value

    async def delete(self, *, keep: bool = False) -> None:
        """Delete the session, then release the lock unless ``keep``; same guarantee."""
        self._begin(keep)
        await self._finish("delete", keep, await self._attempt(self._remove(keep=keep), "delete"))
        self.value = None

    async def release(self) -> None:
        """Release without writing. Idempotent; silent when the lease is already gone."""
        if self._done:
            return
        self._end()
        await self._unlock()

    # -- the template ------------------------------------------------------------------------

    def _begin(self, keep: bool) -> None:
        if self._done:
            raise RuntimeError(f"the lease of session {self._key!r} already ended")
        if not keep:
            self._end()  # ended from here on, whatever the I/O below does

    async def _attempt(self, io: Any, operation: str) -> bool:
        try:
            done: bool = await io
        except BaseException as exc:
            if isinstance(exc, LeaseLostError):  # a backend that learns it from an error
                _log_lost(self, operation)
            if not self._done:
                self._end()
            await self._discard()
            raise
        return done

    async def _finish(self, operation: str, keep: bool, done: bool) -> None:
        if not done:
            if not self._done:
                self._end()
            await self._discard()
            _log_lost(self, operation)
            raise LeaseLostError(self._lost_message(operation), key=self._key)
        if keep:
            self._kept()
        else:
            await self._after_end()

    def _end(self) -> None:
        self._done = True
        self._stop()

    # -- backend hooks -----------------------------------------------------------------------

    def _encode(self, value: Any) -> Any:
        raise NotImplementedError

    async def _save(self, data: Any, *, keep: bool) -> bool:
        raise NotImplementedError

    async def _remove(self, *, keep: bool) -> bool:
        raise NotImplementedError

    async def _unlock(self) -> None:
        """Release the lock; never raises an ``Exception`` (the lock frees itself later)."""
        raise NotImplementedError

    async def _discard(self) -> None:
        """After a failed or lost end: make sure the lock goes (quietly). Default: unlock."""
        await self._unlock()

    async def _after_end(self) -> None:
        """After a successful end that released the lock (nothing by default)."""

    def _stop(self) -> None:
        """The lease just ended: stop renewing it (nothing by default)."""

    def _kept(self) -> None:
        """A ``keep=True`` write or delete succeeded and renewed the lease."""

    def _lost_message(self, operation: str) -> str:
        return (
            f"the lock of session {self._key!r} was lost before the {operation}; "
            "nothing was written"
        )


def lease_seconds(value: float | timedelta | None, *, maximum: float) -> float:
    """The ``lock_lease`` option in seconds: positive, finite and at most ``maximum``.

    Unlike other durations it cannot be ``None`` or infinite: a lease has to expire so that
    the sessions a crashed process held become free again.
    """
    seconds = duration(value, what="lock_lease", maximum=maximum)
    if seconds is None:
        raise ValueError(
            f"lock_lease must be a finite number of seconds, got {value!r}: a lease has to "
            "expire so that a crashed process frees the sessions it held"
        )
    return seconds
