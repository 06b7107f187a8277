"""The session engine: one property of one update, from load to save.

``PropertySession`` drives a strict session, a lazy session and every fragment of a
multi session alike; ``_single.py`` and ``_multi.py`` wrap it into the per-update context
managers the middlewares use. It knows no framework and no driver: storages are seen
through a ``StorageView`` (precomputed in ``_spec.PropertySpec``) and values through a
``Codec``.

States (``PropertySession.state``), one instance per update and property:

``NO_KEY``
    The key function gave ``None``. Reading or assigning raises ``SessionKeyError``;
    the update passes through with no lock and no storage call.
``UNLOADED`` (lazy only)
    Key known, nothing done yet. Nothing is locked or read until the first access.
    Reading -> ``LOADING`` (or straight to ``ACCESSED`` when the lock is free and the
    storage is synchronous); assigning -> ``ASSIGNED``.
``LOADING`` (lazy only)
    One load task runs: take the key's lock, then read (or take the storage's lease).
    Every read of ``ctx.session`` returns that same task. Assigning -> ``ASSIGNED``
    and the read's result is discarded.
``LOADED`` (strict only)
    Locked and read before the handler runs; the raw stored form is kept, not yet
    decoded (an update that never touches its session pays no decoding). A storage that
    keeps JSON bytes (``MemorySessionStorage``) hands over those bytes (``blob``), which
    are decoded once on access and compared as bytes at the end. Reading
    -> ``ACCESSED``; assigning -> ``ASSIGNED``.
``ACCESSED``
    The handler holds the value: a decoded copy of the stored form (the raw form itself
    stays untouched, to compare against at the end) or ``initial()`` when storage had
    none. Assigning -> ``ASSIGNED``.
``ASSIGNED``
    The handler assigned a value, ``None``, or an awaitable (kept in a shared future so
    it can be awaited more than once).
``FAILED`` (lazy only)
    The load failed; awaiting ``ctx.session`` re-raises, and so does the end of the
    update unless a value was assigned afterwards.

End of the update (``finish`` when the handler returned, ``abort`` when it raised):

* ``abort``: nothing is written or deleted; pending work is cancelled; the lease and
  the lock are released (or handed on together, see below).
* ``NO_KEY`` / ``UNLOADED`` / ``LOADED``: no write (the lease, if any, is released).
* ``ACCESSED``: written only if the encoded value differs (``!=``) from what storage
  returned (always when storage had nothing). A value of ``None`` (read, no
  ``initial``) is not a change.
* ``ASSIGNED``: an awaitable is awaited first; ``None`` deletes; any other value is
  written if it differs from the stored form, and always when the lazy read had not
  finished when the assignment happened.

A lazy read that is still running when a value is assigned keeps going; whoever awaits
it gets the assigned value, or the loaded value when the assignment was itself an
awaitable (so ``ctx.session = bump(ctx.session)`` cannot wait for itself).

Storage leases: when another update of the same key already waits in this process, the
ending update keeps the storage lock (writing with ``keep=True``) and hands the lease to
it with the in-process lock; that update then starts ``LOADED`` from ``lease.value``
without locking or reading (``_handoff``). Every way out of an update ends its lease or
hands it on, including failures while saving.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable
from typing import Any

from botsessions._errors import SessionKeyError
from botsessions._handoff import DELETE, KEEP, WRITE, HeldLease, end_lease
from botsessions._lazy import LazyLoading
from botsessions._spec import (
    ACCESSED,
    ASSIGNED,
    FAILED,
    LOADED,
    LOADING,
    NO_KEY,
    PLAIN,
    UNLOADED,
    PropertySpec,
    coerce_key,
)
from botsessions.storage._protocol import SessionLease, is_pending

__all__ = ["ACCESSED", "LOADED", "NO_KEY", "UNLOADED", "PropertySession"]


class PropertySession(LazyLoading):
    """One session property of one update (see the module docstring for the states)."""

    __slots__ = (
        "blob",
        "chain",
        "early",
        "key",
        "lease",
        "locked",
        "owner",
        "raw",
        "spec",
        "state",
        "task",
        "value",
    )

    def __init__(self, spec: PropertySpec) -> None:
        self.spec = spec
        self.key: str = None  # type: ignore[assignment]  # a str unless state is NO_KEY
        self.state = NO_KEY
        self.raw: Any = None
        self.blob: bytes | None = None
        self.value: Any = None
        self.lease: SessionLease | None = None
        self.chain: HeldLease | None = None  # how the lease was handed over, if it was
        self.locked = False
        self.early = False
        self.task: asyncio.Future[Any] | None = None
        self.owner: Any = None

    # -- key -------------------------------------------------------------------------

    def key_now(self, ctx: Any) -> Awaitable[None] | None:
        """Compute the key (once per update, before any storage call); an awaitable when
        the key function is ``async`` or gave something other than a str or ``None``."""
        spec = self.spec
        key = spec.get_key(ctx)
        if key.__class__ is str:
            self.key = spec.prefix + key if spec.prefix else key
            return None
        return None if key is None else self._coerce_key(key)

    async def _coerce_key(self, key: Any) -> None:
        spec = self.spec
        key = await coerce_key(key, spec)
        if key is not None:
            self.key = spec.prefix + key if spec.prefix else key

    # -- loading ---------------------------------------------------------------------

    async def lock(self) -> None:
        """Take the in-process lock of this key (the update's task is the owner)."""
        locks = self.spec.locks
        if locks is not None:
            key: str = self.key
            if not locks.try_acquire(key, self.owner):
                held = await locks.acquire(key, self.owner, self.spec.lock_timeout)
                if held is not None:
                    self.take(held)
            self.locked = True

    def take(self, held: Any) -> None:
        """Go on under a storage lease handed over with the in-process lock (a
        ``HeldLease``): its ``value`` is the stored value, so no read is needed."""
        self.chain = held
        lease = self.lease = held.lease
        self.raw = lease.value

    def unlock(self) -> None:
        if self.locked:
            self.locked = False
            self.spec.locks.release(self.key)  # type: ignore[union-attr]  # locked: set

    async def read(self) -> None:
        """Read the stored form (through the storage's lease when it has one)."""
        spec = self.spec
        key: str = self.key
        if self.lease is not None:  # handed over: it holds the stored value
            self.raw = self.lease.value
        elif spec.lease is not None:
            lease = await spec.lease(key, read=True)
            self.lease = lease
            self.raw = lease.value
        elif spec.read_blob is not None:
            self.read_blob_now()
        elif spec.sync_read is not None:
            raw = spec.sync_read(key)
            self.raw = await raw if is_pending(raw) else raw
        else:
            self.raw = await spec.read(key)

    def read_blob_now(self) -> None:
        """``read`` for a storage that keeps JSON bytes (synchronous, never pending)."""
        blob = self.spec.read_blob(self.key)  # type: ignore[misc]  # set: called
        if blob.__class__ is bytes:
            self.blob = blob
        elif blob is not None:  # NOT_JSON: kept as a copy, read the usual way
            self.raw = self.spec.sync_read(self.key)  # type: ignore[misc]  # sync storage

    def _decoded(self) -> Any:
        """The session value made from the stored form (``initial()`` when there is none)."""
        blob = self.blob
        if blob is not None:
            return self.spec.decode_blob(blob, self.key)
        raw = self.raw
        if raw is None:
            initial = self.spec.initial
            return None if initial is None else initial()
        return self.spec.decode(raw, self.key)  # a copy: raw stays as stored

    def _materialize(self) -> Any:
        value = self.value = self._decoded()
        self.state = ACCESSED
        return value

    # -- ctx.session -----------------------------------------------------------------

    def get(self) -> Any:
        """``ctx.session`` (a lazy session always gives an awaitable)."""
        state = self.state
        if self.spec.lazy:
            return self._lazy_get(state)
        if state in (ACCESSED, ASSIGNED):
            return self.value
        if state == LOADED:
            blob = self.blob
            if blob is None:
                return self._materialize()
            value = self.value = self.spec.decode_blob(blob, self.key)  # _materialize, inlined
            self.state = ACCESSED
            return value
        raise SessionKeyError(self.spec.access_error)

    def set(self, value: Any) -> None:
        """``ctx.session = value`` (``None`` deletes at the end of the update)."""
        state = self.state
        if state == NO_KEY:
            raise SessionKeyError(self.spec.assign_error)
        if value is not None and value.__class__ not in PLAIN and inspect.isawaitable(value):
            value = asyncio.ensure_future(value)
        if state in (UNLOADED, LOADING):
            self.early = True  # the read, if any, loses
        self.value = value
        self.state = ASSIGNED

    # -- end of update ---------------------------------------------------------------

    def save_now(self) -> Awaitable[None] | None:
        """The handler returned: write what changed, end the lease. ``None`` when that
        finished synchronously, else an awaitable that does it (``finish``). The
        in-process lock is the caller's to release."""
        state = self.state
        if state == ACCESSED:
            spec = self.spec
            value = self.value
            if value is None:  # read as None (no initial) and left alone: not a change
                return None if self.lease is None else self.finish()
            if spec.write_blob is not None:
                blob = spec.encode_blob(value)
                if blob is None:
                    return self.finish()  # encode decides: a path-naming error, or a big int
                if blob != self.blob:
                    spec.write_blob(self.key, blob)
                return None
            if spec.plain:
                encoded = spec.encode(value)
                raw = self.raw
                if raw is None or encoded != raw:
                    result = spec.sync_write(self.key, encoded)  # type: ignore[misc]  # plain
                    if result is not None:
                        return result  # type: ignore[no-any-return]  # a pending write
                return None
        elif state == NO_KEY or (state == LOADED and self.lease is None):
            return None  # never accessed: nothing to write, no lease to end
        return self.finish()

    async def finish(self) -> None:
        """The handler returned: write or delete what changed, end the lease.

        The in-process lock is released by the caller (``unlock``), always, unless it
        went to the next update with the lease (then ``locked`` is cleared).
        """
        try:
            state = self.state
            if state in (LOADING, FAILED) or (state == ASSIGNED and self.task is not None):
                state = await self._await_load(state)
            if state in (ACCESSED, ASSIGNED):
                value = self.value
                if isinstance(value, asyncio.Future):
                    value = await value
                if value is None:
                    if state == ASSIGNED:
                        await self._store(delete=True)
                        return
                elif (
                    self.spec.write_blob is not None
                    and (blob := self.spec.encode_blob(value)) is not None
                ):
                    if self.early or blob != self.blob:
                        await self._store(blob, as_blob=True)
                        return
                else:
                    encoded = self.spec.encode(value)
                    if self._changed(encoded):
                        await self._store(encoded)
                        return
            lease = self.lease
            if lease is not None:
                self.lease = None
                await self._end(lease, KEEP)
        except BaseException:
            await self.abort()  # e.g. a value that is not JSON: the unused lease still ends
            raise

    def _changed(self, encoded: Any) -> bool:
        # The codec's decode copies, so raw is still exactly what storage returned. A blob
        # read with a value encode_blob refused (an int beyond 64 bits) is a change.
        return self.early or self.raw is None or bool(encoded != self.raw)

    async def _store(
        self, value: Any = None, *, delete: bool = False, as_blob: bool = False
    ) -> None:
        spec = self.spec
        key: str = self.key
        if spec.lazy and not self.locked and spec.locks is not None:
            await self.lock()  # a lazy session that was only assigned
        if as_blob:
            spec.write_blob(key, value)  # type: ignore[misc]  # as_blob: set
            return
        if self.lease is None and spec.lease is not None:
            self.lease = await spec.lease(key, read=False)
        lease = self.lease
        if lease is not None:
            self.lease = None
            await self._end(lease, DELETE if delete else WRITE, value)
        elif delete:
            if spec.sync_delete is not None:
                result = spec.sync_delete(key)
                if result is not None:
                    await result
            else:
                await spec.view.delete(key)
        elif spec.sync_write is not None:
            result = spec.sync_write(key, value)
            if result is not None:
                await result
        else:
            await spec.view.write(key, value)

    async def _end(self, lease: SessionLease, action: int, value: Any = None) -> None:
        """Apply ``action`` under ``lease``, then hand it (and the key) on, or release it."""
        locks = self.spec.locks if self.locked else None
        if await end_lease(lease, self.chain, locks, self.key, action, value):
            self.locked = False  # the next update of this key holds it now

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


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
