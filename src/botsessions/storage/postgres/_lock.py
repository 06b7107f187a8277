"""The PostgreSQL session lock: a session-level advisory lock held on a pooled connection.

The lock lives exactly as long as it is held on its connection: ``acquire`` takes it (and
reads the session) in one call of the table's ``__acquire`` function, ``write``/``delete``
save and unlock in one call of ``__save``/``__remove``, ``release`` unlocks. Waiting is done
by the server (``lock_timeout`` = ``lock_wait``), so a waiter wakes the moment the holder
commits. If the holder's process dies its connection closes and the server frees the lock;
whenever this module cannot tell whether a connection still holds a lock, it closes that
connection instead of returning it to the pool. Which connection a lease gets, and who else
may run statements on it, is decided by ``_pool.ConnectionGate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from botsessions._errors import LeaseLostError, LockTimeoutError, StorageError
from botsessions.storage._jsontext import dumps_positional, loads
from botsessions.storage._lease import BaseLease
from botsessions.storage.postgres._errors import PostgresErrors
from botsessions.storage.postgres._pool import ConnectionGate, LockConnection, is_closed, terminate
from botsessions.storage.postgres._sql import TableSQL, advisory_key

__all__ = ["PostgresLease", "acquire"]

_SERVER_ENDED = frozenset({"57P01", "57P02"})  # backend terminated: its transaction aborted

GROUP_FLUSH_WAIT = 0.05
"""Seconds ``PostgresLease.flushed`` waits for the lease's end to flush before it flushes
by itself: a burst's chain of handoffs (at most 17 updates) usually ends within it."""


async def acquire(
    gate: ConnectionGate,
    sql: TableSQL,
    table: str,
    key: str,
    *,
    read: bool,
    wait: float | None,
    lock_timeout: str,
    ttl: float | None,
    can_defer_flush: bool,
) -> PostgresLease:
    """Take the advisory lock of ``key`` on a pooled connection, reading the session.

    ``wait`` bounds the wait for a pooled connection (``None``: no bound), ``lock_timeout``
    (a PostgreSQL duration such as ``"10000ms"``, ``"0"`` for none) the wait for the lock.
    The connection comes from ``gate``: see ``botsessions.storage.postgres._pool``.
    ``can_defer_flush``: the server lets us flush on demand (see ``TableSQL.flush``).
    """
    with PostgresErrors("lock", key):
        lock_id = advisory_key(table, key)
    retry = True
    while True:
        with PostgresErrors("lock", key):
            shared = await gate.lease_connection(lock_id, wait)
        conn = shared.conn
        try:
            async with shared.lock:
                with PostgresErrors("lock", key):
                    data = await conn.fetchval(
                        sql.acquire, lock_id, key, lock_timeout, read, time.time()
                    )
            value = None if data is None else loads(key, data)
        except LockTimeoutError:
            # Not locked; the failed statement left no transaction.
            await gate.lease_ended(shared, lock_id)
            raise
        except StorageError as exc:
            terminate(conn)  # it may hold the lock: closing the connection frees it
            await gate.lease_ended(shared, lock_id)
            # A pooled connection whose server process was terminated while idle fails its
            # next statement; whatever it locked is gone with it, so one retry is safe.
            if retry and _connection_died(exc):
                retry = False
                continue
            raise
        except BaseException:
            terminate(conn)
            await gate.lease_ended(shared, lock_id)
            raise
        return PostgresLease(gate, shared, sql, key, lock_id, value, ttl, can_defer_flush)


def _connection_died(exc: StorageError) -> bool:
    from asyncpg import ConnectionDoesNotExistError, InternalClientError  # loaded by now

    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _SERVER_ENDED:
        return True
    return isinstance(cause, ConnectionDoesNotExistError | InternalClientError)


class PostgresLease(BaseLease):
    """One held advisory lock: ``value`` read under it; ends with write, delete or release.

    ``write``/``delete`` save (or delete) and unlock in one function call, which checks the
    lock first; a connection that was closed (and the lock with it) raises
    ``LeaseLostError``. Whenever it is unclear whether the connection still holds the lock,
    it is closed instead of going back to the pool.

    A kept write or delete with ``flush=False`` returns once it is committed (visible to
    every connection), without waiting for the disk; ``flushed(mark)`` then waits until
    the kept writes counted by ``flush_mark`` are durable. The end of the lease (a write, a
    delete, or a release after such writes) makes them durable at once, so ``flushed`` first
    waits for it (up to ``GROUP_FLUSH_WAIT``) and flushes by itself only after that. A
    burst handed from update to update thus pays one disk flush per chain instead of one
    per update, and no update ends before its write is on disk (``engine.handoff``;
    ``bench.fsm`` on PostgreSQL shows the gain). Where the server refuses the flush
    function to this role (``can_defer_flush`` false), every write waits for the disk.
    """

    __slots__ = (
        "_can_defer",
        "_durable",
        "_ended",
        "_gate",
        "_lock_id",
        "_on_disk",
        "_over",
        "_shared",
        "_sql",
        "_ttl",
        "flush_mark",
    )

    def __init__(
        self,
        gate: ConnectionGate,
        shared: LockConnection,
        sql: TableSQL,
        key: str,
        lock_id: int,
        value: Any,
        ttl: float | None,
        can_defer_flush: bool,
    ) -> None:
        super().__init__(key, value)
        self._gate, self._shared, self._sql = gate, shared, sql
        self._lock_id, self._ttl = lock_id, ttl
        self._can_defer = can_defer_flush
        self._durable = True  # whether the save or delete under way waits for the disk
        self.flush_mark = 0  # kept writes committed so far without waiting for the disk
        self._on_disk = 0  # how many of them are known to be on disk
        self._over = False  # the lease ended and its connection was handed back
        self._ended: asyncio.Event | None = None  # set then, for ``flushed`` waiting on it

    async def write(self, value: Any, *, keep: bool = False, flush: bool = True) -> None:
        """``BaseLease.write``; with ``keep=True, flush=False`` it does not wait for the disk."""
        self._durable = flush or not keep or not self._can_defer
        await super().write(value, keep=keep)

    async def delete(self, *, keep: bool = False, flush: bool = True) -> None:
        """``BaseLease.delete``; with ``keep=True, flush=False`` it does not wait for the disk."""
        self._durable = flush or not keep or not self._can_defer
        await super().delete(keep=keep)

    async def flushed(self, mark: int) -> None:
        """Wait until the first ``mark`` kept writes without flush are on disk.

        Safe to call after the lease moved on to another update, or ended.

        Raises:
            StorageError: PostgreSQL could not be reached to flush.
        """
        if self._on_disk >= mark:
            return
        if not self._over:
            if self._ended is None:
                self._ended = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GROUP_FLUSH_WAIT):
                    await self._ended.wait()
            if self._on_disk >= mark:
                return
        shared = self._shared
        if shared.usable():
            with contextlib.suppress(StorageError), PostgresErrors("flush", self._key):
                if await self._gate.run_on(shared, self._sql.flush):
                    self._on_disk = max(self._on_disk, mark)
        if self._on_disk < mark:
            # The lease's connection went away first (closed, or its lease ended without a
            # flush): the writes were committed, and a flush on any connection covers them.
            with PostgresErrors("flush", self._key):
                await self._gate.fetchval(self._sql.flush)
            self._on_disk = max(self._on_disk, mark)

    def _saved(self, done: bool, mark: int, *, wrote: bool) -> bool:
        if done:
            if not self._durable:
                self.flush_mark += 1
            elif wrote:
                # A synchronous commit flushes all WAL before it; a delete that found no
                # row wrote none, so only an upsert is sure to have flushed (``flushed``
                # covers what a delete did not).
                self._on_disk = max(self._on_disk, mark)
        return done

    async def _call(self, operation: str, statement: str, *args: Any) -> bool:
        shared = self._shared
        try:
            async with shared.lock:
                conn = shared.conn
                if is_closed(conn):
                    return False
                with PostgresErrors(operation, self._key):
                    return bool(await conn.fetchval(statement, *args))
        except StorageError as exc:
            if getattr(exc.__cause__, "sqlstate", None) in _SERVER_ENDED:
                raise LeaseLostError(self._lost_message(operation), key=self._key) from exc
            raise

    # -- BaseLease hooks ---------------------------------------------------------------------

    def _encode(self, value: Any) -> str:
        return dumps_positional(self._key, value)

    async def _save(self, data: str, *, keep: bool) -> bool:
        expires = None if self._ttl is None else time.time() + self._ttl
        sql, key, durable, mark = self._sql, self._key, self._durable, self.flush_mark
        args = (self._lock_id, key, data, expires, keep, durable)
        return self._saved(await self._call("write", sql.save, *args), mark, wrote=True)

    async def _remove(self, *, keep: bool) -> bool:
        args = (self._lock_id, self._key, keep, self._durable)
        mark = self.flush_mark
        return self._saved(await self._call("delete", self._sql.remove, *args), mark, wrote=False)

    async def _unlock(self) -> None:
        shared = self._shared
        conn = shared.conn
        mark = self.flush_mark
        statement = self._sql.unlock if self._on_disk >= mark else self._sql.unlock_flush
        try:
            async with shared.lock:
                if not is_closed(conn):
                    await conn.fetchval(statement, self._lock_id)
                    self._on_disk = max(self._on_disk, mark)
        except BaseException as exc:
            terminate(conn)  # the lock goes with the connection
            if not isinstance(exc, Exception):
                raise
        finally:
            await self._connection_done()

    async def _discard(self) -> None:
        terminate(self._shared.conn)
        await self._connection_done()

    async def _after_end(self) -> None:
        await self._connection_done()

    async def _connection_done(self) -> None:
        try:
            await self._gate.lease_ended(self._shared, self._lock_id)
        finally:
            self._over = True
            if self._ended is not None:
                self._ended.set()

    def _kept(self) -> None:
        # The lease may now move to another update: no new lease joins its connection.
        self._shared.shareable = False

    def _lost_message(self, operation: str) -> str:
        return (
            f"the connection holding the lock of session {self._key!r} was closed before "
            f"the {operation}; nothing was written"
        )
