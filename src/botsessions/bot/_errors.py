"""What a Bot API call can raise: the server's refusals and the network's failures.

Every error of a Bot API call (``ctx.api.<method>(...)``, ``ctx.reply``, polling) is a
``TelegramError``, itself a ``BotSessionsError``::

    BotSessionsError
    └── TelegramError        a Bot API call failed (.method, .error_code, .description)
        ├── BadRequest       400: the parameters were refused (wrong chat, empty text, ...)
        ├── Unauthorized     401: the bot token was rejected
        ├── Forbidden        403: the bot may not do this (blocked by the user, kicked, ...)
        ├── Conflict         409: another poller or a webhook uses this token
        ├── RetryAfter       429: flood control; wait ``.retry_after`` seconds
        ├── ServerError      5xx: the Bot API server failed; retrying later may work
        └── NetworkError     the server could not be reached or did not answer in time

Other error codes (404 for an unknown method, ...) raise ``TelegramError`` itself.

``TransportError`` is internal: the HTTP client raises it, and ``Api`` turns it into a
``NetworkError`` naming the method and the server.
"""

from __future__ import annotations

from typing import Any

from botsessions._errors import BotSessionsError

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NetworkError",
    "RetryAfter",
    "ServerError",
    "TelegramError",
    "TransportError",
    "Unauthorized",
    "telegram_error",
]


class TelegramError(BotSessionsError):
    """A Bot API call failed.

    Attributes:
        method: the Bot API method, e.g. ``"sendMessage"``.
        error_code: the HTTP status / ``error_code`` the server answered (None when no
            answer arrived).
        description: the server's explanation (or what went wrong on the way).
        parameters: the ``parameters`` object of the answer (``retry_after``,
            ``migrate_to_chat_id``), empty when there was none.

    ``str(error)`` is ``message`` when given (the client adds what to check, e.g. for a
    rejected token), else ``"<method>: <description>"``.
    """

    def __init__(
        self,
        method: str,
        description: str,
        *,
        error_code: int | None = None,
        parameters: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(message or f"{method}: {description}")
        self.method = method
        self.error_code = error_code
        self.description = description
        self.parameters: dict[str, Any] = parameters or {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, error_code={self.error_code!r}, "
            f"description={self.description!r})"
        )


class BadRequest(TelegramError):
    """400: the server refused the parameters (unknown chat, empty text, bad markup, ...)."""


class Unauthorized(TelegramError):
    """401: the bot token was rejected; check the token you got from @BotFather."""


class Forbidden(TelegramError):
    """403: the bot may not do this, e.g. the user blocked it or it was removed from the chat."""


class Conflict(TelegramError):
    """409: another process polls with this token, or a webhook is set while polling."""


class RetryAfter(TelegramError):
    """429: flood control. ``retry_after`` is how many seconds to wait before retrying."""

    def __init__(
        self,
        method: str,
        description: str,
        *,
        error_code: int | None = 429,
        parameters: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(
            method, description, error_code=error_code, parameters=parameters, message=message
        )
        retry_after = self.parameters.get("retry_after")
        self.retry_after: float = (
            float(retry_after) if isinstance(retry_after, int | float) else 1.0
        )


class ServerError(TelegramError):
    """5xx: the Bot API server failed; the same call may work later."""


class NetworkError(TelegramError):
    """The Bot API server could not be reached, or it did not answer in time."""


class TransportError(Exception):
    """The HTTP exchange failed: no connection, a broken one, or a malformed answer.

    Raised by the HTTP client under ``Api``, which raises ``NetworkError`` from it.
    """


_BY_CODE: dict[int, type[TelegramError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    409: Conflict,
    429: RetryAfter,
}


def telegram_error(
    method: str,
    error_code: int,
    description: str,
    parameters: dict[str, Any] | None = None,
    *,
    message: str | None = None,
) -> TelegramError:
    """The exception for an error answer of the Bot API (its class picked by ``error_code``)."""
    cls = _BY_CODE.get(error_code)
    if cls is None:
        cls = ServerError if error_code >= 500 else TelegramError
    return cls(method, description, error_code=error_code, parameters=parameters, message=message)
