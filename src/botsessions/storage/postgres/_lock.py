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
) -> PostgresLease:
    """Take the advisory lock of ``key`` on a pooled connection, reading the session.

    ``wait`` bounds the wait for a pooled connection (``None``: no bound), ``lock_timeout``
    (a PostgreSQL duration such as ``"10000ms"``, ``"0"`` for none) the wait for the lock.
    The connection comes from ``gate``: see ``botsessions.storage.postgres._pool``.
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
        return PostgresLease(gate, shared, sql, key, lock_id, value, ttl)


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
    """

    __slots__ = ("_gate", "_lock_id", "_shared", "_sql", "_ttl")

    def __init__(
        self,
        gate: ConnectionGate,
        shared: LockConnection,
        sql: TableSQL,
        key: str,
        lock_id: int,
        value: Any,
        ttl: float | None,
    ) -> None:
        super().__init__(key, value)
        self._ttl = ttl
        self._gate = gate
        self._shared = shared
        self._sql = sql
        self._lock_id = lock_id

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
        sql = self._sql
        return await self._call("write", sql.save, self._lock_id, self._key, data, expires, keep)

    async def _remove(self, *, keep: bool) -> bool:
        return await self._call("delete", self._sql.remove, self._lock_id, self._key, keep)

    async def _unlock(self) -> None:
        shared = self._shared
        conn = shared.conn
        try:
            async with shared.lock:
                if not is_closed(conn):
                    await conn.fetchval(self._sql.unlock, self._lock_id)
        except BaseException as exc:
            terminate(conn)  # the lock goes with the connection
            if not isinstance(exc, Exception):
                raise
        finally:
            await self._gate.lease_ended(shared, self._lock_id)

    async def _discard(self) -> None:
        terminate(self._shared.conn)
        await self._gate.lease_ended(self._shared, self._lock_id)

    async def _after_end(self) -> None:
        await self._gate.lease_ended(self._shared, self._lock_id)

    def _kept(self) -> None:
        # The lease may now move to another update: no new lease joins its connection.
        self._shared.shareable = False

    def _lost_message(self, operation: str) -> str:
        return (
            f"the connection holding the lock of session {self._key!r} was closed before "
            f"the {operation}; nothing was written"
        )
