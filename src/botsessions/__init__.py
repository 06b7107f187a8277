"""botsessions: per-chat and per-user sessions for Python Telegram bots."""

from botsessions._enhance import enhance_storage
from botsessions._errors import (
    BotError,
    BotSessionsError,
    CorruptDataError,
    LeaseLostError,
    LockError,
    LockTimeoutError,
    MigrationError,
    SessionKeyError,
    StorageError,
)
from botsessions._options import SessionOptions
from botsessions._session import lazy_session, session
from botsessions._types import Middleware, NextFn
from botsessions.bot import Bot, Composer, Context
from botsessions.storage import MemorySessionStorage, StorageAdapter

__version__ = "0.1.0"

__all__ = [
    "Bot",
    "BotError",
    "BotSessionsError",
    "Composer",
    "Context",
    "CorruptDataError",
    "LeaseLostError",
    "LockError",
    "LockTimeoutError",
    "MemorySessionStorage",
    "Middleware",
    "MigrationError",
    "NextFn",
    "SessionKeyError",
    "SessionOptions",
    "StorageAdapter",
    "StorageError",
    "enhance_storage",
    "lazy_session",
    "session",
]
