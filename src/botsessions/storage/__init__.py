"""Storage adapters. Importing this package loads no database driver.

``SQLiteStorage``, ``FileStorage``, ``RedisStorage`` and ``PostgresStorage`` import
their drivers on first use; a missing driver names the extra to install.
"""

from botsessions.storage._protocol import StorageAdapter
from botsessions.storage.memory import MemorySessionStorage

__all__ = ["MemorySessionStorage", "StorageAdapter"]
