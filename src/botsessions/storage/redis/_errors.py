"""Loading redis-py on first use, and how its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType

from botsessions.storage._errors_map import DriverErrors, import_driver

__all__ = ["RedisErrors", "import_redis"]


def import_redis() -> ModuleType:
    """Import ``redis.asyncio``, naming the extra to install when redis-py is missing."""
    client, _, exceptions = import_driver(
        "redis.asyncio",
        "redis.asyncio.cluster",
        "redis.exceptions",
        storage="RedisStorage",
        package="redis-py",
        extra="redis",
    )
    # RedisClusterException (no cluster reachable, a slot no node serves) is no RedisError.
    RedisErrors.errors = (exceptions.RedisError, exceptions.RedisClusterException, OSError)
    return client


class RedisErrors(DriverErrors):
    """A redis-py (or socket) error becomes ``StorageError`` naming the key."""

    __slots__ = ()
    backend = "Redis"

    @classmethod
    def reraise(cls, operation: str, key: str | None, exc: BaseException) -> None:
        """In an ``except`` block: raise what ``with RedisErrors(operation, key)`` raises
        for ``exc``, or return for an error it lets through.

        The lock's hot paths use it instead of the ``with`` block, which costs an object
        and two calls per command even when nothing fails.
        """
        cls(operation, key).__exit__(type(exc), exc, exc.__traceback__)
