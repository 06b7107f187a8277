"""pytest plugin: aiogram's own FSM tests with ``FSMStorage`` standing in for ``MemoryStorage``.

``scripts/aiogram-fsm-tests`` runs aiogram's test files, unmodified, with
``-p _aiogram_fsm_conftest``. Loaded before aiogram's ``conftest.py``, this plugin
replaces two names in aiogram's modules before anything imports them from there:

* ``aiogram.fsm.storage.memory.MemoryStorage`` (and the ``Dispatcher``'s default storage)
  by ``FSMStorage`` over a botsessions storage;
* ``aiogram.fsm.storage.memory.SimpleEventIsolation`` by ``SessionIsolation`` over the
  same storage.

``BOTSESSIONS_FSM_BACKEND`` selects the storage: ``memory``, ``sqlite``, ``redis``
(``BOTSESSIONS_REDIS_URL``) or ``postgres`` (``BOTSESSIONS_POSTGRES_DSN``). Each test
gets its own storage object (closed after the test) and its own key prefix; every
stand-in built during one test shares them, so a ``Dispatcher``'s storage and isolation
use one lock key space, as in a real bot. The key builder includes bot id, business
connection and destiny, which ``MemoryStorage`` (keyed by the whole ``StorageKey``)
distinguishes too.

One adaptation of the harness, not of the tests: aiogram's ``test_context.py`` seeds a
``MemoryStorage`` by assigning to ``storage.storage[key].state`` / ``.data`` (its
internal dict). The stand-in offers the same ``storage`` mapping and replays what was
assigned there through ``FSMStorage`` at the start of its next call.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiogram.dispatcher.dispatcher as dispatcher_module
import aiogram.fsm.storage.memory as memory_module
import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import MemoryStorageRecord

from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation

BACKEND = os.environ.get("BOTSESSIONS_FSM_BACKEND", "memory")
REDIS_URL = os.environ.get("BOTSESSIONS_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "BOTSESSIONS_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
RUN = uuid.uuid4().hex[:10]
WORKDIR = Path(tempfile.mkdtemp(prefix="aiogram-fsm-tests-"))
REDIS_PREFIX = f"aiogram-fsm-tests:{RUN}:"
POSTGRES_TABLE = f"aiogram_fsm_tests_{RUN}"


def _new_storage() -> Any:
    from botsessions.storage import (
        MemorySessionStorage,
        PostgresStorage,
        RedisStorage,
        SQLiteStorage,
    )

    if BACKEND == "memory":
        return MemorySessionStorage()
    if BACKEND == "sqlite":
        return SQLiteStorage(WORKDIR / "fsm.db")
    if BACKEND == "redis":
        return RedisStorage(REDIS_URL, prefix=REDIS_PREFIX)
    if BACKEND == "postgres":
        return PostgresStorage(POSTGRES_DSN, table=POSTGRES_TABLE, min_size=1, max_size=4)
    raise pytest.UsageError(
        f"BOTSESSIONS_FSM_BACKEND={BACKEND!r}: use memory, sqlite, redis or postgres"
    )


class _Space:
    """The storage object and key prefix every stand-in of one test shares."""

    def __init__(self) -> None:
        self.storage = _new_storage()
        self.key_builder = DefaultKeyBuilder(
            prefix=f"t{uuid.uuid4().hex[:8]}",
            with_bot_id=True,
            with_business_connection_id=True,
            with_destiny=True,
        )


_built = {"FSMStorage": 0, "SessionIsolation": 0}  # stand-ins built, for the summary
_current: _Space | None = None
_strays: list[_Space] = []  # built outside a test (none expected): closed at the end


def _space() -> _Space:
    global _current
    if _current is None:
        _current = _Space()
        _strays.append(_current)
    return _current


class StandInStorage(FSMStorage):
    """``FSMStorage`` built the way ``MemoryStorage()`` is: with no arguments."""

    def __init__(self) -> None:
        space = _space()
        super().__init__(space.storage, key_builder=space.key_builder)
        _built["FSMStorage"] += 1
        self.seeds: defaultdict[StorageKey, MemoryStorageRecord] = defaultdict(MemoryStorageRecord)

    @property
    def storage(self) -> Any:
        """What aiogram's tests seed (``MemoryStorage.storage``); see the module docs."""
        return self.seeds

    async def _replay(self) -> None:
        seeds, self.seeds = self.seeds, defaultdict(MemoryStorageRecord)
        for key, record in seeds.items():
            await FSMStorage.set_data(self, key, record.data)
            await FSMStorage.set_state(self, key, record.state)

    async def _get(self, name: str, *, private: bool = True) -> Any:
        await self._replay()
        return await super()._get(name, private=private)

    async def _change(self, name: str, change: Any) -> Any:
        await self._replay()
        return await super()._change(name, change)


class StandInIsolation(SessionIsolation):
    """``SessionIsolation`` built the way ``SimpleEventIsolation()`` is."""

    def __init__(self) -> None:
        space = _space()
        super().__init__(space.storage, key_builder=space.key_builder)
        _built["SessionIsolation"] += 1


memory_module.MemoryStorage = StandInStorage  # type: ignore[assignment,misc]
memory_module.SimpleEventIsolation = StandInIsolation  # type: ignore[assignment,misc]
dispatcher_module.MemoryStorage = StandInStorage  # type: ignore[assignment,attr-defined]


@pytest.fixture(autouse=True)
async def _botsessions_space() -> AsyncIterator[None]:
    global _current
    _current = _Space()
    try:
        yield
    finally:
        space, _current = _current, None
        await _close(space)


async def _close(space: _Space) -> None:
    close = getattr(space.storage, "close", None)
    if close is not None:
        await close()


def pytest_report_header() -> str:
    return f"botsessions FSMStorage stands in for MemoryStorage; backend: {BACKEND}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    built = ", ".join(f"{count} {name}" for name, count in _built.items())
    terminalreporter.write_line(f"botsessions stand-ins built on {BACKEND}: {built}")


def pytest_sessionfinish() -> None:
    asyncio.run(_cleanup())


async def _cleanup() -> None:
    for space in _strays:
        await _close(space)
    shutil.rmtree(WORKDIR, ignore_errors=True)
    if BACKEND == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        names = [n async for n in client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000)]
        if names:
            await client.delete(*names)
        await client.aclose()
    elif BACKEND == "postgres":
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(f'DROP TABLE IF EXISTS "{POSTGRES_TABLE}"')
            for name in ("acquire", "save", "remove"):
                await connection.execute(f'DROP FUNCTION IF EXISTS "{POSTGRES_TABLE}__{name}"')
        finally:
            await connection.close()
