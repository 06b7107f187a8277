"""The long-polling loop behind ``Bot.run_polling()``.

States: fetching (a ``getUpdates`` call in flight, cancelled by ``stop()``),
handling (updates of one batch, in order or ``concurrency`` at a time; ``stop()``
lets the updates already started finish and starts no new one), waiting (backoff
after a failure, cut short by ``stop()``), stopped (the offset of every handled
update confirmed with one last ``getUpdates``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from botsessions._errors import BotError
from botsessions.bot._errors import NetworkError, RetryAfter, ServerError

if TYPE_CHECKING:
    from botsessions.bot._bot import Bot

__all__ = ["Poller"]

logger = logging.getLogger("botsessions.bot")

_TRANSIENT = (NetworkError, ServerError)


class Poller:
    """One run of long polling for one bot."""

    def __init__(
        self,
        bot: Bot,
        *,
        timeout: int,
        limit: int,
        allowed_updates: list[str] | None,
        concurrency: int,
        retry_initial: float,
        retry_max: float,
    ) -> None:
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be between 1 and 100, got {limit}")
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if not 0 < retry_initial <= retry_max:
            raise ValueError("retry delays must satisfy 0 < retry_initial <= retry_max")
        self._bot = bot
        self._timeout, self._limit, self._allowed_updates = timeout, limit, allowed_updates
        self._concurrency = concurrency
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._offset: int | None = None  # next update_id to ask for
        self._confirmed: int | None = None  # offset the server has been told about

    def stop(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._stopping.set()
        else:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def run(self) -> None:
        delay = self._retry_initial
        try:
            while not self._stopping.is_set():
                try:
                    updates = await self._fetch()
                except RetryAfter as exc:
                    logger.warning("getUpdates: flood control, retrying in %s s", exc.retry_after)
                    await self._pause(exc.retry_after)
                    continue
                except _TRANSIENT as exc:
                    logger.warning("getUpdates failed (%s), retrying in %.1f s", exc, delay)
                    await self._pause(delay)
                    delay = min(delay * 2, self._retry_max)
                    continue
                delay = self._retry_initial
                if updates is None:  # stopped while fetching
                    break
                self._confirmed = self._offset
                if self._concurrency == 1:
                    await self._handle_in_order(updates)
                else:
                    await self._handle_concurrently(updates)
        finally:
            await self._confirm()

    async def _fetch(self) -> list[Any] | None:
        fetch = asyncio.ensure_future(
            self._bot.api.get_updates(
                offset=self._offset,
                limit=self._limit,
                timeout=self._timeout,
                allowed_updates=self._allowed_updates,
            )
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((fetch, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not fetch.done():
                fetch.cancel()
                await asyncio.wait((fetch,))
        if self._stopping.is_set():
            # whatever this call returned stays unconfirmed and is delivered again
            if not fetch.cancelled():
                fetch.exception()  # retrieved, so asyncio does not log it
            return None
        return fetch.result()

    async def _pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def _handle_in_order(self, updates: list[Any]) -> None:
        for update in updates:
            if self._stopping.is_set():
                return
            await self._handle_one(update)
            self._advance(update)

    async def _handle_concurrently(self, updates: list[Any]) -> None:
        slots = asyncio.Semaphore(self._concurrency)
        finished = [False] * len(updates)
        next_to_confirm = 0

        async def handle(index: int, update: Any) -> None:
            nonlocal next_to_confirm
            try:
                await self._handle_one(update)
            finally:
                slots.release()
            finished[index] = True
            while next_to_confirm < len(updates) and finished[next_to_confirm]:
                self._advance(updates[next_to_confirm])
                next_to_confirm += 1

        try:
            async with asyncio.TaskGroup() as group:
                for index, update in enumerate(updates):
                    await slots.acquire()
                    if self._stopping.is_set():
                        slots.release()
                        break
                    group.create_task(handle(index, update))
        except BaseExceptionGroup as group_error:
            # surface what the error handler raised, as sequential polling does
            raise group_error.exceptions[0] from None

    async def _handle_one(self, update: Any) -> None:
        try:
            await self._bot.handle_update(update)
        except BotError as err:
            await self._bot.report_error(err)  # a raising error handler ends polling
        except (TypeError, ValueError) as exc:
            logger.error("Skipping update: %s", exc)

    def _advance(self, update: Any) -> None:
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if isinstance(update_id, int) and (self._offset is None or update_id >= self._offset):
            self._offset = update_id + 1

    async def _confirm(self) -> None:
        """Tell the server which updates were handled, so a restart starts after them."""
        if self._offset is None or self._offset == self._confirmed:
            return
        try:
            await self._bot.api.get_updates(offset=self._offset, limit=1, timeout=0)
        except Exception as exc:  # the updates will be delivered again; say so
            logger.warning(
                "Could not confirm handled updates (offset %s): %s; "
                "they may be delivered again after a restart",
                self._offset,
                exc,
            )
