"""botsessions: per-chat and per-user sessions for Python Telegram bots.

The package is layered; each layer imports only the layers below it (a test checks every
import statement, including those under ``TYPE_CHECKING``)::

    _errors, _options                    exceptions; options and their validation
      <- storage                         the storage protocols and the built-in storages
        <- engine                        all per-update code: plan, state machine, locks
          <- _session, _enhance, keys    session(), lazy_session(), enhance_storage(), keys
            <- bot, integrations         the grammY-style bot layer; aiogram and PTB glue
              <- testing                 conformance kits, recording, the Bot API emulator
                <- _demo, _cli, __main__ the demo bot and the command line

``import botsessions`` loads the engine and the storages only. The bot layer (and its HTTP
client) is imported on first use of one of its names (``Bot``, ``Composer``, ``Context``,
``LazyContext``, ``Middleware``, ``NextFn``, the Telegram errors, ``InputFile``) through a module
``__getattr__``; no bot framework, database driver or pydantic is imported until something
needs it. Other modules import this front door only from ``testing`` up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from botsessions._exports import lazy_exports as _lazy_exports
from botsessions._options import SessionOptions
from botsessions._session import lazy_session, session
from botsessions.storage import MemorySessionStorage, StorageAdapter

if TYPE_CHECKING:
    from botsessions.bot import (
        BadRequest,
        Bot,
        Composer,
        Conflict,
        Context,
        Forbidden,
        InputFile,
        LazyContext,
        Middleware,
        NetworkError,
        NextFn,
        RetryAfter,
        ServerError,
        TelegramError,
        Unauthorized,
    )

__version__ = "0.1.0"

# Names served by the bot layer, imported on first access (PEP 562) so that storage-only and
# integration users never load it.
_LAZY = {
    "BadRequest": "botsessions.bot",
    "Conflict": "botsessions.bot",
    "Forbidden": "botsessions.bot",
    "InputFile": "botsessions.bot",
    "NetworkError": "botsessions.bot",
    "RetryAfter": "botsessions.bot",
    "ServerError": "botsessions.bot",
    "TelegramError": "botsessions.bot",
    "Unauthorized": "botsessions.bot",
    "Bot": "botsessions.bot",
    "LazyContext": "botsessions.bot",
    "Composer": "botsessions.bot",
    "Context": "botsessions.bot",
    "Middleware": "botsessions.bot",
    "NextFn": "botsessions.bot",
}

__all__ = [
    "BadRequest",
    "Bot",
    "BotError",
    "BotSessionsError",
    "Composer",
    "Conflict",
    "Context",
    "CorruptDataError",
    "Forbidden",
    "InputFile",
    "LazyContext",
    "LeaseLostError",
    "LockError",
    "LockTimeoutError",
    "MemorySessionStorage",
    "Middleware",
    "MigrationError",
    "NetworkError",
    "NextFn",
    "RetryAfter",
    "ServerError",
    "SessionKeyError",
    "SessionOptions",
    "StorageAdapter",
    "StorageError",
    "TelegramError",
    "Unauthorized",
    "enhance_storage",
    "lazy_session",
    "session",
]

__getattr__, __dir__ = _lazy_exports(__name__, _LAZY)
