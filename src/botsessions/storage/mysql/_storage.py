"""MySQLStorage: sessions as rows of a MariaDB / MySQL table, with expiry and a user lock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from botsessions._options import duration
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._table import (
    PURGE_LIMIT,
    TableStorage,
    keyset_pages,
    url_or_pool,
)
from botsessions.storage.mysql._errors import MySQLErrors, import_asyncmy
from botsessions.storage.mysql._lock import MySQLLease, acquire, now_ms, run
from botsessions.storage.mysql._sql import TableSQL, lock_name

if TYPE_CHECKING:
    from asyncmy import Pool

__all__ = ["MySQLStorage"]

_MAX_TTL = 9.2e15 / 1000  # expiry times are signed 64-bit milliseconds
_MAX_WAIT = 31_536_000.0  # GET_LOCK's timeout is kept to a year (see _lock.FOREVER)
_SCHEMES = ("mysql", "mariadb")


def _connect_options(url: str) -> dict[str, Any]:
    """asyncmy's connection options for ``mysql://user:password@host:port/database``."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"url must start with mysql:// or mariadb://, got {url!r}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(f"url must name a database (mysql://host/database), got {url!r}")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username) if parts.username else "root",
        "password": unquote(parts.password) if parts.password else "",
        "database": database,
    }


class MySQLStorage(TableStorage["Pool"]):
    """Session storage in a MariaDB (10.6+) or MySQL (8+) table, one row per session.

    The table (``k VARBINARY(3072) primary key``, ``v LONGTEXT`` holding the exact JSON
    text, ``expires_at BIGINT`` in epoch milliseconds) is created on first use. Reads and
    writes are one round trip each (``INSERT ... ON DUPLICATE KEY UPDATE``). Expired rows
    are invisible to every method and deleted in small batches in the background (or by
    ``purge_expired()``). Keys are compared byte for byte, up to 3,072 UTF-8 bytes.

    It also offers the session lock used by ``session()``: a ``GET_LOCK`` user lock held
    on a pooled connection while the update runs, so updates of one session handled by
    different processes never lose each other's writes (see ``acquire()``). The lock
    ends with its connection: a crashed process frees its sessions at once, and there is
    no lease to renew or to outlive.
    Enumeration (``read_all_keys/values/entries``) lists unexpired sessions in key order.

    Args:
        url: ``mysql://user:password@host:port/database`` (``mariadb://`` works too), or
            an ``asyncmy`` pool built with ``autocommit=True``, ``charset="utf8mb4"`` and
            ``client_flag=CLIENT.MULTI_STATEMENTS``. A pool built from a URL belongs to
            the storage and is closed by ``close()``; a pool you pass stays yours. Each
            held session lock uses one pool connection for the whole update.
        table: table name (a plain identifier, created if missing).
        lock_wait: seconds an update waits for the lock of a busy session before
            ``LockTimeoutError``; ``None`` or ``inf`` waits as long as it takes (at most a
            year, ``GET_LOCK``'s own limit here).
        ttl: expire a session this long after its last write (seconds or ``timedelta``);
            ``None`` or ``inf`` keeps sessions forever.
        min_size, max_size: size of the pool built from a URL.
        batch_size: rows fetched per query during enumeration.

    Raises:
        ModuleNotFoundError: asyncmy is not installed (``pip install "botsessions[mysql]"``).
        TypeError, ValueError: an argument has the wrong type or value.
    """

    __slots__ = ("_connect", "_database", "_lock_wait", "_pool", "_sql")

    def __init__(
        self,
        url: str | Pool = "mysql://root@localhost:3306/test",
        *,
        table: str = "sessions",
        lock_wait: float | timedelta | None = 10.0,
        ttl: float | timedelta | None = None,
        min_size: int = 1,
        max_size: int = 10,
        batch_size: int = 500,
    ) -> None:
        self._pool: Pool | None
        given_url, self._pool = url_or_pool(
            url, import_asyncmy().Pool, what="url must be a URL string or an asyncmy Pool"
        )
        self._connect = None if given_url is None else _connect_options(given_url)
        seconds = duration(ttl, what="ttl", maximum=_MAX_TTL)
        super().__init__(
            table=table,
            ttl=seconds,
            batch_size=batch_size,
            min_size=min_size,
            max_size=max_size,
        )
        self._lock_wait = duration(lock_wait, what="lock_wait", maximum=_MAX_WAIT)
        self._sql = TableSQL.build(table)
        if self._connect is not None:
            self._connect.update(minsize=min_size, maxsize=max_size)
        self._database = ""

    async def _open(self) -> Pool:
        if self._pool is None:
            asyncmy = import_asyncmy()
            from asyncmy.constants import CLIENT

            with MySQLErrors("connect", None):
                self._pool = await asyncmy.create_pool(
                    autocommit=True,
                    charset="utf8mb4",
                    client_flag=CLIENT.MULTI_STATEMENTS,
                    pool_recycle=-1,
                    **(self._connect or {}),
                )
        pool = self._pool
        with MySQLErrors(f"create table {self._table!r}", None):
            async with pool.acquire() as conn:
                ((database,),), _ = await run(
                    conn, f"SELECT DATABASE(); {self._sql.create_table}", ()
                )
        self._database = database or ""
        return pool

    async def read(self, key: str) -> Any:
        """Return the stored session or ``None``; ``StorageError`` if the server fails.

        Raises ``CorruptDataError`` (data left in place) when the stored value is not JSON.
        """
        pool = self._ready or await self._setup()
        with MySQLErrors("read", key):
            async with pool.acquire() as conn:
                (rows,) = await run(conn, self._sql.read, (key.encode(), now_ms()))
        return loads(key, rows[0][0]) if rows else None

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` (one upsert); with ``ttl``, refreshes the expiry."""
        pool = self._ready or await self._setup()
        data = dumps(key, value).decode()
        ttl = self._ttl
        expires = None if ttl is None else now_ms() + round(ttl * 1000)
        with MySQLErrors("write", key):
            async with pool.acquire() as conn:
                await run(conn, self._sql.write, (key.encode(), data, expires))
        if ttl is not None:
            self._purge_if_due()

    async def delete(self, key: str) -> None:
        """Delete the session (no error when it does not exist)."""
        pool = self._ready or await self._setup()
        with MySQLErrors("delete", key):
            async with pool.acquire() as conn:
                await run(conn, self._sql.delete, (key.encode(),))

    async def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        pool = self._ready or await self._setup()
        with MySQLErrors("has", key):
            async with pool.acquire() as conn:
                (rows,) = await run(conn, self._sql.has, (key.encode(), now_ms()))
        return bool(rows)

    async def acquire(self, key: str, *, read: bool) -> MySQLLease:
        """``GET_LOCK`` the session ``key`` on a pooled connection, reading it in that round trip.

        Gives a ``MySQLLease`` (``value`` is ``None`` if missing or unread) whose ``write()``
        and ``delete()`` also ``RELEASE_LOCK``. Raises ``LockTimeoutError`` when the lock is
        still busy after ``lock_wait`` seconds and ``StorageError`` when the server fails.
        """
        pool = self._ready or await self._setup()
        name = lock_name(self._database, self._table, key)
        return await acquire(
            pool, self._sql, name, key, read=read, wait=self._lock_wait, ttl=self._ttl
        )

    async def _batches(self, *, values: bool) -> AsyncIterator[list[tuple[str, Any]]]:
        # Keyset pagination: no transaction or connection is held while the caller iterates.
        pool = self._ready or await self._setup()

        async def fetch(last: Sequence[Any] | None) -> Sequence[Sequence[Any]]:
            args: tuple[Any, ...]
            if last is None:
                sql, args = self._sql.first_page, (now_ms(), self._batch)
            else:
                sql, args = self._sql.page, (bytes(last[0]), now_ms(), self._batch)
            with MySQLErrors("scan", None):
                async with pool.acquire() as conn:
                    (rows,) = await run(conn, sql, args)
            return rows  # type: ignore[no-any-return]

        async for rows in keyset_pages(fetch, self._batch):
            keys = [bytes(row[0]).decode() for row in rows]
            if values:
                yield [(key, loads(key, row[1])) for key, row in zip(keys, rows, strict=True)]
            else:
                yield [(key, None) for key in keys]

    async def purge_expired(self, limit: int = PURGE_LIMIT) -> int:
        """Delete up to ``limit`` expired rows now; return how many were deleted.

        Expired rows are never visible; with ``ttl`` set, writes also purge in the background
        about once a minute. Call this from a periodic job to reclaim space faster.
        """
        pool = self._ready or await self._setup()
        with MySQLErrors("purge", None):
            async with pool.acquire() as conn, conn.cursor() as cursor:
                deleted: int = await cursor.execute(self._sql.purge, (now_ms(), limit))
        return deleted

    async def _close_pool(self) -> None:
        if self._connect is not None and self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
