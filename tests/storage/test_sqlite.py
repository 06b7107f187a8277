"""SQLiteStorage specifics: layout, corrupt rows, expiry purge, lifecycle, several processes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from botsessions._errors import CorruptDataError, StorageError
from botsessions.storage import SQLiteStorage
from tests.storage._hostile import NOT_FINITE, assert_unencodable_keys_refused, nested
from tests.storage._killed_writer import LEAN_IMPORT, kill_writer_after

WRITER = (
    LEAN_IMPORT
    + """
import asyncio
from botsessions.storage.sqlite import SQLiteStorage

async def main(path, name, rounds):
    async with SQLiteStorage(path) as storage:
        for i in range(rounds if rounds > 0 else 10**9):
            for k in range(20):
                await storage.write(f"{name}-{k}", {"i": i, "pad": "x" * (3000 * (i % 4))})
                await storage.write("shared", {"by": name, "i": i})
            print(i, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""
)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


class TestSQLiteStorage:
    def test_the_constructor_touches_no_file(self, tmp_path: Path) -> None:
        SQLiteStorage(tmp_path / "s.db")
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("table", ["", "1abc", 'a"b', "x; DROP TABLE y", "a-b", "t" * 64])
    def test_table_names_that_are_not_plain_identifiers_are_refused(self, table: str) -> None:
        with pytest.raises(ValueError, match="plain identifier"):
            SQLiteStorage(table=table)

    @pytest.mark.parametrize(
        ("ttl", "error"), [(0, ValueError), (-1, ValueError), ("1", TypeError)]
    )
    def test_bad_ttls_are_refused(self, ttl: object, error: type[Exception]) -> None:
        with pytest.raises(error):
            SQLiteStorage(ttl=ttl)  # type: ignore[arg-type]

    @pytest.mark.parametrize("timeout", [0, -1, "5", 10**9])
    def test_bad_timeouts_are_refused(self, timeout: object) -> None:
        with pytest.raises((TypeError, ValueError), match="timeout"):
            SQLiteStorage(timeout=timeout)  # type: ignore[arg-type]

    @pytest.mark.parametrize("busy", [None, float("inf"), timedelta(seconds=2), 10**6])
    async def test_every_kind_of_timeout_is_accepted(
        self, tmp_path: Path, busy: float | timedelta | None
    ) -> None:
        async with SQLiteStorage(tmp_path / "s.db", timeout=busy) as storage:
            await storage.write("k", 1)
            assert await storage.read("k") == 1

    async def test_sessions_are_json_text_in_a_wal_database(self, tmp_path: Path) -> None:
        path = tmp_path / "s.db"
        async with SQLiteStorage(path, table="bot_sessions") as storage:
            await storage.write("42", {"count": 1, "name": "Zoë"})
        assert rows(path, "SELECT key, value, expires_at FROM bot_sessions") == [
            ("42", '{"count":1,"name":"Zoë"}', None)
        ]
        assert rows(path, "PRAGMA journal_mode") == [("wal",)]

    async def test_a_row_that_is_not_json_is_corrupt_data_and_stays(self, tmp_path: Path) -> None:
        path = tmp_path / "s.db"
        async with SQLiteStorage(path) as storage:
            await storage.write("good", 1)
            connection = sqlite3.connect(path)
            connection.execute("INSERT INTO sessions VALUES ('bad', '{\"torn', NULL)")
            connection.commit()
            connection.close()
            with pytest.raises(CorruptDataError) as caught:
                await storage.read("bad")
            assert caught.value.key == "bad"
            assert "'bad'" in str(caught.value)
            with pytest.raises(CorruptDataError):
                _ = [value async for value in storage.read_all_values()]
            assert await storage.read("good") == 1
        assert rows(path, "SELECT value FROM sessions WHERE key = 'bad'") == [('{"torn',)]

    async def test_expired_rows_are_deleted_by_a_later_write(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now)
        path = tmp_path / "s.db"
        async with SQLiteStorage(path, ttl=60) as storage:
            await storage.write("old", 1)
            now += 61
            await storage.write("new", 2)
        assert rows(path, "SELECT key FROM sessions") == [("new",)]

    async def test_a_key_value_table_made_by_another_tool_gains_an_expiry_column(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "s.db"
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE sessions (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute("""INSERT INTO sessions VALUES ('7', '{"legacy":true}')""")
        connection.commit()
        connection.close()
        async with SQLiteStorage(path, ttl=60) as storage:
            assert await storage.read("7") == {"legacy": True}
            await storage.write("8", 2)
            assert [k async for k in storage.read_all_keys()] == ["7", "8"]

    async def test_close_ends_use_and_is_idempotent(self, tmp_path: Path) -> None:
        storage = SQLiteStorage(tmp_path / "s.db")
        await storage.write("k", 1)
        await storage.close()
        await storage.close()
        with pytest.raises(RuntimeError, match=r"Cannot use SQLiteStorage after close\(\)"):
            await storage.read("k")
        async with SQLiteStorage(tmp_path / "s.db") as again:
            assert await again.read("k") == 1

    async def test_a_missing_folder_is_a_storage_error(self, tmp_path: Path) -> None:
        async with SQLiteStorage(tmp_path / "missing" / "s.db") as storage:
            with pytest.raises(StorageError) as caught:
                await storage.read("k")
        assert isinstance(caught.value.__cause__, sqlite3.Error)

    async def test_concurrent_operations_from_many_tasks_complete(self, tmp_path: Path) -> None:
        async with SQLiteStorage(tmp_path / "s.db") as storage:
            await asyncio.gather(*(storage.write(str(i), i) for i in range(200)))
            assert await asyncio.gather(*(storage.read(str(i)) for i in range(200))) == list(
                range(200)
            )

    async def test_a_foreign_table_with_integer_values_is_corrupt_data_naming_the_key(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "s.db"
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE sessions (key TEXT PRIMARY KEY, value INTEGER)")
        connection.execute("INSERT INTO sessions VALUES ('7', 42)")
        connection.commit()
        connection.close()
        async with SQLiteStorage(path) as storage:
            with pytest.raises(CorruptDataError, match=r"'7'.*int") as caught:
                await storage.read("7")
            assert caught.value.key == "7"
            with pytest.raises(CorruptDataError, match="'7'"):
                _ = [entry async for entry in storage.read_all_entries()]

    @pytest.mark.parametrize("extra", ["", ', "big": 123456789012345678901234'])
    async def test_nan_and_infinity_tokens_are_corrupt_data(
        self, tmp_path: Path, extra: str
    ) -> None:
        path = tmp_path / "s.db"
        async with SQLiteStorage(path) as storage:
            await storage.write("k", 1)
            connection = sqlite3.connect(path)
            connection.execute(
                "UPDATE sessions SET value = ? WHERE key = 'k'", ('{"x": Infinity' + extra + "}",)
            )
            connection.commit()
            connection.close()
            with pytest.raises(CorruptDataError, match="'k'"):
                await storage.read("k")

    async def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, tmp_path: Path
    ) -> None:
        async with SQLiteStorage(tmp_path / "s.db") as storage:
            await assert_unencodable_keys_refused(storage)

    @pytest.mark.parametrize("value", NOT_FINITE)
    async def test_nan_and_infinity_are_refused_naming_the_key(
        self, tmp_path: Path, value: object
    ) -> None:
        async with SQLiteStorage(tmp_path / "s.db") as storage:
            with pytest.raises(TypeError, match=r"'k'.*(nan|inf)"):
                await storage.write("k", value)
            assert await storage.read("k") is None

    async def test_nesting_up_to_254_containers_is_stored_and_deeper_is_refused(
        self, tmp_path: Path
    ) -> None:
        async with SQLiteStorage(tmp_path / "s.db") as storage:
            await storage.write("k", nested(254))
            assert await storage.read("k") == nested(254)
            for value in (nested(255), nested(999), {"big": 2**70, "deep": nested(300)}):
                with pytest.raises(TypeError, match=r"'k'.*nests more than 254"):
                    await storage.write("k", value)

    @pytest.mark.slow
    def test_two_processes_can_write_the_same_file_at_once(self, tmp_path: Path) -> None:
        path = str(tmp_path / "s.db")
        children = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, path, name, "8"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for name in ("a", "b")
        ]
        for child in children:
            _, err = child.communicate(timeout=100)
            assert child.returncode == 0, err.decode()
        keys = {key for (key,) in rows(Path(path), "SELECT key FROM sessions")}
        assert keys == {f"{n}-{k}" for n in "ab" for k in range(20)} | {"shared"}
        values = rows(Path(path), "SELECT value FROM sessions WHERE key LIKE 'a-%'")
        assert all('"i":7' in str(value) for (value,) in values)

    @pytest.mark.slow
    @pytest.mark.parametrize("rounds", [2, 3])
    def test_a_writer_killed_mid_write_leaves_old_or_new_values(
        self, tmp_path: Path, rounds: int
    ) -> None:
        path = str(tmp_path / "s.db")
        done = kill_writer_after(WRITER, path, "w", "0", rounds=rounds)

        async def check() -> None:
            async with SQLiteStorage(path) as storage:
                for k in range(20):
                    value = await storage.read(f"w-{k}")
                    assert value["i"] >= done
                    assert value["pad"] == "x" * (3000 * (value["i"] % 4))

        asyncio.run(check())
