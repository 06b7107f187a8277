"""The MySQL session lock: a ``GET_LOCK`` user lock held on a pooled connection.

A user lock lives as long as the connection that took it: ``acquire`` takes it and reads
the session in one round trip, ``write``/``delete`` save and ``RELEASE_LOCK`` in one,
``release`` unlocks. The server does the waiting (``GET_LOCK``'s timeout is ``lock_wait``)
and serves waiters first come, first served: MariaDB and MySQL keep user locks in the
metadata-lock queue, which grants an exclusive lock to the oldest waiter. There is no
lease timer: a lock ends when it is released or when its connection closes, and the server
closes the connection of a process that dies. Whenever this module cannot tell whether a
connection still holds a lock it closes that connection instead of pooling it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botsessions._errors import CorruptDataError, LockTimeoutError, StorageError
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lease import BaseLease, log_lock_timeout
from botsessions.storage.mysql._errors import GONE, MySQLErrors, error_number
from botsessions.storage.mysql._sql import TableSQL

if TYPE_CHECKING:
    from asyncmy import Pool
    from asyncmy.connection import Connection

__all__ = ["MySQLLease", "acquire", "run"]

FOREVER = 31_536_000  # GET_LOCK refuses negative timeouts: a year stands for "no limit"


async def run(conn: Connection, statement: str, args: tuple[Any, ...]) -> list[Any]:
    """Execute ``statement`` (one or several), return the rows of every result set."""
    async with conn.cursor() as cursor:
        await cursor.execute(statement, args)
        results: list[Any] = [await cursor.fetchall()]
        while await cursor.nextset():
            results.append(await cursor.fetchall())
    return results


def now_ms() -> int:
    """The current time as the table stores expiry times: epoch milliseconds."""
    return round(time.time() * 1000)


async def acquire(
    pool: Pool,
    sql: TableSQL,
    name: str,
    key: str,
    *,
    read: bool,
    wait: float | None,
    ttl: float | None,
) -> MySQLLease:
    """Take the user lock ``name`` of ``key`` on a pooled connection, reading the session."""
    with MySQLErrors("lock", key):
        raw = key.encode()
        conn = await pool.acquire()
    timeout = FOREVER if wait is None else wait
    try:
        with MySQLErrors("lock", key):
            if read:
                locked, found = await run(conn, sql.acquire, (name, timeout, raw, now_ms()))
            else:
                (locked,) = await run(conn, sql.lock, (name, timeout))
                found = ()
    except BaseException:
        _discard(pool, conn)  # it may hold the lock: closing the connection frees it
        raise
    granted = locked[0][0]
    if granted != 1:
        if granted == 0:
            pool.release(conn)
            log_lock_timeout("MySQLStorage", wait)
            raise LockTimeoutError(
                f"session {key!r} stayed locked by another update for lock_wait={wait:g} s; "
                "nothing was written. A handler may be stuck, or raise lock_wait",
                key=key,
            )
        _discard(pool, conn)
        raise StorageError(f"MySQL lock of session {key!r} failed: GET_LOCK returned NULL", key=key)
    lease = MySQLLease(pool, conn, sql, key, raw, name, ttl)
    if found:
        try:
            lease.value = loads(key, found[0][0])
        except CorruptDataError:
            await lease.release()
            raise
    return lease


def _discard(pool: Pool, conn: Connection) -> None:
    conn.close()
    pool.release(conn)


class MySQLLease(BaseLease):
    """One held user lock: ``value`` read under it; ends with write, delete or release.

    ``write``/``delete`` on a connection that was closed or killed (and the lock with it)
    raise ``LeaseLostError`` without writing.
    """

    __slots__ = ("_conn", "_name", "_pool", "_raw", "_sql", "_ttl")

    def __init__(
        self,
        pool: Pool,
        conn: Connection,
        sql: TableSQL,
        key: str,
        raw: bytes,
        name: str,
        ttl: float | None,
    ) -> None:
        super().__init__(key, None)
        self._pool, self._conn, self._sql = pool, conn, sql
        self._raw, self._name, self._ttl = raw, name, ttl

    async def _call(self, operation: str, statement: str, args: tuple[Any, ...]) -> bool:
        if not self._conn.connected:
            return False
        try:
            with MySQLErrors(operation, self._key):
                await run(self._conn, statement, args)
        except StorageError as exc:
            # Sent to a connection the server had already closed: the statement never ran.
            if error_number(exc.__cause__) in GONE:
                return False
            raise
        return True

    # -- BaseLease hooks ---------------------------------------------------------------------

    def _encode(self, value: Any) -> str:
        return dumps(self._key, value).decode()

    async def _save(self, data: str, *, keep: bool) -> bool:
        expires = None if self._ttl is None else now_ms() + round(self._ttl * 1000)
        if keep:
            return await self._call("write", self._sql.write, (self._raw, data, expires))
        return await self._call("write", self._sql.save, (self._raw, data, expires, self._name))

    async def _remove(self, *, keep: bool) -> bool:
        if keep:
            return await self._call("delete", self._sql.delete, (self._raw,))
        return await self._call("delete", self._sql.remove, (self._raw, self._name))

    async def _unlock(self) -> None:
        conn = self._conn
        try:
            if conn.connected:
                await run(conn, self._sql.unlock, (self._name,))
        except BaseException as exc:
            conn.close()  # the lock goes with the connection
            if not isinstance(exc, Exception):
                raise
        finally:
            self._pool.release(conn)

    async def _discard(self) -> None:
        _discard(self._pool, self._conn)

    async def _after_end(self) -> None:
        self._pool.release(self._conn)

    def _lost_message(self, operation: str) -> str:
        return (
            f"the connection holding the lock of session {self._key!r} was closed before "
            f"the {operation}; nothing was written"
        )
