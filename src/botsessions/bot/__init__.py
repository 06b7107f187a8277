"""The grammY-style bot layer: Bot, Composer, Context, on a small Bot API client.

Nothing here needs a bot framework: updates are raw dicts, Telegram objects are
read by attribute (``ctx.message.text``), and Bot API calls go through ``Api``
(a small keep-alive HTTP/1.1 client on asyncio and h11, imported on the first call).
``botsessions.bot.webhook`` serves webhooks; ``botsessions.bot.aiogram_types``
converts to aiogram's models where aiogram is installed.

Handlers are typed by their context: ``Context[S]`` for ``session()`` (``ctx.session`` is
an ``S``), ``LazyContext[S]`` for ``lazy_session()`` (an ``Awaitable[S]``).
"""

from botsessions._errors import BotError
from botsessions.bot._api import Api
from botsessions.bot._bot import Bot, ErrorHandler
from botsessions.bot._composer import Composer
from botsessions.bot._context import Context, LazyContext
from botsessions.bot._errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    ServerError,
    TelegramError,
    Unauthorized,
)
from botsessions.bot._objects import (
    CallbackQuery,
    Chat,
    InlineQuery,
    Message,
    MessageEntity,
    TelegramObject,
    Update,
    User,
)
from botsessions.bot._request import InputFile
from botsessions.bot._types import Middleware, NextFn

__all__ = [
    "Api",
    "BadRequest",
    "Bot",
    "BotError",
    "CallbackQuery",
    "Chat",
    "Composer",
    "Conflict",
    "Context",
    "ErrorHandler",
    "Forbidden",
    "InlineQuery",
    "InputFile",
    "LazyContext",
    "Message",
    "MessageEntity",
    "Middleware",
    "NetworkError",
    "NextFn",
    "RetryAfter",
    "ServerError",
    "TelegramError",
    "TelegramObject",
    "Unauthorized",
    "Update",
    "User",
]
