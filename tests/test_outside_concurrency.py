"""A job's open() increments and a burst of updates of the same chat lose nothing.

While 200 concurrent updates of chat 42 increment a counter, a job does 50 ``open()``
increments of the same key: the counter ends at 250, on every backend, in one process
and (Redis, PostgreSQL) with the updates handled by another process.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from botsessions import Bot, Context, MemorySessionStorage, session
from botsessions.storage import SQLiteStorage
from tests.integrations._updates import message
from tests.storage._workers import BOT_INFO, TOKEN, drop_table, make_storage

UPDATES = 200
JOB_INCREMENTS = 50

StorageFactory = Callable[[], AbstractAsyncContextManager[Any]]


def counter_session(storage: Any) -> Any:
    return session(initial=lambda: {"count": 0}, storage=storage)


def counting_bot(counter: Any) -> Bot:
    """A bot whose handler increments the counter across an await."""
    bot = Bot(TOKEN, bot_info=BOT_INFO)
    bot.use(counter)

    @bot.use
    async def increment(ctx: Context, next: Any) -> None:
        value = ctx.session["count"]
        await asyncio.sleep(0)
        ctx.session["count"] = value + 1

    return bot


async def job(counter: Any, key: str = "42") -> None:
    """The job: one open() per increment, with an await inside each block."""
    for _ in range(JOB_INCREMENTS):
        async with counter.open(key) as handle:
            value = handle.data["count"]
            await asyncio.sleep(0)
            handle.data["count"] = value + 1


@asynccontextmanager
async def memory() -> AsyncIterator[Any]:
    yield MemorySessionStorage[Any]()


class TestOneProcess:
    @pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
    async def storage_factory(
        self, request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
    ) -> AsyncIterator[StorageFactory]:
        backend = request.param
        if backend == "memory":
            yield memory
        elif backend == "sqlite":
            yield lambda: SQLiteStorage(tmp_path / "sessions.db")
        else:
            target = request.getfixturevalue("redis_url" if backend == "redis" else "postgres_dsn")
            yield lambda: make_storage(backend, target, unique_name)
            if backend == "postgres":
                await drop_table(target, unique_name)

    async def test_job_and_200_updates_of_one_chat_end_at_250(
        self, storage_factory: StorageFactory
    ) -> None:
        async with storage_factory() as storage:
            counter = counter_session(storage)
            bot = counting_bot(counter)
            updates = [bot.handle_update(message(i, 42)) for i in range(UPDATES)]
            await asyncio.gather(*updates, job(counter))

            async with counter.open("42") as handle:
                assert handle.data == {"count": UPDATES + JOB_INCREMENTS}
                handle.data = None


class TestTwoProcesses:
    @pytest.mark.parametrize("backend", ["redis", "postgres"])
    async def test_job_here_and_200_updates_in_another_process_end_at_250(
        self, backend: str, request: pytest.FixtureRequest, unique_name: str
    ) -> None:
        target = request.getfixturevalue("redis_url" if backend == "redis" else "postgres_dsn")
        try:
            async with make_storage(backend, target, unique_name) as storage:
                counter = counter_session(storage)
                worker = await start_bot_worker(backend, target, unique_name, "42")
                await asyncio.gather(finish(worker), job(counter))

                async with counter.open("42") as handle:
                    assert handle.data == {"count": UPDATES + JOB_INCREMENTS}
                    handle.data = None
        finally:
            if backend == "postgres":
                await drop_table(target, unique_name)


async def start_bot_worker(*args: str) -> asyncio.subprocess.Process:
    """Start a worker handling 200 concurrent updates of the chat; return once it runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage._workers",
        "bot",
        *args,
        str(UPDATES),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    line = await process.stdout.readline()
    if line.strip() != b"ready":
        _, err = await process.communicate()
        raise AssertionError(f"worker failed to start: {line!r} {err.decode()}")
    process.stdin.write(b"go\n")
    await process.stdin.drain()
    return process


async def finish(process: asyncio.subprocess.Process) -> None:
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.startswith(b"done "), out
