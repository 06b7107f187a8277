"""PostgresStorage specifics: schema, exact numbers, errors, a killed connection, lifecycle.

The behaviour every storage shares is covered by the conformance suite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from botsessions._errors import StorageError
from botsessions.storage import PostgresStorage
from tests.services import free_port


@pytest.fixture
async def storage(
    postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
) -> AsyncIterator[PostgresStorage]:
    async with PostgresStorage(postgres_dsn, table=unique_name) as storage:
        yield storage


class TestPostgresStorage:
    async def test_the_table_is_created_on_first_use_with_jsonb_values(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        exists = "SELECT to_regclass($1) IS NOT NULL"
        assert not await pg_admin.fetchval(exists, f'"{unique_name}"')
        await storage.write("-100", {"__d": {"count": 1}, "v": 2})
        row = await pg_admin.fetchrow(f'SELECT key, value, expires_at FROM "{unique_name}"')
        assert row is not None
        assert tuple(row) == ("-100", '{"v": 2, "__d": {"count": 1}}', None)

    async def test_floats_and_big_integers_survive_jsonb(self, storage: PostgresStorage) -> None:
        value = {"big": 2**70, "f": 1e20, "tiny": 5e-324, "max": 1.7976931348623157e308}
        await storage.write("k", value)
        stored = await storage.read("k")
        assert stored == value
        assert isinstance(stored["f"], float)
        assert isinstance(stored["big"], int)

    async def test_concurrent_first_use_creates_the_table_once(
        self, postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
    ) -> None:
        storages = [PostgresStorage(postgres_dsn, table=unique_name) for _ in range(6)]
        await asyncio.gather(*(s.write(f"k{i}", i) for i, s in enumerate(storages)))
        leases = await asyncio.gather(
            *(s.acquire(f"k{i}", read=True) for i, s in enumerate(storages))
        )
        assert [lease.value for lease in leases] == list(range(6))
        await asyncio.gather(*(lease.release() for lease in leases))
        await asyncio.gather(*(s.close() for s in storages))
        assert await pg_admin.fetchval(f'SELECT count(*) FROM "{unique_name}"') == 6

    async def test_expired_rows_are_invisible_and_purged(
        self,
        postgres_dsn: str,
        unique_name: str,
        storage: PostgresStorage,
        pg_admin: asyncpg.Connection,
    ) -> None:
        async with PostgresStorage(postgres_dsn, table=unique_name, ttl=3600) as timed:
            await timed.write("old", 1)
            await timed.write("new", 2)
            await pg_admin.execute(
                f"UPDATE \"{unique_name}\" SET expires_at = to_timestamp($1) WHERE key = 'old'",
                time.time() - 1,
            )
            assert await timed.read("old") is None
            assert not await timed.has("old")
            assert [k async for k in timed.read_all_keys()] == ["new"]
            assert await timed.purge_expired() == 1
        assert await pg_admin.fetchval(f'SELECT count(*) FROM "{unique_name}"') == 1

    async def test_a_string_with_nul_is_refused_naming_the_key(
        self, storage: PostgresStorage
    ) -> None:
        await storage.write("k", {"s": "ok"})
        with pytest.raises(StorageError, match="'k'"):
            await storage.write("k", {"s": "a\x00b"})  # jsonb cannot hold U+0000
        assert await storage.read("k") == {"s": "ok"}

    async def test_a_bad_table_name_is_refused_when_built(self) -> None:
        for table in ("", "1abc", 'a"b', "x; DROP TABLE y", "a-b", "t" * 49):
            with pytest.raises(ValueError, match="table must be a plain identifier"):
                PostgresStorage(table=table)

    async def test_unreachable_server_raises_storage_error(self) -> None:
        async with PostgresStorage(f"postgresql://postgres@127.0.0.1:{free_port()}/x") as storage:
            with pytest.raises(StorageError) as caught:
                await storage.read("k")
        assert caught.value.__cause__ is not None

    async def test_a_passed_pool_stays_open_and_a_dsn_pool_is_closed(
        self, postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
    ) -> None:
        pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
        async with PostgresStorage(pool, table=unique_name) as storage:
            await storage.write("k", 1)
        assert await pool.fetchval("SELECT 1") == 1
        await pool.close()
        storage = PostgresStorage(postgres_dsn, table=unique_name)
        assert await storage.read("k") == 1
        await storage.close()
        with pytest.raises(RuntimeError, match="after close"):
            await storage.read("k")

    @pytest.mark.slow
    async def test_a_killed_connection_fails_the_operation_and_the_pool_recovers(
        self, postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
    ) -> None:
        app = f"bs_{unique_name}"
        async with PostgresStorage(
            f"{postgres_dsn}?application_name={app}", table=unique_name
        ) as storage:
            await storage.write("chat", {"count": 1})
            # Hold the table so the next read waits on the server, then kill its backend.
            async with pg_admin.transaction():
                await pg_admin.execute(f'LOCK TABLE "{unique_name}" IN ACCESS EXCLUSIVE MODE')
                read = asyncio.create_task(storage.read("chat"))
                pid = None
                for _ in range(500):
                    pid = await pg_admin.fetchval(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE application_name = $1 AND wait_event_type = 'Lock'",
                        app,
                    )
                    if pid is not None:
                        break
                    await asyncio.sleep(0.01)
                assert pid is not None
                await pg_admin.fetchval("SELECT pg_terminate_backend($1)", pid)
                with pytest.raises(StorageError, match="'chat'"):
                    await read
            assert await storage.read("chat") == {"count": 1}
            await storage.write("chat", {"count": 2})
            assert await storage.read("chat") == {"count": 2}
