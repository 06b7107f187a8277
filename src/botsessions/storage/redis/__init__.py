"""``RedisStorage``: sessions as JSON strings in Redis, with a lease lock across processes.

redis-py is imported when a ``RedisStorage`` is built; without it the constructor raises
``ModuleNotFoundError`` naming the extra: ``pip install "botsessions[redis]"``.

Modules: ``_storage`` (the adapter), ``_lock`` and ``_scripts`` (the session lock),
``_evalsha`` (how the lock's scripts are sent), ``_errors`` (the driver import and its
error mapping).
"""

from botsessions.storage.redis._storage import RedisStorage

__all__ = ["RedisStorage"]
