from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, RequestData


class NoNetworkSession(BaseSession):
    """aiogram HTTP layer that refuses every request: these tests never call the API."""

    async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
        raise RuntimeError(f"network disabled in tests ({type(method).__name__})")

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise RuntimeError("network disabled in tests")
        yield b""  # pragma: no cover

    async def close(self) -> None:
        pass


@pytest.fixture
async def aiogram_bot() -> AsyncIterator[Bot]:
    bot = Bot("42:TEST", session=NoNetworkSession())
    yield bot
    await bot.session.close()


class OfflineRequest(BaseRequest):
    """python-telegram-bot transport with no network: answers getMe, refuses the rest."""

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        if endpoint.lower() == "getme":
            return 200, json.dumps({"ok": True, "result": PTB_BOT_USER}).encode()
        raise RuntimeError(f"network disabled in tests ({endpoint})")


PTB_BOT_USER = {"id": 42, "is_bot": True, "first_name": "Test", "username": "test_bot"}


@pytest.fixture
def ptb_builder() -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """An ``Application.builder()`` that never touches the network (no updater)."""
    request = OfflineRequest()
    return (
        Application.builder()
        .token("42:TEST")
        .request(request)
        .get_updates_request(request)
        .updater(None)
    )
