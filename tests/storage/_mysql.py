"""The MariaDB / MySQL server of the MySQLStorage tests, their factory and bot workers.

The server comes from ``BOTSESSIONS_MYSQL_URL`` or the local default
``mysql://root@127.0.0.1:3306/test``; when it is unreachable the tests are skipped
loudly, or fail under ``BOTSESSIONS_REQUIRE_SERVICES=1``.

    python -m tests.storage._mysql bot <url> <table> <chat> <updates>
        like ``tests.storage._workers bot``: a Bot with session(storage=MySQLStorage)
        handles <updates> concurrent updates of <chat>, after a barrier on stdin.
    python -m tests.storage._mysql bot-hold <url> <table> <chat>
        commits one update of <chat>, then holds its lock in a second one, forever.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from botsessions.storage import MySQLStorage
from tests.integrations._updates import message
from tests.services import REQUIRE_ENV, port_open
from tests.storage._workers import counting_bot, run_at_barrier

MYSQL_ENV = "BOTSESSIONS_MYSQL_URL"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
LOCK_WAIT = 30.0


def mysql_url() -> str:
    """The server's URL, or a loud skip (a failure when every service is required)."""
    url = os.environ.get(MYSQL_ENV, DEFAULT_MYSQL_URL)
    parts = urlsplit(url)
    if not port_open(parts.hostname or "127.0.0.1", parts.port or 3306):
        message = f"MariaDB/MySQL is not reachable at {url}: set {MYSQL_ENV} or start it"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)", pytrace=False)
        pytest.skip(message)
    return url


def mysql(*, lease: float | None = None, url: str, table: str) -> MySQLStorage:
    """The locking conformance factory: a lock ends with its connection, not a lease."""
    return MySQLStorage(url, table=table, lock_wait=LOCK_WAIT, max_size=4)


async def admin_run(url: str, statement: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement on a fresh connection of its own; return its rows."""
    import asyncmy

    parts = urlsplit(url)
    conn = await asyncmy.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement, args)
            rows: list[Any] = list(await cursor.fetchall())
    finally:
        conn.close()
    return rows


@contextmanager
def dropped(url: str, tables: set[str]) -> Iterator[set[str]]:
    """Yield ``tables`` to fill in; drop each afterwards."""
    try:
        yield tables
    finally:
        for table in tables:
            asyncio.run(admin_run(url, f"DROP TABLE IF EXISTS `{table}`"))


async def run_bots(url: str, table: str, chat: str, updates: str, *, processes: int) -> None:
    """Run ``processes`` bot workers at once; fail unless every one exits cleanly."""
    await run_at_barrier(
        "tests.storage._mysql", "bot", url, table, chat, updates, processes=processes
    )


async def start_holder(url: str, table: str, chat: str) -> asyncio.subprocess.Process:
    """Start a bot-hold worker and return once it holds the lock of ``chat``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage._mysql",
        "bot-hold",
        url,
        table,
        chat,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line.decode().strip() == "locked"
    return proc


async def _main(argv: list[str]) -> None:
    mode, url, table, chat, *rest = argv
    async with MySQLStorage(url, table=table, lock_wait=60.0, max_size=4) as storage:
        bot = counting_bot(storage)
        if mode == "bot":
            await storage.read(chat)  # connect, then start together with the others
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            started = time.perf_counter()
            await asyncio.gather(
                *(bot.handle_update(message(i, int(chat))) for i in range(int(rest[0])))
            )
            print(f"done {time.perf_counter() - started:.6f}", flush=True)
        else:
            await bot.handle_update(message(1, int(chat)))
            await bot.handle_update(message(2, int(chat), text="hold"))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
