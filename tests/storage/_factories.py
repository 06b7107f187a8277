"""Storage factories the locking conformance suite builds, here and in worker processes.

Each is ``factory(*, lease=None, **options)``: ``lease`` is the lock lease in seconds
(``None``: the storage's default), the options name the server and the namespace.
"""

from __future__ import annotations

from typing import Any

from botsessions import enhance_storage
from botsessions.storage import PostgresStorage, RedisStorage, StorageWrapper
from botsessions.testing.recording import RecordingStorage

LOCK_WAIT = 30.0


def redis(*, lease: float | None = None, url: str, prefix: str) -> RedisStorage:
    return RedisStorage(url, prefix=prefix, lock_wait=LOCK_WAIT, lock_lease=lease or 30.0)


def postgres(*, lease: float | None = None, dsn: str, table: str) -> PostgresStorage:
    return PostgresStorage(
        dsn, table=table, lock_wait=LOCK_WAIT, lock_lease=lease or 30.0, max_size=4
    )


def enhanced_redis(*, lease: float | None = None, url: str, prefix: str) -> Any:
    return enhance_storage(storage=redis(lease=lease, url=url, prefix=prefix), ttl=3600)


def recording_redis(*, lease: float | None = None, url: str, prefix: str) -> RecordingStorage:
    return RecordingStorage(redis(lease=lease, url=url, prefix=prefix))


def wrapped_redis(*, lease: float | None = None, url: str, prefix: str) -> StorageWrapper:
    return StorageWrapper(redis(lease=lease, url=url, prefix=prefix))
