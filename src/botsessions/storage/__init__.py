"""Storage adapters. Importing this package loads no database driver.

``RedisStorage``, ``PostgresStorage`` and ``MySQLStorage`` are imported on first access and
import their drivers when built; a missing driver names the extra to install
(``pip install "botsessions[redis]"`` / ``[postgres]`` / ``[mysql]``).

``LockingStorage`` and ``SessionLease`` are the protocol a storage implements to lock a
session across processes, as ``RedisStorage`` and ``PostgresStorage`` do.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING
from typing import Any as _Any

from botsessions.storage._async_view import as_async
from botsessions.storage._expiry import ExpiringStorage
from botsessions.storage._locking import LockingStorage, SessionLease
from botsessions.storage._protocol import NOT_JSON_BYTES, JSONBytesStorage, StorageAdapter
from botsessions.storage._wrapper import StorageWrapper
from botsessions.storage.files import FileStorage
from botsessions.storage.memory import MemorySessionStorage
from botsessions.storage.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from botsessions.storage.mysql import MySQLStorage
    from botsessions.storage.postgres import PostgresStorage
    from botsessions.storage.redis import RedisStorage

# The server storages' modules (and what they import: ssl, concurrent.futures) load on first
# use, so ``import botsessions`` stays cheap for bots on memory or SQLite.
_LAZY = {
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


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'botsessions.storage' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
