"""Loading asyncmy on first use, and how its errors become ``StorageError``.

The driver: asyncmy and aiomysql were timed on 1,000 ``SELECT %s`` round trips against a
local MariaDB 10.11 (best of 7 runs / median): asyncmy 65-76 ms / 82-86 ms, aiomysql
70-85 ms / 114-140 ms. asyncmy is the faster, is maintained, ships type hints and needs
no other package, so it is the one used.
"""

from __future__ import annotations

from types import ModuleType

from botsessions.storage._errors_map import DriverErrors, import_driver

__all__ = ["GONE", "MySQLErrors", "error_number", "import_asyncmy"]

GONE = frozenset({2006, 1927})
"""Error numbers that mean the connection was already closed or killed when a statement
was sent ("server has gone away", "connection was killed"): the statement did not run."""


def import_asyncmy() -> ModuleType:
    """Import asyncmy, naming the extra to install when it is missing."""
    asyncmy, errors = import_driver(
        "asyncmy", "asyncmy.errors", storage="MySQLStorage", package="asyncmy", extra="mysql"
    )
    MySQLErrors.errors = (errors.MySQLError, OSError)
    return asyncmy


class MySQLErrors(DriverErrors):
    """An asyncmy (or socket) error becomes ``StorageError`` naming the key."""

    __slots__ = ()
    backend = "MySQL"


def error_number(exc: BaseException | None) -> int | None:
    """The server's (or client's) error number of a driver error, if it has one."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
