"""Loading asyncpg on first use, and the one place its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType, TracebackType

from botsessions._errors import LockTimeoutError, StorageError

__all__ = ["LOCK_NOT_AVAILABLE", "PostgresErrors", "import_asyncpg"]

LOCK_NOT_AVAILABLE = "55P03"
"""SQLSTATE raised when ``lock_timeout`` expires while waiting for a lock."""

_DRIVER_ERRORS: tuple[type[BaseException], ...] = (OSError,)


def import_asyncpg() -> ModuleType:
    """Import asyncpg, naming the extra to install when it is missing."""
    global _DRIVER_ERRORS
    try:
        import asyncpg
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "PostgresStorage needs asyncpg: pip install botsessions[postgres]", name="asyncpg"
        ) from exc
    _DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
    return asyncpg


class PostgresErrors:
    """Context manager: an asyncpg (or socket) error becomes ``StorageError`` naming the key.

    ``lock_timeout`` expiring becomes ``LockTimeoutError``. A failed read always raises:
    it is never reported as a missing session.
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
        if exc is None or not isinstance(exc, _DRIVER_ERRORS):
            return
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise LockTimeoutError(
                f"session {self.key!r} stayed locked by another update for lock_wait; "
                "nothing was written. A handler may be stuck, or raise lock_wait",
                key=self.key,
            ) from exc
        target = "" if self.key is None else f" of session {self.key!r}"
        raise StorageError(
            f"PostgreSQL {self.operation}{target} failed: {type(exc).__name__}: {exc}",
            key=self.key,
        ) from exc
