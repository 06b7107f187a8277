"""Every exception botsessions raises.

One root lets you catch all of them at once::

    BotSessionsError
    ├── BotError             a middleware or handler raised while handling an update
    ├── SessionKeyError      ctx.session was touched on an update without a session key
    ├── StorageError         a storage backend failed (the cause is chained)
    │   └── CorruptDataError a stored value cannot be decoded; the data is left in place
    ├── LockError            a session lock could not be used
    │   ├── LockTimeoutError the lock was not acquired within its wait time
    │   └── LeaseLostError   the lock's lease expired before the update could save
    ├── MigrationError       a migration function raised; nothing was written
    └── TelegramError        a Bot API call failed; its subclasses (BadRequest, Unauthorized,
                             Forbidden, Conflict, RetryAfter, ServerError, NetworkError) live
                             with the bot layer, in ``botsessions.bot``

Bad arguments raise the builtin ``ValueError`` / ``TypeError`` when an object is built.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BotError",
    "BotSessionsError",
    "CorruptDataError",
    "LeaseLostError",
    "LockError",
    "LockTimeoutError",
    "MigrationError",
    "SessionKeyError",
    "StorageError",
]


class BotSessionsError(Exception):
    """Base class of every botsessions error."""


class BotError(BotSessionsError):
    """A middleware raised while the bot handled an update.

    ``error`` is the original exception (also chained as ``__cause__``) and ``ctx``
    is the context of the update that failed (a ``botsessions.Context``, typed ``Any``
    here because this module sits below the bot layer).
    """

    def __init__(self, error: BaseException, ctx: Any) -> None:
        super().__init__(f"Error while handling update {_update_id(ctx)}: {error!r}")
        self.error = error
        self.ctx = ctx

    def __repr__(self) -> str:
        return f"BotError(error={self.error!r}, update_id={_update_id(self.ctx)!r})"


def _update_id(ctx: Any) -> object:
    update = getattr(ctx, "update", None)
    if isinstance(update, dict):
        return update.get("update_id")
    return getattr(update, "update_id", None)


class SessionKeyError(BotSessionsError):
    """``ctx.session`` was read or assigned on an update whose session key is ``None``."""


class _KeyedError(BotSessionsError):
    """An error about one session: ``key`` names it, when there is one."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, key={self.key!r})"


class StorageError(_KeyedError):
    """A storage backend failed. The driver's exception is chained as ``__cause__``.

    ``key`` names the session key involved, when there is one.
    """


class CorruptDataError(StorageError):
    """A stored value could not be decoded. The stored data is left untouched."""


class LockError(_KeyedError):
    """A session lock could not be used. ``key`` names the session key."""


class LockTimeoutError(LockError):
    """The session lock was not acquired within the configured wait; nothing was written."""


class LeaseLostError(LockError):
    """The lock's lease expired (or was taken over) before the save; the write was refused."""


class MigrationError(BotSessionsError):
    """A migration function raised. The stored data is unchanged; the cause is chained.

    ``key`` names the session key and ``version`` the migration that failed.
    """

    def __init__(self, message: str, *, key: str | None = None, version: float | None = None):
        super().__init__(message)
        self.key = key
        self.version = version

    def __repr__(self) -> str:
        return f"MigrationError({self.args[0]!r}, key={self.key!r}, version={self.version!r})"
