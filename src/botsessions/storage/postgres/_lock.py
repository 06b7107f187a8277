"""The PostgreSQL session lock: a session-level advisory lock held on a pooled connection.

The lock lives exactly as long as it is held on its connection: ``acquire`` takes it (and
reads the session) in one call of the table's ``__acquire`` function, ``write``/``delete``
save and unlock in one call of ``__save``/``__remove``, ``release`` unlocks. Waiting is done
by the server (``lock_timeout`` = ``lock_wait``), so a waiter wakes the moment the holder
commits. If the holder's process dies its connection closes and the server frees the lock;
whenever this module cannot tell whether a connection still holds a lock, it closes that
connection instead of returning it to the pool.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botsessions._errors import LeaseLostError, LockTimeoutError, StorageError
from botsessions.storage._jsontext import dumps_positional, loads
from botsessions.storage._lease import BaseLease
from botsessions.storage.postgres._errors import PostgresErrors
from botsessions.storage.postgres._sql import TableSQL, advisory_key

if TYPE_CHECKING:
    from asyncpg import Pool
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["PostgresLease", "acquire"]

_SERVER_ENDED = frozenset({"57P01", "57P02"})  # backend terminated: its transaction aborted


async def acquire(
    pool: Pool,
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
    """
    with PostgresErrors("lock", key):
        lock_id = advisory_key(table, key)
    retry = True
    while True:
        with PostgresErrors("lock", key):
            conn = await pool.acquire(timeout=wait)
        try:
            with PostgresErrors("lock", key):
                data = await conn.fetchval(
                    sql.acquire, lock_id, key, lock_timeout, read, time.time()
                )
            value = None if data is None else loads(key, data)
        except LockTimeoutError:
            await pool.release(conn)  # not locked; the failed statement left no transaction
            raise
        except StorageError as exc:
            _terminate(conn)  # it may hold the lock: closing the connection frees it
            await pool.release(conn)
            # A pooled connection whose server process was terminated while idle fails its
            # next statement; whatever it locked is gone with it, so one retry is safe.
            if retry and _connection_died(exc):
                retry = False
                continue
            raise
        except BaseException:
            _terminate(conn)
            await pool.release(conn)
            raise
        return PostgresLease(pool, conn, sql, key, lock_id, value, ttl)


def _connection_died(exc: StorageError) -> bool:
    from asyncpg import ConnectionDoesNotExistError, InternalClientError  # loaded by now

    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _SERVER_ENDED:
        return True
    return isinstance(cause, ConnectionDoesNotExistError | InternalClientError)


def _is_closed(conn: PoolConnectionProxy) -> bool:
    try:
        return conn.is_closed()
    except Exception:  # asyncpg detaches the proxy of a connection the server closed
        return True


def _terminate(conn: PoolConnectionProxy) -> None:
    try:
        conn.terminate()
    except Exception:  # already detached: the connection is gone, and the lock with it
        return


class PostgresLease(BaseLease):
    """One held advisory lock: ``value`` read under it; ends with write, delete or release.

    ``write``/``delete`` save (or delete) and unlock in one function call, which checks the
    lock first; a connection that was closed (and the lock with it) raises
    ``LeaseLostError``. Whenever it is unclear whether the connection still holds the lock,
    it is closed instead of going back to the pool.
    """

    __slots__ = ("_conn", "_lock_id", "_pool", "_sql", "_ttl")

    def __init__(
        self,
        pool: Pool,
        conn: PoolConnectionProxy,
        sql: TableSQL,
        key: str,
        lock_id: int,
        value: Any,
        ttl: float | None,
    ) -> None:
        super().__init__(key, value)
        self._ttl = ttl
        self._pool = pool
        self._conn = conn
        self._sql = sql
        self._lock_id = lock_id

    async def _call(self, operation: str, statement: str, *args: Any) -> bool:
        conn = self._conn
        if _is_closed(conn):
            return False
        try:
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
        conn = self._conn
        try:
            if not _is_closed(conn):
                await conn.fetchval(self._sql.unlock, self._lock_id)
        except BaseException as exc:
            _terminate(conn)  # the lock goes with the connection
            if not isinstance(exc, Exception):
                raise
        finally:
            await self._pool.release(conn)

    async def _discard(self) -> None:
        _terminate(self._conn)
        await self._pool.release(self._conn)

    async def _after_end(self) -> None:
        await self._pool.release(self._conn)

    def _lost_message(self, operation: str) -> str:
        return (
            f"the connection holding the lock of session {self._key!r} was closed before "
            f"the {operation}; nothing was written"
        )
