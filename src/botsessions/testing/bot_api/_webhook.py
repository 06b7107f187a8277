"""Webhook delivery of the local Bot API server.

Pending updates are POSTed in order, at most ``max_connections`` at a time, with the
``X-Telegram-Bot-Api-Secret-Token`` header when a secret was set. A failed delivery is
retried a few times with a short backoff; then the update stays pending ("parked") until
the next update arrives or setWebhook is called again, as Telegram keeps undelivered
updates. A JSON reply carrying a ``method`` is executed like Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp

from botsessions.testing.bot_api._state import BotState, Hub, WebhookState, now

__all__ = ["WebhookDelivery"]

_RETRIES = 4
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 1.0
_TIMEOUT = aiohttp.ClientTimeout(total=30)


class WebhookDelivery:
    """Starts delivery tasks for a bot's pending updates while a webhook is set."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def kick(self, bot: BotState, *, unpark: bool = True) -> None:
        """Deliver what is pending and not already on its way."""
        webhook = bot.webhook
        if webhook is None:
            return
        if unpark:
            webhook.parked.clear()
        for update in bot.pending:
            if len(webhook.in_flight) >= webhook.max_connections:
                break
            update_id = update["update_id"]
            if update_id in webhook.in_flight or update_id in webhook.parked:
                continue
            webhook.in_flight.add(update_id)
            self._hub.spawn(self._deliver(bot, webhook, update))

    async def _deliver(self, bot: BotState, webhook: WebhookState, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        backoff = _FIRST_BACKOFF
        try:
            for attempt in range(_RETRIES + 1):
                if bot.webhook is not webhook or update not in bot.pending:
                    return
                reply = await self._post(webhook, update)
                if reply is not None:
                    bot.pending.remove(update)
                    await self._run_reply(bot, reply)
                    return
                if attempt < _RETRIES:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
            webhook.parked.add(update_id)
        finally:
            webhook.in_flight.discard(update_id)
            if bot.webhook is webhook:
                self.kick(bot, unpark=False)

    async def _post(self, webhook: WebhookState, update: dict[str, Any]) -> bytes | None:
        """POST one update; the response body on a 2xx answer, else ``None``."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        headers = {"Content-Type": "application/json"}
        if webhook.secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret
        try:
            async with self._session.post(
                webhook.url, data=json.dumps(update), headers=headers
            ) as response:
                body = await response.read()
                if 200 <= response.status < 300:
                    return body
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {exc}" if str(exc) else "Connection failed"
        webhook.last_error_date = now()
        webhook.last_error_message = error
        return None

    async def _run_reply(self, bot: BotState, body: bytes) -> None:
        """Run a method sent back in the webhook response, as Telegram allows."""
        if not body or self._hub.execute is None:
            return
        with contextlib.suppress(ValueError):
            payload = json.loads(body)
            if isinstance(payload, dict) and isinstance(payload.get("method"), str):
                params = {k: v for k, v in payload.items() if k != "method"}
                await self._hub.execute(bot, payload["method"], params)
