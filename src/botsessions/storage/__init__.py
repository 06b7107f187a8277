"""Storage adapters. Importing this package loads no database driver.

``RedisStorage`` and ``PostgresStorage`` import their drivers when built; a missing
driver names the extra to install (``pip install "botsessions[redis]"`` / ``[postgres]``).

``LockingStorage`` and ``SessionLease`` are the protocol a storage implements to lock a
session across processes, as ``RedisStorage`` and ``PostgresStorage`` do.
"""

from botsessions.storage._expiry import ExpiringStorage
from botsessions.storage._locking import LockingStorage, SessionLease
from botsessions.storage._protocol import NOT_JSON_BYTES, JSONBytesStorage, StorageAdapter
from botsessions.storage._wrapper import StorageWrapper
from botsessions.storage.files import FileStorage
from botsessions.storage.memory import MemorySessionStorage
from botsessions.storage.mysql import MySQLStorage
from botsessions.storage.postgres import PostgresStorage
from botsessions.storage.redis import RedisStorage
from botsessions.storage.sqlite import SQLiteStorage

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
]
