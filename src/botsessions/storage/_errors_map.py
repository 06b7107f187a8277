"""The one place a database driver's errors become botsessions errors (Redis, PostgreSQL)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import ClassVar

from botsessions._errors import StorageError

__all__ = ["DriverErrors", "import_driver", "unencodable_key"]


def import_driver(*modules: str, storage: str, package: str, extra: str) -> list[ModuleType]:
    """Import a storage's driver ``modules``; when missing, name the extra to install."""
    try:
        return [importlib.import_module(name) for name in modules]
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f'{storage} needs {package}: pip install "botsessions[{extra}]"',
            name=modules[0].partition(".")[0],
        ) from exc


def unencodable_key(key: str | None, exc: UnicodeEncodeError) -> ValueError:
    """The error for a key no backend can store: it is not valid Unicode (lone surrogates)."""
    return ValueError(
        f"session key {key!r} cannot be stored: it is not valid Unicode text "
        f"({exc.reason} at position {exc.start}); session keys must encode as UTF-8"
    )


class DriverErrors:
    """Context manager: a driver (or socket) error becomes ``StorageError`` naming the key.

    Subclasses name the ``backend`` and list the driver's exception classes in
    ``errors`` once the driver is imported. A failed operation always raises: it is never
    reported as a missing session. A key that cannot be encoded as UTF-8 (a lone
    surrogate) raises ``ValueError`` naming it.
    """

    __slots__ = ("key", "operation")

    backend: ClassVar[str] = "storage"
    errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def __init__(self, operation: str, key: str | None) -> None:
        self.operation = operation
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if exc is None:
            return
        if isinstance(exc, UnicodeEncodeError):
            raise unencodable_key(self.key, exc) from exc
        if not isinstance(exc, self.errors):
            return
        self.translate(exc)
        target = "" if self.key is None else f" of session {self.key!r}"
        raise StorageError(
            f"{self.backend} {self.operation}{target} failed: {type(exc).__name__}: {exc}",
            key=self.key,
        ) from exc

    def translate(self, exc: BaseException) -> None:
        """Raise a more specific error for ``exc`` if there is one (default: none)."""
