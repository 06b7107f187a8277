"""Loading redis-py on first use, and how its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType

from botsessions.storage._errors_map import DriverErrors

__all__ = ["RedisErrors", "import_redis"]


def import_redis() -> ModuleType:
    """Import ``redis.asyncio``, naming the extra to install when redis-py is missing."""
    try:
        import redis.asyncio
        import redis.asyncio.cluster
        import redis.exceptions
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            'RedisStorage needs redis-py: pip install "botsessions[redis]"', name="redis"
        ) from exc
    # RedisClusterException (no cluster reachable, a slot no node serves) is no RedisError.
    RedisErrors.errors = (
        redis.exceptions.RedisError,
        redis.exceptions.RedisClusterException,
        OSError,
    )
    module: ModuleType = redis.asyncio
    return module


class RedisErrors(DriverErrors):
    """A redis-py (or socket) error becomes ``StorageError`` naming the key."""

    __slots__ = ()
    backend = "Redis"
