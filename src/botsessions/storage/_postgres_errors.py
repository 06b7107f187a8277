"""Loading asyncpg on first use, and how its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType

from botsessions._errors import LockTimeoutError
from botsessions.storage._errors_map import DriverErrors

__all__ = ["LOCK_NOT_AVAILABLE", "PostgresErrors", "import_asyncpg"]

LOCK_NOT_AVAILABLE = "55P03"
"""SQLSTATE raised when ``lock_timeout`` expires while waiting for a lock."""


def import_asyncpg() -> ModuleType:
    """Import asyncpg, naming the extra to install when it is missing."""
    try:
        import asyncpg
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "PostgresStorage needs asyncpg: pip install botsessions[postgres]", name="asyncpg"
        ) from exc
    PostgresErrors.errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
    return asyncpg


class PostgresErrors(DriverErrors):
    """An asyncpg (or socket) error becomes ``StorageError`` naming the key.

    ``lock_timeout`` expiring becomes ``LockTimeoutError``.
    """

    __slots__ = ()
    backend = "PostgreSQL"

    def translate(self, exc: BaseException) -> None:
        """``lock_timeout`` expired: the session stayed locked for ``lock_wait``."""
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise LockTimeoutError(
                f"session {self.key!r} stayed locked by another update for lock_wait; "
                "nothing was written. A handler may be stuck, or raise lock_wait",
                key=self.key,
            ) from exc
