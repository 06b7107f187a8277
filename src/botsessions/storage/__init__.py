"""Storage adapters. Importing this package loads no database driver.

``RedisStorage`` and ``PostgresStorage`` import their drivers on first use; a missing
driver names the extra to install (``pip install botsessions[redis]`` / ``[postgres]``).
"""

from botsessions.storage._protocol import StorageAdapter
from botsessions.storage.files import FileStorage
from botsessions.storage.memory import MemorySessionStorage
from botsessions.storage.postgres import PostgresStorage
from botsessions.storage.redis import RedisStorage
from botsessions.storage.sqlite import SQLiteStorage

__all__ = [
    "FileStorage",
    "MemorySessionStorage",
    "PostgresStorage",
    "RedisStorage",
    "SQLiteStorage",
    "StorageAdapter",
]
