"""Storage adapters. Importing this package loads no database driver.

``SQLiteStorage``, ``FileStorage``, ``RedisStorage``, ``PostgresStorage`` and ``MySQLStorage``
are imported on first access; the server storages import their drivers when built, and a
missing driver names the extra to install (``pip install "botsessions[redis]"`` /
``[postgres]`` / ``[mysql]``).

``LockingStorage`` and ``SessionLease`` are the protocol a storage implements to lock a
session across processes, as ``RedisStorage`` and ``PostgresStorage`` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botsessions._exports import lazy_exports as _lazy_exports
from botsessions.storage._async_view import as_async
from botsessions.storage._expiry import ExpiringStorage
from botsessions.storage._locking import LockingStorage, SessionLease
from botsessions.storage._protocol import NOT_JSON_BYTES, JSONBytesStorage, StorageAdapter
from botsessions.storage._wrapper import StorageWrapper
from botsessions.storage.memory import MemorySessionStorage

if TYPE_CHECKING:
    from botsessions.storage.files import FileStorage
    from botsessions.storage.mysql import MySQLStorage
    from botsessions.storage.postgres import PostgresStorage
    from botsessions.storage.redis import RedisStorage
    from botsessions.storage.sqlite import SQLiteStorage

# Every storage but memory loads on first use (with what it imports: sqlite3, tempfile,
# ssl, concurrent.futures), so ``import botsessions`` stays cheap for a bot that uses one
# (``python -m bench --only startup``).
_LAZY = {
    "FileStorage": "botsessions.storage.files",
    "SQLiteStorage": "botsessions.storage.sqlite",
    "MySQLStorage": "botsessions.storage.mysql",
    "PostgresStorage": "botsessions.storage.postgres",
    "RedisStorage": "botsessions.storage.redis",
}

__all__ = [
    "NOT_JSON_BYTES",
    "ExpiringStorage",
    "FileStorage",
    "JSONBytesStorage",
    "LockingStorage",
    "MemorySessionStorage",
    "MySQLStorage",
    "PostgresStorage",
    "RedisStorage",
    "SQLiteStorage",
    "SessionLease",
    "StorageAdapter",
    "StorageWrapper",
    "as_async",
]

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, listed=__all__)
