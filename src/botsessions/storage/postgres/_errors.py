"""Loading asyncpg on first use, and how its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType

from botsessions._errors import LockTimeoutError
from botsessions.storage._errors_map import DriverErrors, unencodable_key

__all__ = ["LOCK_NOT_AVAILABLE", "PostgresErrors", "import_asyncpg"]

LOCK_NOT_AVAILABLE = "55P03"
"""SQLSTATE raised when ``lock_timeout`` expires while waiting for a lock."""


def import_asyncpg() -> ModuleType:
    """Import asyncpg, naming the extra to install when it is missing."""
    try:
        import asyncpg
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            'PostgresStorage needs asyncpg: pip install "botsessions[postgres]"', name="asyncpg"
        ) from exc
    # InternalClientError: a connection the server terminated mid-operation can leave
    # asyncpg's protocol in a state it reports this way ("cannot switch to state ...").
    PostgresErrors.errors = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
    )
    return asyncpg


class PostgresErrors(DriverErrors):
    """An asyncpg (or socket) error becomes ``StorageError`` naming the key.

    ``lock_timeout`` expiring becomes ``LockTimeoutError``; a key that is not valid Unicode
    (asyncpg reports it as ``DataError``) becomes ``ValueError``.
    """

    __slots__ = ()
    backend = "PostgreSQL"

    def translate(self, exc: BaseException) -> None:
        """``lock_timeout`` expired, or the key cannot be encoded."""
        if isinstance(exc.__cause__, UnicodeEncodeError):
            raise unencodable_key(self.key, exc.__cause__) from exc
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise LockTimeoutError(
                f"session {self.key!r} stayed locked by another update for lock_wait; "
                "nothing was written. A handler may be stuck, or raise lock_wait",
                key=self.key,
            ) from exc
