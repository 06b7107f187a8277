"""Api: a small Bot API client, for every method of the Bot API.

``await api.call("sendMessage", {"chat_id": 1, "text": "hi"})`` is the one entry point;
``api.send_message(chat_id=1, text="hi")`` is the same call, and any other snake_case
attribute maps to the camelCase method of the same name (``api.set_my_commands(...)``
calls ``setMyCommands``), so methods added to the Bot API work without an update here.
The methods handlers use most are written out below with typed signatures and results.

Requests go through the small keep-alive HTTP/1.1 client of ``botsessions.bot._http``,
imported (with h11) on the first call, so building a ``Bot`` and importing the bot layer
cost nothing on the network side.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from botsessions.bot._errors import (
    NetworkError,
    ServerError,
    TelegramError,
    TransportError,
    telegram_error,
)
from botsessions.bot._objects import Message, TelegramObject, User, wrap
from botsessions.bot._request import InputFile, encode_params, multipart_body
from botsessions.storage._lifecycle import AsyncClosing

if TYPE_CHECKING:
    from botsessions.bot._http import HTTPClient, Origin

__all__ = ["DEFAULT_SERVER", "Api", "FileArg"]

DEFAULT_SERVER = "https://api.telegram.org"
_TOKEN = re.compile(r"\d+:\S+\Z")
_LONG_POLL_MARGIN = 10.0  # seconds a getUpdates request may take beyond its long-poll timeout

FileArg = InputFile | bytes | str | os.PathLike[str] | BinaryIO
"""A file parameter: an ``InputFile``, ``bytes``, a ``pathlib.Path``, an open binary file,
or a string (a ``file_id`` or URL)."""


def _parse_server(server: str) -> tuple[Origin, str]:
    """The origin (scheme, host, port) of a Bot API server's URL, and its path.

    Written out rather than done by ``urllib.parse``, which imports ``ipaddress``: a few
    milliseconds of a bot's time to its first reply (``bench/startup.py``).

    Raises:
        ValueError: not an ``http://`` or ``https://`` URL of a host, an optional port
            and an optional path.
    """
    scheme, separator, rest = server.partition("://")
    scheme = scheme.lower()
    authority, slash, path = rest.partition("/")
    well_formed = bool(separator) and not any(char in server for char in "@?# ")
    if authority.startswith("["):  # an IPv6 address: [::1]:8081
        host, bracket, after_host = authority[1:].partition("]")
        well_formed = well_formed and bool(bracket) and after_host[:1] in ("", ":")
        port_text = after_host[1:]
    else:
        host, _, port_text = authority.partition(":")
    port = 443 if scheme == "https" else 80
    if port_text.isascii() and port_text.isdigit():
        port = int(port_text)
    elif port_text:
        well_formed = False
    if not (well_formed and scheme in ("http", "https") and host and 0 < port < 65536):
        raise ValueError(
            "The Bot API server must be an http:// or https:// URL of a host, an optional "
            f"port and an optional path (e.g. http://127.0.0.1:8081), got {server!r}"
        )
    return (scheme, host, port), slash + path


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Api(AsyncClosing):
    """A Bot API client for one bot token.

    Args:
        token: the bot token from @BotFather.
        server: base URL of the Bot API server (default ``https://api.telegram.org``;
            a self-hosted or local test server otherwise).
        timeout: seconds a call may take before it fails with ``NetworkError``
            (``getUpdates`` gets its long-poll timeout on top); also the longest wait
            for a connection.

    Every call returns the method's ``result``, with JSON objects viewed as Telegram
    objects (``(await api.get_me()).username``), and raises a ``TelegramError``
    subclass when the server refuses it or cannot be reached.

    Connections are kept alive between calls, per server, and reused; ``await
    api.close()`` (or ``async with api:``) closes them all; a later call opens new ones.

    Raises:
        ValueError: the token is not shaped like ``123456:secret``, or ``server`` is not
            an ``http://`` or ``https://`` URL.
    """

    def __init__(self, token: str, *, server: str | None = None, timeout: float = 60.0) -> None:
        if not isinstance(token, str):
            raise TypeError(f"The bot token must be a string, got {type(token).__name__}")
        if not _TOKEN.match(token):
            raise ValueError(
                "The bot token is malformed: expected '<bot id>:<secret>' "
                "as given by @BotFather (e.g. '123456:ABC-DEF...')"
            )
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.server = (server or DEFAULT_SERVER).rstrip("/")
        """Base URL of the Bot API server."""
        self._origin, path = _parse_server(self.server)
        self._path = f"{path}/bot{token}/"  # + the method's name
        self._timeout = timeout
        self._http: HTTPClient | None = None

    def __repr__(self) -> str:
        return f"Api(server={self.server!r})"

    # -- transport ---------------------------------------------------------------------

    def _client(self) -> HTTPClient:
        if self._http is None:
            from botsessions.bot._http import HTTPClient

            self._http = HTTPClient()
        return self._http

    async def close(self) -> None:
        """Close every connection (idempotent; the next call opens new ones)."""
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        request_timeout: float | None = None,
    ) -> Any:
        """Call Bot API ``method`` with ``params``; return its raw JSON ``result``.

        ``None`` values are left out; files (``InputFile``, ``bytes``, ``Path``, binary
        files) switch the request to multipart (see ``botsessions.bot.InputFile``).

        Raises:
            TelegramError: the server refused the call (a subclass per error code).
            NetworkError: the server could not be reached or did not answer in time.
        """
        params = params or {}
        if request_timeout is None:
            request_timeout = self._timeout
            if method == "getUpdates":
                request_timeout += float(params.get("timeout") or 0) + _LONG_POLL_MARGIN
        body = encode_params(params)
        if isinstance(body, bytes):
            content_type = "application/json"
        else:
            body, content_type = await multipart_body(body)
        with self._network_errors(method, request_timeout):
            response = await self._client().post(
                self._origin,
                self._path + method,
                body,
                content_type=content_type,
                timeout=request_timeout,
                connect_timeout=min(self._timeout, request_timeout),
            )
        return self._result(method, response.status, response.body)

    @contextlib.contextmanager
    def _network_errors(self, method: str, seconds: float) -> Iterator[None]:
        """Turn the HTTP client's failures into ``NetworkError`` naming the server."""
        try:
            yield
        except TimeoutError as exc:
            raise NetworkError(
                method,
                f"no answer within {seconds:g} s",
                message=f"{method}: the Bot API server at {self.server} did not answer "
                f"within {seconds:g} s",
            ) from exc
        except TransportError as exc:
            detail = str(exc)
            raise NetworkError(
                method,
                detail,
                message=f"{method}: cannot reach the Bot API server at {self.server} "
                f"({detail}): check api_server and your network connection",
            ) from exc

    def _result(self, method: str, status: int, payload: bytes) -> Any:
        try:
            answer = orjson.loads(payload)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            cls = ServerError if status >= 500 else TelegramError
            raise cls(method, f"HTTP {status}, not a Bot API answer", error_code=status)
        if answer.get("ok"):
            return answer.get("result")
        code = answer.get("error_code")
        code = code if isinstance(code, int) else status
        description = str(answer.get("description") or f"HTTP {status}")
        parameters = answer.get("parameters")
        message = None
        if code == 401:
            message = (
                f"{method}: the bot token was rejected by {self.server} ({description}): "
                "check the token you got from @BotFather"
            )
        raise telegram_error(
            method,
            code,
            description,
            parameters if isinstance(parameters, dict) else None,
            message=message,
        )

    # -- every method, by name -----------------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = _camel(name)

        async def call_method(**params: Any) -> Any:
            return wrap(await self.call(method, params))

        call_method.__name__ = name
        call_method.__qualname__ = f"Api.{name}"
        call_method.__doc__ = f"Call the Bot API method ``{method}`` (see core.telegram.org)."
        self.__dict__[name] = call_method  # found directly from now on
        return call_method

    # -- the methods used most, typed ------------------------------------------------------

    async def get_me(self) -> User:
        """``getMe``: the bot's own user."""
        return User(await self.call("getMe"))

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 (getUpdates' long-poll timeout)
        allowed_updates: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``getUpdates``: pending updates, as the raw dicts the server sent."""
        params = {
            "offset": offset,
            "limit": limit,
            "timeout": timeout,
            "allowed_updates": None if allowed_updates is None else list(allowed_updates),
        }
        result: list[dict[str, Any]] = await self.call("getUpdates", params)
        return result

    async def set_webhook(self, url: str, **params: Any) -> bool:
        """``setWebhook``: deliver updates to ``url`` (``secret_token=...`` recommended)."""
        return bool(await self.call("setWebhook", {"url": url, **params}))

    async def delete_webhook(self, drop_pending_updates: bool | None = None) -> bool:
        """``deleteWebhook``: stop webhook delivery (needed before polling)."""
        params = {"drop_pending_updates": drop_pending_updates}
        return bool(await self.call("deleteWebhook", params))

    async def get_webhook_info(self) -> TelegramObject:
        """``getWebhookInfo``: the current webhook (``url`` is ``""`` when none is set)."""
        return TelegramObject(await self.call("getWebhookInfo"))

    async def send_message(self, chat_id: int | str, text: str, **params: Any) -> Message:
        """``sendMessage``: send ``text`` to ``chat_id`` (``reply_markup``, ``parse_mode``...)."""
        return Message(await self.call("sendMessage", {"chat_id": chat_id, "text": text, **params}))

    async def edit_message_text(self, text: str, **params: Any) -> Message | bool:
        """``editMessageText``: the edited message (``True`` for an inline message).

        Give ``chat_id`` and ``message_id``, or ``inline_message_id``.
        """
        result = await self.call("editMessageText", {"text": text, **params})
        return Message(result) if isinstance(result, dict) else bool(result)

    async def answer_callback_query(
        self, callback_query_id: str, text: str | None = None, **params: Any
    ) -> bool:
        """``answerCallbackQuery``: end the button's loading state, optionally with a notice."""
        params = {"callback_query_id": callback_query_id, "text": text, **params}
        return bool(await self.call("answerCallbackQuery", params))

    async def send_photo(self, chat_id: int | str, photo: FileArg, **params: Any) -> Message:
        """``sendPhoto``: ``photo`` is a file to upload, a ``file_id`` or a URL."""
        params = {"chat_id": chat_id, "photo": photo, **params}
        return Message(await self.call("sendPhoto", params))

    async def send_document(self, chat_id: int | str, document: FileArg, **params: Any) -> Message:
        """``sendDocument``: ``document`` is a file to upload, a ``file_id`` or a URL."""
        params = {"chat_id": chat_id, "document": document, **params}
        return Message(await self.call("sendDocument", params))

    async def send_media_group(
        self, chat_id: int | str, media: Sequence[Mapping[str, Any]], **params: Any
    ) -> list[Message]:
        """``sendMediaGroup``: each item's ``media`` may be a file to upload."""
        result = await self.call("sendMediaGroup", {"chat_id": chat_id, "media": media, **params})
        return [Message(item) for item in result]

    async def delete_message(self, chat_id: int | str, message_id: int) -> bool:
        """``deleteMessage``."""
        params = {"chat_id": chat_id, "message_id": message_id}
        return bool(await self.call("deleteMessage", params))

    async def send_chat_action(self, chat_id: int | str, action: str, **params: Any) -> bool:
        """``sendChatAction``: show "typing...", "upload_photo", ... for a few seconds."""
        params = {"chat_id": chat_id, "action": action, **params}
        return bool(await self.call("sendChatAction", params))
