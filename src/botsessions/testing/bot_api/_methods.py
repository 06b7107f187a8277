"""The method table of the local Bot API server: a method name to its implementation.

The bot-level methods (getMe, getUpdates, webhooks, commands) live here; the message
methods come from ``_messages``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

from botsessions.testing.bot_api._messages import MESSAGE_METHODS
from botsessions.testing.bot_api._params import Params
from botsessions.testing.bot_api._state import ApiError, BotState, Hub, WebhookState
from botsessions.testing.bot_api._webhook import WebhookDelivery

__all__ = ["MethodTable"]

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SUPERSEDED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class MethodTable:
    """Runs one Bot API method for one bot and returns its ``result``.

    Raises:
        ApiError: with Telegram's status code and description.
    """

    def __init__(self, hub: Hub, delivery: WebhookDelivery) -> None:
        self._hub = hub
        self._delivery = delivery
        self._methods: dict[str, Callable[[BotState, Params], Any]] = {
            **MESSAGE_METHODS,
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "logout": lambda bot, p: True,
            "close": lambda bot, p: True,
        }

    async def call(self, bot: BotState, method: str, raw: dict[str, Any]) -> Any:
        implementation = self._methods.get(method.lower())
        if implementation is None:
            raise ApiError(404, "Not Found")
        bot.calls.append((method, dict(raw)))
        bot.called.fire()
        result = implementation(bot, Params(raw))
        if inspect.isawaitable(result):
            result = await result
        return result

    @staticmethod
    def _get_me(bot: BotState, p: Params) -> dict[str, Any]:
        return dict(bot.user)

    async def _get_updates(self, bot: BotState, p: Params) -> list[dict[str, Any]]:
        if bot.webhook is not None:
            raise ApiError(409, _WEBHOOK_ACTIVE)
        offset = p.integer("offset") or 0
        limit = min(max(p.integer("limit") or 100, 1), 100)
        timeout = max(p.number("timeout") or 0.0, 0.0)
        bot.set_allowed(p.string_list("allowed_updates"))
        if bot.poller is not None and not bot.poller.done():
            bot.poller.set_exception(ApiError(409, _SUPERSEDED))
        if offset > 0:
            bot.pending[:] = [u for u in bot.pending if u["update_id"] >= offset]
        elif offset < 0:
            del bot.pending[: max(len(bot.pending) + offset, 0)]
        if not bot.pending and timeout > 0:
            await _wait_for_update(bot, timeout)
        return bot.pending[:limit]

    def _set_webhook(self, bot: BotState, p: Params) -> bool:
        url = (p.text("url") or "").strip()
        if not url:
            return self._delete_webhook(bot, p)
        if not url.startswith(("http://", "https://")):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = p.text("secret_token") or None
        if secret is not None and not _SECRET.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = min(max(p.integer("max_connections") or 40, 1), 100)
        bot.set_allowed(p.string_list("allowed_updates"))
        if p.flag("drop_pending_updates"):
            bot.pending.clear()
        if bot.poller is not None and not bot.poller.done():
            bot.poller.set_exception(ApiError(409, "Conflict: terminated by setWebhook request"))
        bot.webhook = WebhookState(url, secret, max_connections)
        self._delivery.kick(bot)
        return True

    @staticmethod
    def _delete_webhook(bot: BotState, p: Params) -> bool:
        if p.flag("drop_pending_updates"):
            bot.pending.clear()
        bot.webhook = None
        return True

    @staticmethod
    def _get_webhook_info(bot: BotState, p: Params) -> dict[str, Any]:
        webhook = bot.webhook
        info: dict[str, Any] = {
            "url": webhook.url if webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending),
        }
        if webhook is not None:
            info["max_connections"] = webhook.max_connections
            if webhook.last_error_date is not None:
                info["last_error_date"] = webhook.last_error_date
                info["last_error_message"] = webhook.last_error_message
        if bot.allowed_list is not None:
            info["allowed_updates"] = bot.allowed_list
        return info

    @staticmethod
    def _set_my_commands(bot: BotState, p: Params) -> bool:
        commands = p.structured("commands", error="can't parse commands JSON array")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON array")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(
                str(command.get("command", ""))
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        commands = [{"command": c["command"], "description": c["description"]} for c in commands]
        bot.commands[_commands_key(p)] = commands
        return True

    @staticmethod
    def _get_my_commands(bot: BotState, p: Params) -> list[dict[str, Any]]:
        return list(bot.commands.get(_commands_key(p), []))

    @staticmethod
    def _delete_my_commands(bot: BotState, p: Params) -> bool:
        bot.commands.pop(_commands_key(p), None)
        return True


def _commands_key(p: Params) -> str:
    scope = p.structured("scope", error="can't parse BotCommandScope JSON object")
    return json.dumps([scope or {"type": "default"}, p.text("language_code") or ""], sort_keys=True)


async def _wait_for_update(bot: BotState, seconds: float) -> None:
    """Wait until an update arrives, the timeout passes, or another request supersedes us."""
    loop = asyncio.get_running_loop()
    superseded: asyncio.Future[None] = loop.create_future()
    bot.poller = superseded
    deadline = loop.time() + seconds
    try:
        while not bot.pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            arrival = asyncio.ensure_future(bot.arrived.wait())
            waiting: set[asyncio.Future[Any]] = {arrival, superseded}
            try:
                await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                arrival.cancel()
            if superseded.done():
                superseded.result()  # raises the 409 it was given
    finally:
        if bot.poller is superseded:
            bot.poller = None
