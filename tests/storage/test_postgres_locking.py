"""PostgresStorage's session lock: no lost updates across processes, timeouts, lost leases."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import asyncpg
import pytest

from botsessions._errors import BotSessionsError, LeaseLostError, LockTimeoutError
from botsessions.storage import PostgresStorage
from botsessions.storage.postgres._sql import advisory_key
from tests.storage._locking_cases import SharedLockingCases
from tests.storage._workers import start_holder


@pytest.fixture
async def storage(
    postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
) -> AsyncIterator[PostgresStorage]:
    async with PostgresStorage(postgres_dsn, table=unique_name) as storage:
        yield storage


async def _holder_pid(pg_admin: asyncpg.Connection, table: str, key: str) -> int | None:
    lock_id = advisory_key(table, key) & 0xFFFFFFFFFFFFFFFF
    pid: int | None = await pg_admin.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
        lock_id >> 32,
        lock_id & 0xFFFFFFFF,
    )
    return pid


class TestPostgresLocking(SharedLockingCases):
    backend = "postgres"

    @pytest.fixture
    def target(self, postgres_dsn: str) -> str:
        return postgres_dsn

    async def test_lease_reads_the_value_and_write_releases(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        assert lease.value == {"count": 1}
        assert await _holder_pid(pg_admin, unique_name, "chat") is not None
        await lease.write({"count": 2})
        assert await _holder_pid(pg_admin, unique_name, "chat") is None
        await lease.release()  # already ended: no effect
        again = await storage.acquire("chat", read=False)
        assert again.value is None
        await again.delete()
        assert await storage.read("chat") is None

    async def test_lock_wait_timeout_raises_and_writes_nothing(
        self, postgres_dsn: str, unique_name: str, storage: PostgresStorage
    ) -> None:
        await storage.write("chat", {"count": 1})
        holder = await storage.acquire("chat", read=True)
        async with PostgresStorage(postgres_dsn, table=unique_name, lock_wait=0.2) as impatient:
            with pytest.raises(LockTimeoutError) as caught:
                await impatient.acquire("chat", read=True)
            assert caught.value.key == "chat"
            await holder.release()
            lease = await impatient.acquire("chat", read=True)  # its connection is reusable
            await lease.release()
        assert await storage.read("chat") == {"count": 1}

    async def test_a_lease_whose_connection_was_killed_refuses_the_write(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        pid = await _holder_pid(pg_admin, unique_name, "chat")
        assert await pg_admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        with pytest.raises(LeaseLostError, match="'chat'"):
            await lease.write({"count": 100})
        await lease.release()  # silent once lost
        assert await storage.read("chat") == {"count": 1}
        again = await storage.acquire("chat", read=True)  # the lock went with the connection
        await again.write({"count": 2})
        assert await storage.read("chat") == {"count": 2}

    async def test_write_with_keep_commits_and_keeps_the_lock(
        self,
        postgres_dsn: str,
        storage: PostgresStorage,
        pg_admin: asyncpg.Connection,
        unique_name: str,
    ) -> None:
        lease = await storage.acquire("chat", read=True)
        pid = await _holder_pid(pg_admin, unique_name, "chat")
        await lease.write({"count": 1}, keep=True)
        assert lease.value == {"count": 1}
        assert (
            await _holder_pid(pg_admin, unique_name, "chat") == pid
        )  # still held, same connection
        assert await pg_admin.fetchval(f'SELECT value::text FROM "{unique_name}"') == '{"count": 1}'
        async with PostgresStorage(postgres_dsn, table=unique_name) as other:
            waiter = asyncio.create_task(other.acquire("chat", read=True))
            await lease.delete(keep=True)
            assert lease.value is None
            assert await storage.read("chat") is None
            assert await _holder_pid(pg_admin, unique_name, "chat") == pid
            await lease.write({"count": 2})
            second = await waiter
            assert second.value == {"count": 2}
            await second.release()

    async def test_a_kept_lease_whose_connection_died_refuses_and_ends(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        pid = await _holder_pid(pg_admin, unique_name, "chat")
        assert await pg_admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        with pytest.raises(LeaseLostError):
            await lease.write({"count": 100}, keep=True)
        await lease.release()  # silent: the lease ended with the refusal
        assert await storage.read("chat") == {"count": 1}

    async def test_a_backend_terminated_around_the_save_raises_only_botsessions_errors(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        # pg_terminate_backend racing the lease's save: depending on when the server's
        # goodbye arrives, asyncpg reports a closed connection, a dropped one, or a protocol
        # in the middle of consuming the error (InternalClientError). Each is ours to name.
        await storage.write("chat", {"count": 0})
        outcomes: set[str] = set()
        for attempt in range(24):
            # A pooled connection terminated after its last save is replaced, not reused.
            lease = await storage.acquire("chat", read=True)
            pid = await _holder_pid(pg_admin, unique_name, "chat")
            keep = attempt % 2 == 1
            if attempt % 3 == 0:
                save = asyncio.create_task(lease.write({"count": attempt}, keep=keep))
                await pg_admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            else:
                await pg_admin.fetchval("SELECT pg_terminate_backend($1)", pid)
                for _ in range(attempt % 3 * (attempt % 4)):
                    await asyncio.sleep(0)
                save = asyncio.create_task(lease.write({"count": attempt}, keep=keep))
            try:
                await save
            except BotSessionsError as exc:
                outcomes.add(type(exc).__name__)
            else:
                outcomes.add("saved")
            await lease.release()  # silent, whatever happened
        assert outcomes <= {"saved", "LeaseLostError", "StorageError"}
        stored = await storage.read("chat")
        assert stored is not None
        assert 0 <= stored["count"] < 24
        lease = await storage.acquire("chat", read=True)  # the pool recovered
        await lease.write({"count": 100})
        assert await storage.read("chat") == {"count": 100}

    async def test_a_kept_write_without_flush_is_committed_at_once_and_keeps_the_lock(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        lease = await storage.acquire("chat", read=True)
        pid = await _holder_pid(pg_admin, unique_name, "chat")
        assert lease.flush_mark == 0
        await lease.write({"count": 1}, keep=True, flush=False)
        await lease.delete(keep=True, flush=False)
        await lease.write({"count": 2}, keep=True, flush=False)
        assert lease.flush_mark == 3
        assert lease.value == {"count": 2}
        assert await pg_admin.fetchval(f'SELECT value::text FROM "{unique_name}"') == '{"count": 2}'
        assert await _holder_pid(pg_admin, unique_name, "chat") == pid
        await lease.flushed(1)
        await lease.flushed(lease.flush_mark)
        await lease.write({"count": 3}, keep=True)  # flushes as usual
        assert lease.flush_mark == 3
        await lease.release()
        await lease.flushed(3)  # after the end too
        assert await _holder_pid(pg_admin, unique_name, "chat") is None
        assert await storage.read("chat") == {"count": 3}

    async def test_a_release_after_unflushed_writes_flushes_and_unlocks(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        lease = await storage.acquire("chat", read=True)
        await lease.write({"count": 1}, keep=True, flush=False)
        await lease.release()
        await lease.flushed(lease.flush_mark)
        assert await _holder_pid(pg_admin, unique_name, "chat") is None
        again = await storage.acquire("chat", read=True)
        assert again.value == {"count": 1}
        await again.release()

    async def test_unflushed_writes_of_a_lease_whose_connection_died_still_get_flushed(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        lease = await storage.acquire("chat", read=True)
        await lease.write({"count": 1}, keep=True, flush=False)
        pid = await _holder_pid(pg_admin, unique_name, "chat")
        assert await pg_admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        await lease.flushed(lease.flush_mark)  # on another pooled connection
        with pytest.raises(LeaseLostError):
            await lease.write({"count": 2}, keep=True, flush=False)
        assert await storage.read("chat") == {"count": 1}

    @pytest.mark.slow
    async def test_a_killed_holder_frees_the_session_at_once(
        self, postgres_dsn: str, unique_name: str, storage: PostgresStorage
    ) -> None:
        await storage.write("chat", {"count": 5})
        holder = await start_holder("postgres", postgres_dsn, unique_name, "chat", "1.0")
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        lease = await storage.acquire("chat", read=True)
        assert lease.value == {"count": 5}
        await lease.write({"count": 6})
        assert await storage.read("chat") == {"count": 6}
