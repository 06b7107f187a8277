"""Loading asyncpg on first use, and how its errors become ``StorageError``."""

from __future__ import annotations

from types import ModuleType

from botsessions._errors import LockTimeoutError, StorageError
from botsessions.storage._errors_map import DriverErrors, import_driver, unencodable_key
from botsessions.storage._lease import log_lock_timeout

__all__ = ["LOCK_NOT_AVAILABLE", "PoolTimeout", "PostgresErrors", "import_asyncpg"]

LOCK_NOT_AVAILABLE = "55P03"
"""SQLSTATE raised when ``lock_timeout`` expires while waiting for a lock."""


def import_asyncpg() -> ModuleType:
    """Import asyncpg, naming the extra to install when it is missing."""
    (asyncpg,) = import_driver(
        "asyncpg", storage="PostgresStorage", package="asyncpg", extra="postgres"
    )
    # InternalClientError: a connection the server terminated mid-operation can leave
    # asyncpg's protocol in a state it reports this way ("cannot switch to state ...").
    PostgresErrors.errors = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
    )
    return asyncpg


class PoolTimeout(TimeoutError):
    """No pool connection became free in time (internal: ``PostgresErrors`` names the key).

    ``lease`` tells whether a lease waited (``LockTimeoutError``) or a plain operation
    (``StorageError``).
    """

    def __init__(self, reason: str, *, lease: bool) -> None:
        super().__init__(reason)
        self.lease = lease


class PostgresErrors(DriverErrors):
    """An asyncpg (or socket) error becomes ``StorageError`` naming the key.

    ``lock_timeout`` expiring, or a lease finding no pool connection within ``lock_wait``,
    becomes ``LockTimeoutError``; a key that is not valid Unicode (asyncpg reports it as
    ``DataError``) becomes ``ValueError``; a timeout never leaves the reason empty.
    """

    __slots__ = ()
    backend = "PostgreSQL"

    def translate(self, exc: BaseException) -> None:
        """A lock or pool wait ran out, or the key cannot be encoded."""
        target = "" if self.key is None else f" of session {self.key!r}"
        if isinstance(exc, PoolTimeout):
            if exc.lease:
                log_lock_timeout("PostgresStorage", None)
                raise LockTimeoutError(
                    f"the lock{target} could not be taken: {exc}", key=self.key
                ) from exc
            raise StorageError(
                f"{self.backend} {self.operation}{target} failed: {exc}", key=self.key
            ) from exc
        if isinstance(exc, TimeoutError) and not str(exc):
            raise StorageError(
                f"{self.backend} {self.operation}{target} failed: timed out (TimeoutError)",
                key=self.key,
            ) from exc
        if isinstance(exc.__cause__, UnicodeEncodeError):
            raise unencodable_key(self.key, exc.__cause__) from exc
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            log_lock_timeout("PostgresStorage", None)
            raise LockTimeoutError(
                f"session {self.key!r} stayed locked by another update for lock_wait; "
                "nothing was written. A handler may be stuck, or raise lock_wait",
                key=self.key,
            ) from exc
