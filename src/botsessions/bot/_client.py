"""The aiogram client a Bot talks through, and getUpdates returning raw dicts.

``aiogram.Bot(GetUpdates(...))`` validates every update into an ``Update`` model,
which costs more than handling a typical update. ``RawGetUpdates`` is the same
Bot API method declared to return a list of plain values, so aiogram's session
still builds the request, maps every error response to its exception types
(``TelegramRetryAfter``, ``TelegramUnauthorizedError``, ...) and runs request
middleware, while the updates arrive as the dicts the server sent.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot as AiogramBot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiogram.methods.base import TelegramMethod
from aiogram.utils.token import TokenValidationError

__all__ = ["RawGetUpdates", "explain_startup_error", "make_client"]


class RawGetUpdates(TelegramMethod[list[Any]]):
    """``getUpdates`` whose result is left as the list of raw update dicts."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


def make_client(token: str, api_server: str | None) -> AiogramBot:
    """aiogram's ``Bot`` for ``token``, pointed at ``api_server`` when one is given.

    Raises:
        ValueError: the token is not shaped like ``123456:secret``.
    """
    if not isinstance(token, str):
        raise TypeError(f"The bot token must be a string, got {type(token).__name__}")
    session = None
    if api_server is not None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_server))
    try:
        return AiogramBot(token, session=session)
    except TokenValidationError as exc:
        raise ValueError(
            "The bot token is malformed: expected '<bot id>:<secret>' "
            "as given by @BotFather (e.g. '123456:ABC-DEF...')"
        ) from exc


def explain_startup_error(exc: Exception, api: AiogramBot) -> Exception | None:
    """A clearer error for the two ways startup usually fails, or None to keep ``exc``."""
    base = api.session.api.base.split("/bot{token}")[0]
    if isinstance(exc, TelegramUnauthorizedError):
        return TelegramUnauthorizedError(
            method=exc.method,
            message=(
                f"the bot token was rejected ({exc.message}) by {base}: "
                "check the token you got from @BotFather"
            ),
        )
    if isinstance(exc, TelegramNetworkError):
        return TelegramNetworkError(
            method=exc.method,
            message=(
                f"cannot reach the Bot API server at {base} ({exc.message}): "
                "check api_server and your network connection"
            ),
        )
    return None
