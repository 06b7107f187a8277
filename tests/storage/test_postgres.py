"""PostgresStorage specifics: schema, exact numbers, errors, a killed connection, lifecycle.

The behaviour every storage shares is covered by the conformance suite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from botsessions._errors import CorruptDataError, StorageError
from botsessions.storage import PostgresStorage
from tests.services import free_port
from tests.storage._hostile import NOT_FINITE, assert_unencodable_keys_refused, nested


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
        with pytest.raises(RuntimeError, match=r"^Cannot use PostgresStorage after close\(\)$"):
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


class TestPostgresHostileInput:
    """Issue 18: hostile keys and values JSON cannot hold, as on every other storage."""

    async def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, storage: PostgresStorage
    ) -> None:
        await assert_unencodable_keys_refused(storage, locking=True)
        lease = await storage.acquire("k", read=True)  # no connection was left behind
        await lease.release()

    @pytest.mark.parametrize("value", NOT_FINITE)
    async def test_nan_and_infinity_are_refused_naming_the_key(
        self, storage: PostgresStorage, value: object
    ) -> None:
        with pytest.raises(TypeError, match=r"'k'.*(nan|inf)"):
            await storage.write("k", value)
        lease = await storage.acquire("k", read=True)
        with pytest.raises(TypeError, match=r"'k'.*(nan|inf)"):
            await lease.write(value)
        await lease.write({"ok": True})  # a refused value left the lease held
        assert await storage.read("k") == {"ok": True}

    async def test_nesting_up_to_254_containers_is_stored_and_deeper_is_refused(
        self, storage: PostgresStorage
    ) -> None:
        await storage.write("k", nested(254))
        assert await storage.read("k") == nested(254)
        for value in (nested(255), nested(999), {"f": 1e20, "deep": nested(300)}):
            with pytest.raises(TypeError, match=r"'k'.*nests more than 254"):
                await storage.write("k", value)
        assert await storage.read("k") == nested(254)

    async def test_a_value_edited_to_hold_a_non_json_number_is_corrupt_data(
        self, storage: PostgresStorage, pg_admin: asyncpg.Connection, unique_name: str
    ) -> None:
        await storage.write("k", {"n": 1})
        # jsonb cannot hold NaN; a text copy of the value made by another tool can.
        await pg_admin.execute(f'ALTER TABLE "{unique_name}" ALTER COLUMN value TYPE text')
        await pg_admin.execute(f"""UPDATE "{unique_name}" SET value = '{{"n": NaN}}'""")
        with pytest.raises(CorruptDataError, match="'k'"):
            await storage.read("k")


class TestPostgresDurations:
    """Issue 18 row 11: inf means no limit; what PostgreSQL cannot hold is refused when built."""

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("ttl", 1e13),
            ("lock_wait", timedelta(days=25)),
            ("lock_lease", timedelta(days=25)),
            ("lock_wait", 2**31),
        ],
    )
    def test_durations_beyond_postgres_ranges_are_refused_when_built(
        self, option: str, value: object
    ) -> None:
        with pytest.raises(ValueError, match=option):
            PostgresStorage(**{option: value})  # type: ignore[arg-type]

    @pytest.mark.parametrize("lease", [None, float("inf")])
    def test_an_endless_lease_is_refused_when_built(self, lease: float | None) -> None:
        with pytest.raises(ValueError, match=r"lock_lease must be a finite number.*crashed"):
            PostgresStorage(lock_lease=lease)  # type: ignore[arg-type]

    async def test_the_largest_settings_work(
        self, postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection
    ) -> None:
        async with PostgresStorage(
            postgres_dsn,
            table=unique_name,
            ttl=9.2e12,
            lock_wait=timedelta(days=24),
            lock_lease=timedelta(days=24),
        ) as storage:
            await storage.write("k", 1)
            lease = await storage.acquire("k", read=True)
            await lease.write(2)
            assert await storage.read("k") == 2

    @pytest.mark.parametrize("ttl", [None, float("inf")])
    async def test_no_ttl_and_an_infinite_one_both_keep_rows_forever(
        self, postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection, ttl: float | None
    ) -> None:
        async with PostgresStorage(postgres_dsn, table=unique_name, ttl=ttl) as storage:
            await storage.write("k", 1)
        assert await pg_admin.fetchval(f'SELECT expires_at FROM "{unique_name}"') is None

    @pytest.mark.parametrize("wait", [None, float("inf")])
    async def test_an_unbounded_lock_wait_waits_for_the_holder(
        self, postgres_dsn: str, unique_name: str, pg_admin: asyncpg.Connection, wait: float | None
    ) -> None:
        async with (
            PostgresStorage(postgres_dsn, table=unique_name) as storage,
            PostgresStorage(postgres_dsn, table=unique_name, lock_wait=wait) as patient,
        ):
            holder = await storage.acquire("k", read=True)
            waiter = asyncio.create_task(patient.acquire("k", read=True))
            done, _ = await asyncio.wait({waiter}, timeout=0.1)
            assert not done
            await holder.write(1)
            lease = await waiter
            assert lease.value == 1
            await lease.release()
