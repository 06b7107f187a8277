"""Bot-level locking cases that RedisStorage and PostgresStorage share.

The storage-level cases (lock capability, mutual exclusion in one process and across
processes, expiry, lost leases, keep, FIFO, cancellation) are the shipped
``botsessions.testing.LockingConformance`` suite, run in ``test_locking_conformance.py``.
What stays here drives whole bots in worker processes.

A test class inherits ``SharedLockingCases``, sets ``backend`` ("redis" or "postgres", as the
worker processes name it) and provides the ``storage`` fixture and a ``target`` fixture (the
URL or DSN, with ``unique_name`` as the key prefix or table).
"""

from __future__ import annotations

import signal

import pytest

from botsessions.storage import PostgresStorage, RedisStorage
from tests.integrations._updates import message
from tests.storage._workers import counting_bot, run_workers, start_holder

ServerStorage = RedisStorage | PostgresStorage


class SharedLockingCases:
    backend: str

    @pytest.mark.slow
    async def test_four_bot_processes_of_250_concurrent_updates_count_to_1000(
        self, target: str, unique_name: str, storage: ServerStorage
    ) -> None:
        await storage.write("42", {"count": 0})  # also creates a table before the workers
        await run_workers(
            self.backend, target, unique_name, "42", "250", "0.0005", processes=4, mode="bot"
        )
        assert await storage.read("42") == {"count": 1000}

    @pytest.mark.slow
    async def test_a_bot_killed_inside_its_handler_keeps_what_it_committed(
        self, target: str, unique_name: str, storage: ServerStorage
    ) -> None:
        await storage.write("42", {"count": 5})
        holder = await start_holder(self.backend, target, unique_name, "42", "1.0", mode="bot-hold")
        assert await storage.read("42") == {"count": 6}  # its first update committed
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        # Another process's bot handles the chat as soon as the lock is free (lock_wait
        # 10 s is far beyond the 1 s lease).
        await counting_bot(storage).handle_update(message(3, 42))
        assert await storage.read("42") == {"count": 7}
