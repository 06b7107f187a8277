"""``LocalBotAPI``: the HTTP server, its bots, users and groups, and its lifecycle."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

from aiohttp import web

from botsessions.storage._lifecycle import AsyncClosing
from botsessions.testing.bot_api._methods import MethodTable
from botsessions.testing.bot_api._state import ApiError, BotState, ChatState, Hub
from botsessions.testing.bot_api._users import ChatUser, Group
from botsessions.testing.bot_api._webhook import WebhookDelivery

__all__ = ["LocalBotAPI"]

T = TypeVar("T")


class LocalBotAPI(AsyncClosing):
    """A Bot API server on 127.0.0.1 with bots and users you control from Python.

    Use it as ``async with LocalBotAPI() as api:`` on the running loop, or as
    ``with LocalBotAPI() as api:`` to run it in a background thread (for code that runs
    its own event loop). Point a client at ``api.url``: aiogram's
    ``TelegramAPIServer.from_base(api.url)``, or ``Bot(token, api_server=api.url)``.

    Args:
        host: interface to listen on.
        port: TCP port; ``0`` picks a free one.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._hub = Hub()
        self._delivery = WebhookDelivery(self._hub)
        self._methods = MethodTable(self._hub, self._delivery)
        self._hub.on_enqueue = self._delivery.kick
        self._hub.execute = self._methods.call
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:41234``.

        Raises:
            RuntimeError: before ``start()``.
        """
        if self._url is None:
            raise RuntimeError("LocalBotAPI is not running: use 'async with LocalBotAPI()'")
        return self._url

    async def start(self) -> None:
        """Start listening on the current event loop."""
        if self._runner is not None:
            raise RuntimeError("LocalBotAPI is already running")
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", _not_found)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        port = runner.addresses[0][1]
        self._url = f"http://{self._host}:{port}"

    async def close(self) -> None:
        """Stop the server, webhook deliveries and waiting requests. Idempotent."""
        runner, self._runner = self._runner, None
        tasks = list(self._hub.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._delivery.close()
        if runner is not None:
            await runner.cleanup()
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    def __enter__(self) -> Self:
        """Run the server on its own event loop in a daemon thread."""
        started = threading.Event()
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._thread = threading.Thread(target=serve, name="LocalBotAPI", daemon=True)
        self._thread.start()
        started.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        thread, self._thread = self._thread, None
        if thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join()

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine (e.g. ``user.send("hi")``) on the server's loop from another thread."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("LocalBotAPI is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("LocalBotAPI is not running: start it before acting as a user")
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def add_bot(
        self,
        *,
        username: str = "test_bot",
        first_name: str = "Test Bot",
        token: str | None = None,
    ) -> str:
        """Register a bot and return its token (``getMe`` answers with this bot).

        Raises:
            ValueError: for a malformed or already registered token.
        """
        bot_id = next(self._hub.ids)
        if token is None:
            token = f"{bot_id}:{secrets.token_urlsafe(26)}"
        left, sep, right = token.partition(":")
        if not (sep and left.isdigit() and right):
            raise ValueError(f"malformed token {token!r}: expected '<digits>:<secret>'")
        if token in self._hub.bots:
            raise ValueError("a bot with this token is already registered")
        user = {
            "id": int(left),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._hub.bots[token] = BotState(token, user)
        return token

    def user(
        self,
        token: str,
        *,
        first_name: str = "User",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
    ) -> ChatUser:
        """A Telegram user in a private chat with the bot of ``token``.

        ``user_id`` (also the chat id) defaults to a fresh id; give one to keep the same
        chat across server restarts, e.g. when sessions are stored persistently.

        Raises:
            ValueError: when that user already has a chat with this bot.
        """
        bot = self._bot(token)
        if user_id is None:
            user_id = next(self._hub.ids)
        if user_id in bot.chats:
            raise ValueError(f"user {user_id} already has a chat with this bot")
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: dict[str, Any] = {"id": user["id"], "type": "private", "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username)):
            if value is not None:
                user[key] = chat[key] = value
        if language_code is not None:
            user["language_code"] = language_code
        state = bot.chats[user["id"]] = ChatState(chat)
        return ChatUser(self._hub, bot, user, state, self._on_loop)

    def group(
        self,
        token: str,
        *,
        title: str = "Group",
        forum: bool = False,
        username: str | None = None,
    ) -> Group:
        """A new supergroup (a forum when ``forum=True``) with the bot as a member."""
        bot = self._bot(token)
        chat: dict[str, Any] = {
            "id": -1_000_000_000_000 - next(self._hub.ids),
            "type": "supergroup",
            "title": title,
        }
        if forum:
            chat["is_forum"] = True
        if username is not None:
            chat["username"] = username
        state = bot.chats[chat["id"]] = ChatState(chat)
        return Group(self._hub, bot, state)

    def calls(self, token: str) -> list[tuple[str, dict[str, Any]]]:
        """Every Bot API call the bot made so far: ``(method, raw parameters)``."""
        return list(self._bot(token).calls)

    async def wait_for_call(
        self,
        token: str,
        method: str,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait until the bot has called ``method`` ``count`` times; return that call's parameters.

        Method names compare case-insensitively, as Telegram does.

        Raises:
            TimeoutError: when it does not happen within ``timeout`` seconds.
        """
        return await self._on_loop(self._wait_for_call(self._bot(token), method, count, timeout))

    async def _wait_for_call(
        self, bot: BotState, method: str, count: int, seconds: float
    ) -> dict[str, Any]:
        wanted = method.lower()
        try:
            async with asyncio.timeout(seconds):
                while True:
                    matching = [p for m, p in bot.calls if m.lower() == wanted]
                    if len(matching) >= count:
                        return dict(matching[count - 1])
                    await bot.called.wait()
        except TimeoutError:
            raise TimeoutError(
                f"the bot did not call {method} {count} time(s) within {seconds} s"
            ) from None

    def pending_updates(self, token: str) -> list[dict[str, Any]]:
        """Updates created for the bot and not yet confirmed (polling) or delivered (webhook)."""
        return list(self._bot(token).pending)

    def _bot(self, token: str) -> BotState:
        bot = self._hub.bots.get(token)
        if bot is None:
            raise ValueError("unknown token: register the bot with api.add_bot() first")
        return bot

    async def _handle(self, request: web.Request) -> web.Response:
        bot = self._hub.bots.get(request.match_info["token"])
        if bot is None:
            return _error(ApiError(401, "Unauthorized"))
        try:
            params = await _read_params(request)
            result = await self._methods.call(bot, request.match_info["method"], params)
        except ApiError as exc:
            return _error(exc)
        return web.json_response({"ok": True, "result": result})


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON object expected")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _error(error: ApiError) -> web.Response:
    body = {"ok": False, "error_code": error.code, "description": error.description}
    return web.json_response(body, status=error.code)


async def _not_found(request: web.Request) -> web.Response:
    return _error(ApiError(404, "Not Found"))
