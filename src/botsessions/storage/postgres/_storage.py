"""PostgresStorage: sessions as jsonb rows, with expiry and an advisory-lock session lock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botsessions._options import duration
from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import dumps_positional, loads
from botsessions.storage._lease import lease_seconds
from botsessions.storage._table import (
    PURGE_LIMIT,
    TableStorage,
    keyset_pages,
    url_or_pool,
)
from botsessions.storage.postgres._errors import PostgresErrors, import_asyncpg
from botsessions.storage.postgres._lock import PostgresLease, acquire
from botsessions.storage.postgres._pool import ConnectionGate
from botsessions.storage.postgres._sql import TableSQL

if TYPE_CHECKING:
    from asyncpg import Connection, Pool

__all__ = ["PostgresStorage"]

# timestamptz ends in the year 294276 (about 9.22e12 s after 1970): keep ttl well inside.
_MAX_TTL = 9.2e12
# lock_timeout and tcp_user_timeout are 32-bit counts of milliseconds (24.8 days).
_MAX_MS_SETTING = (2**31 - 1) / 1000
# Linux refuses TCP keepalive idle times and intervals above this many seconds.
_MAX_KEEPALIVE = 32767


async def _reset(conn: Connection) -> None:
    # Our statements leave no session state behind (locks are released or the connection
    # closed), so asyncpg's default reset query would be one wasted round trip per operation.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PostgresStorage(TableStorage[ConnectionGate]):
    """Session storage in a PostgreSQL table, one row per session.

    The table (``key text primary key, value jsonb not null, expires_at timestamptz``) is
    created on first use. Reads and writes are one round trip each (prepared statements,
    ``INSERT ... ON CONFLICT DO UPDATE``). Expired rows are invisible to every method and
    deleted in small batches in the background (or by ``purge_expired()``).

    It also offers the session lock used by ``session()`` (a PostgreSQL advisory lock held
    on a pooled connection while the update runs), so updates of one session handled by
    different processes never lose each other's writes: see ``acquire()``.
    Enumeration (``read_all_keys/values/entries``) lists unexpired sessions in key order.

    Pool connections: each session lock held by an update keeps one connection (when the
    pool has no room, the fragments of a multi session on this storage share their update's
    first connection instead of waiting for another). With a pool of N >= 2 at most N - 1
    are held by locks at a time, so the storage's other operations always find one;
    operations run by a lock holder (its handler) use the holder's connection.
    No wait for a connection is unbounded: see ``lock_wait`` and ``pool_timeout``.

    Args:
        dsn: a ``postgresql://`` DSN, or an ``asyncpg.Pool``. A pool built from a DSN
            belongs to the storage and is closed by ``close()`` (end every lease first:
            closing the pool waits for the connections they hold); a pool you pass stays
            yours (its ``max_size`` is the N above). Each update holding session locks uses
            one pool connection for its whole length.
        table: table name (a plain identifier, created if missing together with the
            ``<table>__acquire/__save/__remove`` lock functions and an index).
        ttl: expire a session this long after its last write (seconds or ``timedelta``);
            ``None`` or ``inf`` keeps sessions forever. At most 9.2e12 s (timestamptz's range).
        lock_wait: seconds an update waits for the lock of a busy session (and, before
            that, for a free pool connection) before ``LockTimeoutError``; ``None`` or
            ``inf`` waits as long as it takes. At most 24.8 days (PostgreSQL's
            ``lock_timeout`` range).
        pool_timeout: seconds any other operation (read, write, delete, has, a page of an
            enumeration, a purge) waits for a free pool connection before ``StorageError``
            saying that the pool is exhausted; ``None`` or ``inf`` waits as long as it takes.
        lock_lease: with a pool built from a DSN, sets the TCP keepalive and user timeout
            of its connections so that a lock held by an unreachable host is freed within
            about this many seconds. A crashed process frees its locks at once. It must be
            finite, at most 24.8 days.
        min_size, max_size: size of the pool built from a DSN.
        batch_size: rows fetched per query during enumeration.

    Raises:
        ModuleNotFoundError: asyncpg is not installed (``pip install "botsessions[postgres]"``).
        TypeError, ValueError: an argument has the wrong type or value.
    """

    __slots__ = (
        "_can_defer_flush",
        "_dsn",
        "_lock_timeout",
        "_lock_wait",
        "_locks_ready",
        "_pool",
        "_pool_options",
        "_pool_timeout",
        "_sql",
    )

    def __init__(
        self,
        dsn: str | Pool = "postgresql://localhost/postgres",
        *,
        table: str = "sessions",
        ttl: float | timedelta | None = None,
        lock_wait: float | timedelta | None = 10.0,
        lock_lease: float | timedelta = 30.0,
        pool_timeout: float | timedelta | None = 10.0,
        min_size: int = 1,
        max_size: int = 10,
        batch_size: int = 500,
    ) -> None:
        self._dsn, self._pool = url_or_pool(
            dsn, import_asyncpg().Pool, what="dsn must be a DSN string or an asyncpg.Pool"
        )
        super().__init__(
            table=table,
            ttl=duration(ttl, what="ttl", maximum=_MAX_TTL),
            batch_size=batch_size,
            min_size=min_size,
            max_size=max_size,
        )
        self._sql = TableSQL.build(table)
        self._lock_wait = duration(lock_wait, what="lock_wait", maximum=_MAX_MS_SETTING)
        # PostgreSQL's lock_timeout: "0" waits as long as it takes.
        self._lock_timeout = (
            "0" if self._lock_wait is None else f"{max(1, round(self._lock_wait * 1000))}ms"
        )
        self._pool_timeout = duration(pool_timeout, what="pool_timeout")
        lease = lease_seconds(lock_lease, maximum=_MAX_MS_SETTING)
        probe = str(min(_MAX_KEEPALIVE, max(1, round(lease / 3))))
        self._pool_options: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "reset": _reset,
            "server_settings": {
                "tcp_keepalives_idle": probe,
                "tcp_keepalives_interval": probe,
                "tcp_keepalives_count": "3",
                "tcp_user_timeout": str(max(1, round(lease * 1000))),
            },
        }
        self._locks_ready = False
        self._can_defer_flush = False  # known once the lock functions exist

    async def _open(self) -> ConnectionGate:
        if self._pool is None:
            asyncpg = import_asyncpg()
            with PostgresErrors("connect", None):
                self._pool = await asyncpg.create_pool(self._dsn, **self._pool_options)
        gate = ConnectionGate(self._pool, pool_timeout=self._pool_timeout)
        # One creator at a time across processes: IF NOT EXISTS alone still races.
        with PostgresErrors(f"create table {self._table!r}", None):
            async with gate.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._sql.ddl_lock)
                await conn.execute(self._sql.create_table)
        return gate

    async def read(self, key: str) -> Any:
        """Return the stored session or ``None``; ``StorageError`` if PostgreSQL fails.

        Raises ``CorruptDataError`` (data left in place) when the stored value is not JSON.
        """
        gate = self._ready or await self._setup()
        with PostgresErrors("read", key):
            data = await gate.fetchval(self._sql.read, key, time.time())
        return None if data is None else loads(key, data)

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` (one upsert); with ``ttl``, refreshes the expiry."""
        gate = self._ready or await self._setup()
        data = dumps_positional(key, value)
        ttl = self._ttl
        with PostgresErrors("write", key):
            await gate.execute(
                self._sql.write, key, data, None if ttl is None else time.time() + ttl
            )
        if ttl is not None:
            self._purge_if_due()

    async def delete(self, key: str) -> None:
        """Delete the session (no error when it does not exist)."""
        gate = self._ready or await self._setup()
        with PostgresErrors("delete", key):
            await gate.execute(self._sql.delete, key)

    async def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        gate = self._ready or await self._setup()
        with PostgresErrors("has", key):
            return bool(await gate.fetchval(self._sql.has, key, time.time()))

    async def acquire(self, key: str, *, read: bool) -> PostgresLease:
        """Take the advisory lock of ``key`` on a pooled connection and read the session.

        One round trip; the lease's ``value`` is ``None`` when nothing is stored or ``read``
        is false, and its ``write()`` / ``delete()`` commit and unlock together. A lock busy
        for ``lock_wait`` seconds raises ``LockTimeoutError``; PostgreSQL failing, ``StorageError``.
        """
        gate = self._ready or await self._setup()
        if not self._locks_ready:
            await self._setup_locks(gate)
        return await acquire(
            gate,
            self._sql,
            self._table,
            key,
            read=read,
            wait=self._lock_wait,
            lock_timeout=self._lock_timeout,
            ttl=self._ttl,
            can_defer_flush=self._can_defer_flush,
        )

    async def _setup_locks(self, gate: ConnectionGate) -> None:
        # The lock functions are created on first use, so plain storages add none.
        async with self._setup_lock:
            if self._locks_ready:
                return
            with PostgresErrors(f"create lock functions of {self._table!r}", None):
                async with gate.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", self._sql.ddl_lock)
                    await conn.execute(self._sql.create_functions)
                    self._can_defer_flush = bool(await conn.fetchval(self._sql.may_flush))
            self._locks_ready = True

    async def _batches(self, *, values: bool) -> AsyncIterator[list[tuple[str, Any]]]:
        # Keyset pagination: no transaction or connection is held while the caller iterates.
        async for rows in self._pages(self._sql.first_page, self._sql.page):
            if values:
                yield [(row[0], loads(row[0], row[1])) for row in rows]
            else:
                yield [(row[0], None) for row in rows]

    def _pages(self, first: str, after: str) -> AsyncIterator[Sequence[Any]]:
        async def fetch(last: Sequence[Any] | None) -> Sequence[Sequence[Any]]:
            gate = self._ready or await self._setup()
            with PostgresErrors("scan", None):
                if last is None:
                    return await gate.fetch(first, self._batch, time.time())
                return await gate.fetch(after, last[0], self._batch, time.time())

        return keyset_pages(fetch, self._batch)

    async def read_with_expiry(self, key: str) -> tuple[Any, float | None] | None:
        """The session under ``key`` and its expiry (epoch seconds), or ``None``."""
        gate = self._ready or await self._setup()
        with PostgresErrors("read", key):
            row = await gate.fetchrow(self._sql.read_expiry, key, time.time())
        return None if row is None else (loads(key, row[0]), row[1])

    async def read_all_entries_with_expiry(self) -> AsyncIterator[ExpiringEntry]:
        """Every ``(key, value, expires_at)``, in key order, fetched in batches."""
        async for rows in self._pages(self._sql.first_page_expiry, self._sql.page_expiry):
            for key, data, expires_at in rows:
                yield key, loads(key, data), expires_at

    async def write_entries_with_expiry(self, entries: Sequence[ExpiringEntry]) -> None:
        """Store every ``(key, value, expires_at)`` in one transaction, expiry as given."""
        now = time.time()
        rows = [
            (key, dumps_positional(key, value), expires_at)
            for key, value, expires_at in entries
            if expires_at is None or expires_at > now
        ]
        if not rows:
            return
        gate = self._ready or await self._setup()
        with PostgresErrors("write", rows[0][0] if len(rows) == 1 else None):
            async with gate.acquire() as conn, conn.transaction():
                await conn.executemany(self._sql.write, rows)

    async def purge_expired(self, limit: int = PURGE_LIMIT) -> int:
        """Delete up to ``limit`` expired rows now; return how many were deleted.

        Expired rows are never visible; with ``ttl`` set, writes also purge in the background
        about once a minute. Call this from a periodic job to reclaim space faster.
        """
        gate = self._ready or await self._setup()
        with PostgresErrors("purge", None):
            status: str = await gate.execute(self._sql.purge, limit, time.time())
        return int(status.rsplit(" ", 1)[-1])

    async def _close_pool(self) -> None:
        if self._dsn is not None and self._pool is not None:
            await self._pool.close()
