"""``MySQLStorage``: sessions as rows of a MariaDB / MySQL table, with a ``GET_LOCK`` lock.

asyncmy is imported when a ``MySQLStorage`` is built; without it the constructor raises
``ModuleNotFoundError`` naming the extra: ``pip install "botsessions[mysql]"``.

Modules: ``_storage`` (the adapter), ``_sql`` (every statement), ``_lock`` (the session
lock), ``_errors`` (the driver import and its error mapping).
"""

from botsessions.storage.mysql._storage import MySQLStorage

__all__ = ["MySQLStorage"]
