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
from botsessions.storage._jsonvalue import dumps_for_numeric, loads_exact
from botsessions.storage._postgres_errors import PostgresErrors
from botsessions.storage._postgres_sql import TableSQL, advisory_key

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
    wait: float,
    lock_timeout: str,
    ttl: float | None,
) -> PostgresLease:
    """Take the advisory lock of ``key`` on a pooled connection, reading the session.

    ``wait`` bounds the wait for a pooled connection, ``lock_timeout`` (a PostgreSQL
    duration such as ``"10000ms"``) the wait for the lock itself.
    """
    lock_id = advisory_key(table, key)
    with PostgresErrors("lock", key):
        conn = await pool.acquire(timeout=wait)
    try:
        with PostgresErrors("lock", key):
            data = await conn.fetchval(sql.acquire, lock_id, key, lock_timeout, read, time.time())
        value = None if data is None else loads_exact(key, data)
    except LockTimeoutError:
        await pool.release(conn)  # not locked; the failed statement left no transaction open
        raise
    except BaseException:
        _terminate(conn)  # it may hold the lock: closing the connection frees it
        await pool.release(conn)
        raise
    return PostgresLease(pool, conn, sql, key, lock_id, value, ttl)


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


class PostgresLease:
    """One held advisory lock: ``value`` read under it; ends with write, delete or release."""

    __slots__ = ("_conn", "_done", "_key", "_lock_id", "_pool", "_sql", "_ttl", "value")

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
        self._ttl = ttl
        self._pool = pool
        self._conn = conn
        self._sql = sql
        self._key = key
        self._lock_id = lock_id
        self.value = value
        self._done = False

    def __repr__(self) -> str:
        state = "done" if self._done else "held"
        return f"<PostgresLease key={self._key!r} {state}>"

    def _lost(self, operation: str) -> LeaseLostError:
        return LeaseLostError(
            f"the connection holding the lock of session {self._key!r} was closed before "
            f"the {operation}; nothing was written",
            key=self._key,
        )

    async def _end(self, operation: str, keep: bool, statement: str, *args: Any) -> None:
        if self._done:
            raise RuntimeError(f"the lease of session {self._key!r} already ended")
        self._done = not keep
        conn = self._conn
        try:
            if _is_closed(conn):
                raise self._lost(operation)
            try:
                with PostgresErrors(operation, self._key):
                    done = await conn.fetchval(statement, *args)
            except StorageError as exc:
                if getattr(exc.__cause__, "sqlstate", None) in _SERVER_ENDED:
                    raise self._lost(operation) from exc.__cause__
                raise
            if not done:
                raise self._lost(operation)
        except BaseException:
            self._done = True
            _terminate(conn)
            await self._pool.release(conn)
            raise
        if not keep:
            await self._pool.release(conn)

    async def write(self, value: Any, *, keep: bool = False) -> None:
        """Write ``value`` and unlock in one round trip; ``LeaseLostError`` if the lock is gone.

        With ``keep=True`` the lock stays held: the write is checked and committed the same
        way (in its own transaction, so other processes see it), and ``value`` becomes this
        lease's ``value``, so a next update of the session in this process can go on under
        the same lease without reading. The lease must still be ended later.
        """
        data = dumps_for_numeric(self._key, value)
        expires = None if self._ttl is None else time.time() + self._ttl
        sql = self._sql
        await self._end("write", keep, sql.save, self._lock_id, self._key, data, expires, keep)
        self.value = value

    async def delete(self, *, keep: bool = False) -> None:
        """Delete the session and unlock in one round trip; same guarantee.

        With ``keep=True`` the lock stays held and ``value`` becomes ``None``.
        """
        await self._end("delete", keep, self._sql.remove, self._lock_id, self._key, keep)
        self.value = None

    async def release(self) -> None:
        """Unlock without writing. Idempotent; silent when the lock was already lost."""
        if self._done:
            return
        self._done = True
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
