"""Loading redis-py on first use, and the one place its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType, TracebackType

from botsessions._errors import StorageError

__all__ = ["RedisErrors", "import_redis"]

_DRIVER_ERRORS: tuple[type[BaseException], ...] = (OSError,)


def import_redis() -> ModuleType:
    """Import ``redis.asyncio``, naming the extra to install when redis-py is missing."""
    global _DRIVER_ERRORS
    try:
        import redis.asyncio
        import redis.exceptions
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "RedisStorage needs redis-py: pip install botsessions[redis]", name="redis"
        ) from exc
    _DRIVER_ERRORS = (redis.exceptions.RedisError, OSError)
    module: ModuleType = redis.asyncio
    return module


class RedisErrors:
    """Context manager: a redis-py (or socket) error becomes ``StorageError`` naming the key.

    A failed operation always raises: it is never reported as a missing session.
    """

    __slots__ = ("key", "operation")

    def __init__(self, operation: str, key: str | None) -> None:
        self.operation = operation
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None and isinstance(exc, _DRIVER_ERRORS):
            target = "" if self.key is None else f" of session {self.key!r}"
            raise StorageError(
                f"Redis {self.operation}{target} failed: {type(exc).__name__}: {exc}",
                key=self.key,
            ) from exc
