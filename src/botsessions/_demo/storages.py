"""The demo's ``--storage`` choices, and a truthful sentence about where sessions go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from botsessions.storage import (
    FileStorage,
    MemorySessionStorage,
    MySQLStorage,
    PostgresStorage,
    RedisStorage,
    SQLiteStorage,
    StorageAdapter,
)

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_DIRECTORY",
    "MYSQL_TABLE",
    "POSTGRES_TABLE",
    "REDIS_PREFIX",
    "DemoStorage",
    "open_storage",
]

DEFAULT_DB = "botsessions-demo.db"
DEFAULT_DIRECTORY = "botsessions-demo-sessions"
REDIS_PREFIX = "botsessions-demo:"
POSTGRES_TABLE = "botsessions_demo"
MYSQL_TABLE = "botsessions_demo"


@dataclass(frozen=True)
class DemoStorage:
    """The storage the demo keeps its sessions in.

    Attributes:
        storage: the adapter (no I/O happened yet).
        place: where the sessions live, e.g. ``"the SQLite database /tmp/demo.db"``;
            empty for memory.
        persistent: whether the sessions outlive the demo process.
    """

    storage: StorageAdapter[Any]
    place: str
    persistent: bool

    @property
    def where(self) -> str:
        """The sentence printed when the demo starts."""
        if not self.persistent:
            return "Sessions are kept in memory: gone when the demo stops."
        return f"Sessions are stored in {self.place}; they stay there for the next run."

    @property
    def farewell(self) -> str:
        """The sentence printed when the demo ends."""
        if not self.persistent:
            return "The sessions were kept in memory and are gone now."
        return f"Your sessions are still in {self.place}: start the demo again to carry on."


def open_storage(kind: str, db: str | None = None) -> DemoStorage:
    """The storage for ``--storage kind`` (``--db`` is the SQLite file or the directory).

    Raises:
        ValueError: for an unknown storage kind.
    """
    if kind == "memory":
        return DemoStorage(MemorySessionStorage(), "", persistent=False)
    if kind == "sqlite":
        path = Path(db or DEFAULT_DB).resolve()
        return DemoStorage(SQLiteStorage(path), f"the SQLite database {path}", persistent=True)
    if kind == "file":
        directory = Path(db or DEFAULT_DIRECTORY).resolve()
        place = f"{directory} (one JSON file per chat)"
        return DemoStorage(FileStorage(directory), place, persistent=True)
    if kind.startswith(
        ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
    ):
        place = f"Redis at {_redacted(kind)}, keys prefixed {REDIS_PREFIX!r}"
        return DemoStorage(RedisStorage(kind, prefix=REDIS_PREFIX), place, persistent=True)
    if kind.startswith(("postgresql://", "postgres://")):
        place = f"the PostgreSQL table {POSTGRES_TABLE} at {_redacted(kind)}"
        return DemoStorage(PostgresStorage(kind, table=POSTGRES_TABLE), place, persistent=True)
    if kind.startswith(("mysql://", "mariadb://")):
        place = f"the MySQL table {MYSQL_TABLE} at {_redacted(kind)}"
        return DemoStorage(MySQLStorage(kind, table=MYSQL_TABLE), place, persistent=True)
    raise ValueError(
        f"unknown storage {kind!r}: use memory, sqlite, file, a redis:// (or redis+cluster://) "
        "URL, a postgresql:// DSN or a mysql:// URL"
    )


def _redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
