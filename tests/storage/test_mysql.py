"""MySQLStorage specifics: stored rows, processes, a killed holder, corrupt data, options.

The behaviour every storage shares is covered by the conformance suites.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest

from botsessions._errors import CorruptDataError, LockTimeoutError, StorageError
from botsessions.storage import MySQLStorage
from botsessions.storage.mysql._sql import lock_name
from tests.services import free_port
from tests.storage._mysql import admin_run, dropped, mysql_url, run_bots, start_holder


@pytest.fixture
def url() -> str:
    return mysql_url()


@pytest.fixture
def table(url: str, unique_name: str) -> Iterator[str]:
    with dropped(url, {unique_name}):
        yield unique_name


class TestMySQLStorage:
    async def test_values_are_stored_as_exact_json_text(self, url: str, table: str) -> None:
        async with MySQLStorage(url, table=table) as storage:
            await storage.write("chat", {"big": 2**70, "pi": 3.14, "text": "ключ 🎉"})
            rows = await admin_run(url, f"SELECT k, v, expires_at FROM `{table}`")
            assert rows == [
                (b"chat", '{"big":1180591620717411303424,"pi":3.14,"text":"ключ 🎉"}', None)
            ]
            assert await storage.read("chat") == {"big": 2**70, "pi": 3.14, "text": "ключ 🎉"}

    async def test_corrupt_json_raises_naming_the_key_and_stays_in_place(
        self, url: str, table: str
    ) -> None:
        async with MySQLStorage(url, table=table) as storage:
            await storage.write("chat", {"count": 1})
            await admin_run(url, f"UPDATE `{table}` SET v = %s", ("{not json",))
            with pytest.raises(CorruptDataError) as caught:
                await storage.read("chat")
            assert caught.value.key == "chat"
            with pytest.raises(CorruptDataError):
                await storage.acquire("chat", read=True)
            assert await admin_run(url, f"SELECT v FROM `{table}`") == [("{not json",)]
            lease = await storage.acquire("chat", read=False)  # the lock was not leaked
            await lease.write({"count": 2})
            assert await storage.read("chat") == {"count": 2}

    async def test_ttl_sets_an_expiry_and_expired_rows_are_purged(
        self, url: str, table: str
    ) -> None:
        async with MySQLStorage(url, table=table, ttl=3600) as storage:
            await storage.write("live", 1)
            await storage.write("old", 2)
            await admin_run(url, f"UPDATE `{table}` SET expires_at = 1 WHERE k = 'old'")
            assert await storage.read("old") is None
            assert not await storage.has("old")
            assert [key async for key in storage.read_all_keys()] == ["live"]
            assert await storage.purge_expired() == 1
            assert await admin_run(url, f"SELECT k FROM `{table}`") == [(b"live",)]

    async def test_long_keys_get_short_lock_names(self, url: str, table: str) -> None:
        assert len(lock_name("test", "t" * 48, "k" * 3000)) <= 64
        async with (
            MySQLStorage(url, table=table, lock_wait=0.1) as storage,
            MySQLStorage(url, table=table, lock_wait=0.1) as other,
        ):
            lease = await storage.acquire("k" * 1000, read=True)
            with pytest.raises(LockTimeoutError):
                await other.acquire("k" * 1000, read=True)
            free = await other.acquire("k" * 999, read=True)  # a different key, a different lock
            await free.release()
            await lease.write({"long": True})
            assert await other.read("k" * 1000) == {"long": True}

    async def test_unreachable_server_raises_storage_error_naming_the_key(self) -> None:
        async with MySQLStorage(f"mysql://root@127.0.0.1:{free_port()}/test") as storage:
            with pytest.raises(StorageError):
                await storage.read("k")

    def test_bad_arguments_are_refused_when_built(self) -> None:
        with pytest.raises(ValueError, match="table"):
            MySQLStorage("mysql://root@localhost/test", table="bad-name")
        with pytest.raises(ValueError, match="database"):
            MySQLStorage("mysql://root@localhost")
        with pytest.raises(ValueError, match="mysql://"):
            MySQLStorage("postgresql://localhost/test")
        with pytest.raises(ValueError, match="ttl"):
            MySQLStorage("mysql://root@localhost/test", ttl=-1)
        with pytest.raises(ValueError, match="max_size"):
            MySQLStorage("mysql://root@localhost/test", min_size=5, max_size=2)
        with pytest.raises(TypeError, match="url"):
            MySQLStorage(42)  # type: ignore[arg-type]

    def test_a_missing_driver_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "asyncmy", None)
        with pytest.raises(ModuleNotFoundError, match=r"botsessions\[mysql\]"):
            MySQLStorage("mysql://root@localhost/test")

    def test_use_after_close_is_refused(self, url: str, table: str) -> None:
        import asyncio

        async def body() -> None:
            storage = MySQLStorage(url, table=table)
            await storage.close()
            with pytest.raises(RuntimeError, match="after close"):
                await storage.read("k")

        asyncio.run(body())


class TestMySQLProcesses:
    @pytest.mark.slow
    async def test_four_bot_processes_lose_no_update(self, url: str, table: str) -> None:
        async with MySQLStorage(url, table=table) as storage:
            await storage.write("42", {"count": 0})
            await run_bots(url, table, "42", "250", processes=4)
            assert await storage.read("42") == {"count": 1000}

    async def test_a_sigkilled_holder_frees_the_lock(self, url: str, table: str) -> None:
        async with MySQLStorage(url, table=table, lock_wait=30.0) as storage:
            holder = await start_holder(url, table, "7")  # committed count 1, holds the lock
            database = url.rsplit("/", 1)[-1]
            name = lock_name(database, table, "7")
            assert (await admin_run(url, "SELECT IS_FREE_LOCK(%s)", (name,)))[0][0] == 0
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            lease = await storage.acquire("7", read=True)  # freed with the connection
            assert lease.value == {"count": 1}
            await lease.write({"count": 2})
            assert await storage.read("7") == {"count": 2}
