"""Bot: a Composer bound to a Bot API client, with update handling and long polling."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from botsessions._errors import BotError
from botsessions.bot._api import Api
from botsessions.bot._composer import Composer, call_once
from botsessions.bot._context import Context
from botsessions.bot._objects import TelegramObject, User
from botsessions.bot._polling import Poller

__all__ = ["API_SERVER_ENV", "Bot", "ErrorHandler"]

logger = logging.getLogger("botsessions.bot")

API_SERVER_ENV = "BOT_API_SERVER"
"""The environment variable ``Bot`` reads its Bot API server from when ``api_server``
is not given (``python -m botsessions.testing.bot_api`` prints a command that sets it)."""

ErrorHandler = Callable[[BotError], Awaitable[None] | None]
"""``bot.catch`` handler: ``(err: BotError) -> None``, sync or async."""


class PydanticModel(Protocol):
    """A pydantic model, such as aiogram's ``Update`` or ``User`` (told apart without
    importing pydantic or aiogram)."""

    def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...


async def _log_error(err: BotError) -> None:
    logger.error("%s", err, exc_info=err.error)


async def _end() -> None:
    """What ``next()`` runs after the last middleware: nothing."""


def _coerce_update(update: Any) -> dict[str, Any]:
    if type(update) is not dict:
        dump = getattr(update, "model_dump", None)
        if callable(dump):  # an aiogram Update (a pydantic model), told apart without aiogram
            update = dump(mode="json", exclude_none=True, by_alias=True)
        if not isinstance(update, dict):
            raise TypeError(
                f"Malformed update: expected a dict or an aiogram Update, "
                f"got {type(update).__name__}"
            )
    if "update_id" not in update:
        raise ValueError(
            f"Malformed update: no 'update_id' (keys: {sorted(update)[:5]}); "
            "pass the update exactly as the Bot API sent it"
        )
    return update


class Bot(Composer):
    """A grammY-style bot: register middleware, then handle updates or start polling.

    Bot API calls go through ``bot.api`` (also ``ctx.api`` in handlers), a small
    client for every Bot API method; the network is used only from ``init()`` /
    polling / the first call on.

    Args:
        token: the bot token from @BotFather.
        bot_info: the bot's ``getMe`` result (a dict, a ``User``, or an aiogram
            ``User``); with it the bot needs no ``init()`` call and no network to
            handle updates.
        api_server: base URL of a Bot API server other than api.telegram.org
            (a self-hosted or local test server). When not given, the
            ``BOT_API_SERVER`` environment variable is used if it is set, so a bot
            written for Telegram runs unchanged against a local server.
        context_type: the class instantiated per update; a subclass of ``Context``
            may add its own properties.

    Raises:
        ValueError: the token is malformed.
    """

    def __init__(
        self,
        token: str,
        *,
        bot_info: Mapping[str, Any] | TelegramObject | PydanticModel | None = None,
        api_server: str | None = None,
        context_type: type[Context] = Context,
    ) -> None:
        super().__init__()
        if api_server is None:
            api_server = os.environ.get(API_SERVER_ENV) or None
        self.api: Api = Api(token, server=api_server)
        """The Bot API client (``await bot.api.send_message(chat_id, text)``)."""
        self._me: User | None = None if bot_info is None else _user(bot_info)
        self._context_type = context_type
        self._error_handler: Callable[[BotError], Awaitable[None]] = _log_error
        self._poller: Poller | None = None

    def __repr__(self) -> str:
        username = None if self._me is None else self._me.username
        return f"Bot(username={username!r})"

    @property
    def me(self) -> User:
        """The bot's own user (``getMe``).

        Raises:
            RuntimeError: the bot is not initialized yet.
        """
        if self._me is None:
            raise RuntimeError(
                "The bot is not initialized: await bot.init() first, or pass "
                "bot_info={...} (the getMe result) to Bot()"
            )
        return self._me

    @property
    def is_initialized(self) -> bool:
        """Whether the bot knows its own user (``init()`` ran or ``bot_info`` was given)."""
        return self._me is not None

    async def init(self) -> None:
        """Fetch the bot's own user with ``getMe`` (skipped when already known).

        Raises:
            Unauthorized: the token was rejected.
            NetworkError: the Bot API server is unreachable.
        """
        if self._me is None:
            self._me = await self.api.get_me()

    def catch(self, handler: ErrorHandler) -> ErrorHandler:
        """Set the handler for errors raised by middleware while polling or on webhooks.

        The default logs the error and carries on with the next update. If the
        handler itself raises, polling stops and the error propagates. Returns the
        handler, so it can be used as a decorator.
        """
        if not callable(handler):
            raise TypeError(f"catch() needs a callable, got {type(handler).__name__}")
        if inspect.iscoroutinefunction(handler):
            self._error_handler = handler
        else:

            async def call_sync(err: BotError) -> None:
                result = handler(err)
                if inspect.isawaitable(result):
                    await result

            self._error_handler = call_sync
        return handler

    async def report_error(self, err: BotError) -> None:
        """Pass ``err`` to the handler set with ``catch`` (by default: log it)."""
        await self._error_handler(err)

    async def handle_update(self, update: dict[str, Any] | PydanticModel) -> None:
        """Run the middleware tree once for ``update``.

        Args:
            update: the raw update dict (as the Bot API sends it) or an aiogram
                ``Update`` (converted to a dict once).

        Raises:
            BotError: a middleware raised; ``.error`` is the original exception and
                ``.ctx`` the update's context.
            TypeError, ValueError: the update is malformed (not a dict, no update_id).
            RuntimeError: the bot is not initialized (no ``init()`` and no ``bot_info``).
        """
        raw = update if type(update) is dict and "update_id" in update else _coerce_update(update)
        me = self._me
        if me is None:
            me = self.me  # raises the explanatory RuntimeError
        handler = self._compiled
        if handler is None:
            handler = self.middleware()
        ctx = self._context_type(raw, self.api, me)
        try:
            await handler(ctx, call_once(_end))
        except Exception as exc:
            raise BotError(exc, ctx) from exc

    async def run_polling(
        self,
        *,
        timeout: int = 30,  # noqa: ASYNC109 (getUpdates' long-polling timeout)
        limit: int = 100,
        allowed_updates: Sequence[str] | None = None,
        drop_pending_updates: bool = False,
        concurrency: int = 1,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        """Fetch updates with long polling and handle them until ``stop()``.

        Deletes a webhook if one is set, then calls ``getUpdates`` in a loop. Each
        update is handled before its offset is confirmed, so a restart neither
        loses nor repeats updates. Network errors and 5xx answers are retried with
        exponential backoff (``retry_initial`` doubling up to ``retry_max``
        seconds); a 429 waits the ``retry_after`` the server asked for.

        Args:
            timeout: long-polling timeout in seconds, per ``getUpdates`` call.
            limit: maximum updates per ``getUpdates`` call (1-100).
            allowed_updates: update kinds to receive (None: the server's setting).
            drop_pending_updates: discard updates queued before polling started.
            concurrency: how many updates are handled at once (1: one after
                another, like grammY). Sessions stay consistent either way.

        Raises:
            RuntimeError: polling is already running.
            Unauthorized: the token was rejected.
            Conflict: another process polls with this token.
            Exception: what the ``catch`` handler raised.
        """
        if self._poller is not None:
            raise RuntimeError("This bot is already polling; call bot.stop() first")
        poller = Poller(
            self,
            timeout=timeout,
            limit=limit,
            allowed_updates=None if allowed_updates is None else list(allowed_updates),
            concurrency=concurrency,
            retry_initial=retry_initial,
            retry_max=retry_max,
        )
        self._poller = poller
        try:
            await self.init()
            await self.api.delete_webhook(drop_pending_updates=drop_pending_updates)
            logger.info("Bot @%s is polling %s", self.me.username, self.api.server)
            await poller.run()
        finally:
            self._poller = None
            await self.api.close()

    def stop(self) -> None:
        """Ask polling to stop gracefully; safe to call from a handler or a signal.

        The update being handled finishes, its offset is confirmed with the server,
        the HTTP connections are closed, then ``run_polling()``/``start()`` return.
        Does nothing when the bot is not polling.
        """
        poller = self._poller
        if poller is not None:
            poller.stop()

    def start(self, **options: Any) -> None:
        """Run long polling until ``stop()``, Ctrl+C or SIGTERM (blocking).

        The synchronous twin of ``await bot.run_polling(**options)``; a first
        Ctrl+C / SIGTERM stops gracefully, a second one interrupts at once. When the
        program has not configured logging, the bot's own log lines (the startup line
        "Bot @name is polling ...", errors of handlers) go to stderr meanwhile.

        Raises:
            RuntimeError: called from async code (use ``await bot.run_polling()``).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "bot.start() runs its own event loop; in async code use await bot.run_polling()"
            )

        async def main() -> None:
            loop = asyncio.get_running_loop()
            installed: list[signal.Signals] = []

            def on_signal() -> None:
                for sig in installed:
                    loop.remove_signal_handler(sig)
                self.stop()

            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, on_signal)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass  # not the main thread, or a platform without signal support
            try:
                await self.run_polling(**options)
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)

        with _default_logging():
            asyncio.run(main())


@contextlib.contextmanager
def _default_logging() -> Iterator[None]:
    """Show the bot's INFO lines on stderr while ``start()`` runs, unless the program
    configured logging itself (then its configuration decides)."""
    if logging.root.handlers or logger.handlers or logger.level != logging.NOTSET:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def _user(bot_info: Any) -> User:
    """``bot_info`` (a dict, a ``User`` or an aiogram ``User``) as a ``User``."""
    if isinstance(bot_info, TelegramObject):
        return User(bot_info.raw)
    dump = getattr(bot_info, "model_dump", None)
    if callable(dump):
        bot_info = dump(mode="json", exclude_none=True, by_alias=True)
    if not isinstance(bot_info, Mapping) or not isinstance(bot_info.get("id"), int):
        raise TypeError(
            "bot_info must be the getMe result: a dict like "
            "{'id': 123, 'is_bot': True, 'first_name': ..., 'username': ...}"
        )
    return User(dict(bot_info))
