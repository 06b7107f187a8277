"""Receive updates over HTTP: an aiohttp handler/app and a plain ASGI app.

Telegram POSTs each update as JSON to your webhook URL. Set a secret token when
registering the webhook (``await bot.api.set_webhook(url, secret_token=...)``)
and give the same secret here: requests without the matching
``X-Telegram-Bot-Api-Secret-Token`` header get 403 and are not dispatched.

Responses: 200 once the update was handled (also when a middleware raised and the
``bot.catch`` handler dealt with it); 400 for a body that is not an update; 403
for a wrong or missing secret; 413 for a body over 1 MiB (Telegram's updates are
far smaller; the body is not buffered); 500 with a generic body when the error
handler itself raised or the bot could not start. Error details only go to the log
and to ``bot.catch``, never into the response.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from botsessions._errors import BotError

if TYPE_CHECKING:
    from botsessions.bot._bot import Bot

__all__ = ["asgi_app", "webhook_app", "webhook_handler"]

logger = logging.getLogger("botsessions.bot")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024
"""The largest request body accepted (bytes); larger ones get 413."""
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")
_SECRET_HEADER_BYTES = SECRET_HEADER.lower().encode()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Receiver:
    """What both servers share: check the secret, parse, dispatch, pick the status.

    The server checks ``authorized()`` before it reads the body, then calls ``receive()``.
    """

    def __init__(self, bot: Bot, secret_token: str | None) -> None:
        if secret_token is not None and not _SECRET.match(secret_token):
            raise ValueError(
                "secret_token must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' "
                "(the characters Telegram allows)"
            )
        self._bot = bot
        self._secret = None if secret_token is None else secret_token.encode()
        self._init_lock = asyncio.Lock()

    def authorized(self, header: bytes | None) -> bool:
        if self._secret is None:
            return True
        return header is not None and hmac.compare_digest(header, self._secret)

    async def startup(self) -> None:
        if not self._bot.is_initialized:
            async with self._init_lock:
                await self._bot.init()

    async def shutdown(self) -> None:
        await self._bot.api.close()

    async def receive(self, body: bytes) -> tuple[int, bytes]:
        """Handle one POSTed update; returns the HTTP status and body to answer with."""
        try:
            update = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400, b"Bad Request"
        if not isinstance(update, dict) or "update_id" not in update:
            return 400, b"Bad Request"
        try:
            await self.startup()
            await self._bot.handle_update(update)
        except BotError as err:
            try:
                await self._bot.report_error(err)
            except Exception:
                logger.exception("The error handler raised while handling a webhook update")
                return 500, b"Internal Server Error"
        except Exception:
            logger.exception("Webhook update could not be handled")
            return 500, b"Internal Server Error"
        return 200, b""


def _raw_secret(request: web.Request) -> bytes | None:
    """The secret header's bytes as received (no decoding, so any bytes compare safely)."""
    for name, value in request.raw_headers:
        if name.lower() == _SECRET_HEADER_BYTES:
            return value
    return None


def _aiohttp_handler(receiver: _Receiver) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        header = _raw_secret(request)
        if not receiver.authorized(header):
            return web.Response(status=403, text="Forbidden")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="Payload Too Large")
        status, body = await receiver.receive(await request.read())
        return web.Response(status=status, body=body)

    return handle


def webhook_handler(
    bot: Bot, *, secret_token: str | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp request handler that feeds POSTed updates to ``bot``.

    Mount it on your own ``web.Application`` (``app.router.add_post(path, handler)``).
    The bot is initialized on the first request if it was not already. Bodies over
    1 MiB are refused by aiohttp's own request size limit (``client_max_size``).

    Raises:
        ValueError: ``secret_token`` has characters Telegram does not allow.
    """
    return _aiohttp_handler(_Receiver(bot, secret_token))


def webhook_app(bot: Bot, *, path: str = "/", secret_token: str | None = None) -> web.Application:
    """An aiohttp ``web.Application`` that receives updates on ``POST path``.

    It calls ``bot.init()`` on startup and closes the bot's HTTP connections on cleanup.
    Run it with ``web.run_app(webhook_app(bot, secret_token=...), port=8080)``.

    Raises:
        ValueError: ``secret_token`` has characters Telegram does not allow.
    """
    receiver = _Receiver(bot, secret_token)
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(path, _aiohttp_handler(receiver))

    async def on_startup(_: web.Application) -> None:
        await receiver.startup()

    async def on_cleanup(_: web.Application) -> None:
        await receiver.shutdown()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def asgi_app(bot: Bot, *, path: str | None = None, secret_token: str | None = None) -> ASGIApp:
    """A plain ASGI application that receives updates (for uvicorn, hypercorn, ...).

    Accepts ``POST`` on ``path`` (any path when None); other methods get 405, other
    paths 404, bodies over 1 MiB 413 (checked on ``Content-Length`` first, then while
    the body streams in, so a large body is never held in memory). Handles the
    lifespan protocol: ``bot.init()`` on startup, the HTTP connections closed on
    shutdown.

    Raises:
        ValueError: ``secret_token`` has characters Telegram does not allow.
    """
    receiver = _Receiver(bot, secret_token)

    async def respond(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await receiver.startup()
                except Exception as exc:
                    logger.exception("The bot could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await receiver.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["type"] != "http":
            raise ValueError(f"Unsupported ASGI scope type {scope['type']!r}")
        if path is not None and scope["path"] != path:
            return await respond(send, 404, b"Not Found")
        if scope["method"] != "POST":
            return await respond(send, 405, b"Method Not Allowed")
        header = None
        declared = None
        for name, value in scope["headers"]:
            if name == _SECRET_HEADER_BYTES:
                header = value
            elif name == b"content-length":
                declared = value
        if not receiver.authorized(header):
            return await respond(send, 403, b"Forbidden")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return await respond(send, 413 if declared.isdigit() else 400, _TOO_LARGE)
        try:
            body = await _read_body(receive)
        except _TooLarge:
            return await respond(send, 413, _TOO_LARGE)
        if body is None:  # the client went away
            return None
        status, answer = await receiver.receive(body)
        return await respond(send, status, answer)

    return app


_TOO_LARGE = b"Payload Too Large"


class _TooLarge(Exception):
    """The body grew past ``MAX_BODY`` while it was read."""


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when the client disconnected.

    Reading stops at the first chunk that crosses ``MAX_BODY`` (raising ``_TooLarge``),
    so no more than the limit plus one chunk is ever held.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
