"""``PostgresStorage``: sessions as jsonb rows, with an advisory-lock session lock.

asyncpg is imported when a ``PostgresStorage`` is built; without it the constructor raises
``ModuleNotFoundError`` naming the extra: ``pip install "botsessions[postgres]"``.

Modules: ``_storage`` (the adapter), ``_sql`` (every statement, and why the lock uses
functions), ``_lock`` (the session lock), ``_pool`` (which connection each operation uses,
so that lock holders never starve the storage), ``_errors`` (the driver import and its
error mapping).
"""

from botsessions.storage.postgres._storage import PostgresStorage

__all__ = ["PostgresStorage"]
