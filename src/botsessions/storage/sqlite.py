"""SQLiteStorage: sessions in one table of a local SQLite database (WAL mode)."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from botsessions._errors import StorageError
from botsessions._options import duration
from botsessions.storage._errors_map import unencodable_key
from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lifecycle import Closeable

__all__ = ["SQLiteStorage"]

_T = TypeVar("_T")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_PAGE = 500
# Expired rows are invisible at once; deleting them is batched, at most this often.
_MAX_PURGE_INTERVAL = 300.0
# sqlite3 hands the busy timeout to SQLite as a 32-bit count of milliseconds.
_MAX_TIMEOUT = (2**31 - 1) / 1000


class SQLiteStorage(Closeable):
    """Sessions in a local SQLite database: the embedded default for persistence.

    One table ``(key TEXT PRIMARY KEY, value TEXT, expires_at REAL)`` holds each session as
    JSON text, so ``sqlite3`` and other tools can read it. The database runs in WAL mode and
    every call runs on one dedicated thread, so the event loop never blocks on disk.

    Several processes on one host may share the file: writes are single statements and wait
    up to ``timeout`` seconds for a busy database. SQLite offers no per-key lock across
    processes, so two processes updating the *same* session concurrently can overwrite each
    other's changes (the engine's in-process lock serializes updates within one process).

    Args:
        path: database file, created on first use (``":memory:"`` for a private database).
        table: table name, a plain identifier (letters, digits, ``_``); created if missing.
        ttl: seconds (or a ``timedelta``) a session lives after its last write; expired rows
            are invisible to every method and deleted in batches. ``None`` (or ``inf``): no
            expiry.
        timeout: seconds (or a ``timedelta``) to wait for another process's write before
            failing; ``None`` (or ``inf``) waits as long as SQLite can (24.8 days).

    Raises:
        ValueError: ``table`` is not a plain identifier, or ``ttl``/``timeout`` is not positive.
        TypeError: ``ttl`` or ``timeout`` is not a number of seconds or a ``timedelta``.

    Backend failures raise ``StorageError`` (``CorruptDataError`` for a value that is not JSON),
    never "missing". The constructor does no I/O: the first operation connects and creates
    the table.
    """

    __slots__ = (
        "_conn",
        "_executor",
        "_next_purge",
        "_path",
        "_sql",
        "_table",
        "_timeout",
        "_ttl",
    )

    def __init__(
        self,
        path: str | os.PathLike[str] = "sessions.db",
        *,
        table: str = "sessions",
        ttl: float | timedelta | None = None,
        timeout: float | timedelta | None = 5.0,
    ) -> None:
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise ValueError(
                f"table must be a plain identifier (letters, digits and _, at most 63 "
                f"characters, not starting with a digit), not {table!r}"
            )
        self._path = os.fspath(path)
        self._table = table
        self._ttl = duration(ttl, what="ttl")
        busy = duration(timeout, what="timeout", maximum=_MAX_TIMEOUT)
        self._timeout = _MAX_TIMEOUT if busy is None else busy
        super().__init__()
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._next_purge = 0.0
        t = f'"{table}"'
        live = "(expires_at IS NULL OR expires_at > ?)"
        self._sql = {
            "read": f"SELECT value FROM {t} WHERE key = ? AND {live}",
            "has": f"SELECT 1 FROM {t} WHERE key = ? AND {live}",
            "write": f"INSERT INTO {t} (key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            "delete": f"DELETE FROM {t} WHERE key = ?",
            "purge": f"DELETE FROM {t} WHERE expires_at <= ?",
            "first": f"SELECT key, value FROM {t} WHERE {live} ORDER BY key LIMIT {_PAGE}",
            "next": f"SELECT key, value FROM {t} WHERE key > ? AND {live} "
            f"ORDER BY key LIMIT {_PAGE}",
            "read_expiry": f"SELECT value, expires_at FROM {t} WHERE key = ? AND {live}",
            "first_expiry": f"SELECT key, value, expires_at FROM {t} WHERE {live} "
            f"ORDER BY key LIMIT {_PAGE}",
            "next_expiry": f"SELECT key, value, expires_at FROM {t} WHERE key > ? AND {live} "
            f"ORDER BY key LIMIT {_PAGE}",
        }

    def __repr__(self) -> str:
        return f"SQLiteStorage({self._path!r}, table={self._table!r}, ttl={self._ttl!r})"

    # -- StorageAdapter --------------------------------------------------------------------

    async def read(self, key: str) -> Any:
        """The session stored under ``key``, or ``None`` if there is none (or it expired)."""
        row = await self._run("read", key, self._fetch_one, self._sql["read"], key)
        return None if row is None else loads(key, row[0])

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key``, replacing what was there."""
        text = dumps(key, value).decode()
        await self._run("write", key, self._upsert, key, text)

    async def delete(self, key: str) -> None:
        """Remove the session stored under ``key``; nothing happens if there is none."""
        await self._run("delete", key, self._execute, self._sql["delete"], (key,))

    async def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        return await self._run("read", key, self._fetch_one, self._sql["has"], key) is not None

    async def read_all_keys(self) -> AsyncIterator[str]:
        """Every stored key, in key order, fetched in pages."""
        async for key, _ in self._rows():
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        """Every stored value, in key order."""
        async for key, text in self._rows():
            yield loads(key, text)

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        """Every stored ``(key, value)`` pair, in key order."""
        async for key, text in self._rows():
            yield key, loads(key, text)

    # -- ExpiringStorage ---------------------------------------------------------------------

    async def read_with_expiry(self, key: str) -> tuple[Any, float | None] | None:
        """The session under ``key`` and its expiry (epoch seconds), or ``None``."""
        row = await self._run("read", key, self._fetch_one, self._sql["read_expiry"], key)
        return None if row is None else (loads(key, row[0]), row[1])

    async def read_all_entries_with_expiry(self) -> AsyncIterator[ExpiringEntry]:
        """Every stored ``(key, value, expires_at)``, in key order, fetched in pages."""
        last: str | None = None
        while True:
            page = await self._run("list", None, self._page, last, True)
            for key, text, expires_at in page:
                yield key, loads(key, text), expires_at
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    async def write_entries_with_expiry(self, entries: Sequence[ExpiringEntry]) -> None:
        """Store every ``(key, value, expires_at)`` in one transaction, expiry as given."""
        now = time.time()
        rows = [
            (key, dumps(key, value).decode(), expires_at)
            for key, value, expires_at in entries
            if expires_at is None or expires_at > now
        ]
        if rows:
            await self._run("write", rows[0][0] if len(rows) == 1 else None, self._many, rows)

    # -- internals (the _-prefixed sync methods run on the storage thread) -------------------

    async def _rows(self) -> AsyncIterator[tuple[str, str]]:
        last: str | None = None
        while True:
            page = await self._run("list", None, self._page, last)
            for row in page:
                yield row
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    async def _run(self, op: str, key: str | None, fn: Callable[..., _T], *args: Any) -> _T:
        self._check_open()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="botsessions-sqlite")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except UnicodeEncodeError as exc:  # sqlite3 binds text as UTF-8
            raise unencodable_key(key, exc) from exc
        except sqlite3.Error as exc:
            what = f"session {key!r}" if key is not None else "sessions"
            raise StorageError(
                f"SQLite could not {op} {what} in {self._path!r}: {exc}", key=key
            ) from exc

    async def _release(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        finally:
            executor.shutdown(wait=False)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        conn = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            _use_wal(conn, self._timeout)
            # WAL + NORMAL survives a killed process; only an OS crash may lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            t = f'"{self._table}"'
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {t} "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL) WITHOUT ROWID"
            )
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({t})")}
            if "expires_at" not in columns:  # a (key, value) table made by another tool
                conn.execute(f"ALTER TABLE {t} ADD COLUMN expires_at REAL")
            conn.execute(
                f'CREATE INDEX IF NOT EXISTS "{self._table}_expires_at" ON {t} (expires_at) '
                "WHERE expires_at IS NOT NULL"
            )
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _fetch_one(self, sql: str, key: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._connection().execute(sql, (key, time.time())).fetchone()
        return row

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        self._connection().execute(sql, params)

    def _upsert(self, key: str, text: str) -> None:
        conn = self._connection()
        if self._ttl is None:
            conn.execute(self._sql["write"], (key, text, None))
            return
        now = time.time()
        conn.execute(self._sql["write"], (key, text, now + self._ttl))
        if now >= self._next_purge:
            self._next_purge = now + min(self._ttl, _MAX_PURGE_INTERVAL)
            conn.execute(self._sql["purge"], (now,))

    def _many(self, rows: list[tuple[str, str, float | None]]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._sql["write"], rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _page(self, after: str | None, expiry: bool = False) -> list[Any]:
        conn, now = self._connection(), time.time()
        first, following = ("first_expiry", "next_expiry") if expiry else ("first", "next")
        if after is None:
            return conn.execute(self._sql[first], (now,)).fetchall()
        return conn.execute(self._sql[following], (after, now)).fetchall()


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the database to WAL mode (a no-op when it already is).

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once,
    without waiting for its busy timeout, while another connection has the file open: two
    processes opening a new database together would fail. Retry within the busy timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)  # in the storage's worker thread, never on the event loop
