"""FileStorage specifics: safe file names, atomic files, corrupt files, purge, lifecycle."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from botsessions._errors import CorruptDataError, StorageError
from botsessions.storage import FileStorage
from botsessions.storage.files import file_name
from tests.storage._hostile import NOT_FINITE, assert_unencodable_keys_refused, nested
from tests.storage._killed_writer import LEAN_IMPORT, kill_writer_after

HOSTILE_KEYS = [
    "../x",
    "../../etc/passwd",
    "a/b",
    "a\\b",
    "nul\x00byte",
    "k" * 10_000,
    "ключ 🎉",
    "",
    ".",
    "..",
    "CON",
    "con.txt",
    "A",
    "a",
    "-100123",
]

WRITER = (
    LEAN_IMPORT
    + """
import asyncio
from botsessions.storage.files import FileStorage

async def main(directory):
    storage = FileStorage(directory)
    i = 0
    while True:
        for k in range(10):
            await storage.write(f"w-{k}", {"i": i, "pad": "x" * (50_000 * (i % 4))})
        print(i, flush=True)
        i += 1

asyncio.run(main(sys.argv[1]))
"""
)


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


class TestFileNames:
    def test_no_key_gives_a_path_a_reserved_name_or_a_shared_name(self) -> None:
        names = [file_name(key) for key in HOSTILE_KEYS]
        assert len(set(names)) == len(names)
        for name in names:
            assert os.sep not in name
            assert "/" not in name
            assert "\\" not in name
            assert "\x00" not in name
            assert name.startswith(("k_", "h_"))
            assert name.endswith(".json")
            assert len(name.encode()) <= 255
            assert name == name.lower()  # no clash on case-insensitive file systems

    def test_short_keys_are_encoded_reversibly_and_long_ones_hashed(self) -> None:
        assert file_name("42") == "k_gqza.json"
        assert file_name("k" * 200).startswith("h_")

    async def test_hostile_keys_stay_inside_the_folder_and_read_back(self, tmp_path: Path) -> None:
        directory = tmp_path / "sessions"
        async with FileStorage(directory) as storage:
            for i, key in enumerate(HOSTILE_KEYS):
                await storage.write(key, i)
            for i, key in enumerate(HOSTILE_KEYS):
                assert await storage.read(key) == i
            keys = [key async for key in storage.read_all_keys()]
        assert sorted(keys) == sorted(HOSTILE_KEYS)
        assert listing(tmp_path) == ["sessions"]
        assert len(listing(directory)) == len(HOSTILE_KEYS)


class TestFileStorage:
    def test_the_constructor_creates_nothing(self, tmp_path: Path) -> None:
        FileStorage(tmp_path / "sessions")
        assert listing(tmp_path) == []

    async def test_each_session_is_a_json_file_naming_its_key(self, tmp_path: Path) -> None:
        async with FileStorage(tmp_path) as storage:
            await storage.write("chat/1", {"n": 1})
        content = json.loads((tmp_path / file_name("chat/1")).read_text())
        assert content == {"key": "chat/1", "value": {"n": 1}, "expires_at": None}
        assert listing(tmp_path) == [file_name("chat/1")]  # no temporary file left behind

    @pytest.mark.parametrize("content", [b"", b'{"key": "k", "val', b"\xff\xfe", b"[1, 2]"])
    async def test_an_empty_or_torn_file_is_corrupt_data_never_missing(
        self, tmp_path: Path, content: bytes
    ) -> None:
        path = tmp_path / file_name("k")
        path.write_bytes(content)
        async with FileStorage(tmp_path) as storage:
            with pytest.raises(CorruptDataError) as caught:
                await storage.read("k")
            assert caught.value.key == "k"
            with pytest.raises(CorruptDataError):
                _ = [key async for key in storage.read_all_keys()]
        assert path.read_bytes() == content

    async def test_a_file_holding_another_key_is_corrupt_data(self, tmp_path: Path) -> None:
        async with FileStorage(tmp_path) as storage:
            await storage.write("a", 1)
            os.replace(tmp_path / file_name("a"), tmp_path / file_name("b"))
            with pytest.raises(CorruptDataError, match="holds key 'a'"):
                await storage.read("b")

    async def test_an_unreadable_file_is_a_storage_error(self, tmp_path: Path) -> None:
        (tmp_path / file_name("k")).mkdir()
        async with FileStorage(tmp_path) as storage:
            with pytest.raises(StorageError) as caught:
                await storage.read("k")
        assert isinstance(caught.value.__cause__, OSError)

    async def test_other_files_in_the_folder_are_ignored(self, tmp_path: Path) -> None:
        (tmp_path / "notes.txt").write_text("hello")
        (tmp_path / ".tmp-abc").write_text("{")
        async with FileStorage(tmp_path) as storage:
            await storage.write("k", 1)
            assert [e async for e in storage.read_all_entries()] == [("k", 1)]

    async def test_expired_files_are_deleted_by_a_later_write(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now)
        async with FileStorage(tmp_path, ttl=60) as storage:
            await storage.write("old", 1)
            now += 61
            await storage.write("new", 2)
        assert listing(tmp_path) == [file_name("new")]

    async def test_close_ends_use(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path)
        await storage.close()
        with pytest.raises(RuntimeError, match=r"Cannot use FileStorage after close\(\)"):
            await storage.write("k", 1)

    async def test_values_that_are_not_json_are_refused_and_nothing_is_written(
        self, tmp_path: Path
    ) -> None:
        async with FileStorage(tmp_path) as storage:
            with pytest.raises(TypeError, match="Cannot store session 'k'"):
                await storage.write("k", {"s": {1, 2}})
        assert listing(tmp_path) == []

    async def test_a_record_is_the_key_the_value_and_the_expiry_in_that_order(
        self, tmp_path: Path
    ) -> None:
        async with FileStorage(tmp_path, ttl=60) as storage:
            await storage.write("k", {"a": [1, 2**70]})
        text = (tmp_path / file_name("k")).read_text()
        assert text.startswith('{"key":"k","value":{"a":[1,1180591620717411303424]},"expires_at":')

    async def test_a_record_whose_expiry_is_not_a_number_is_corrupt_data(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / file_name("k")).write_text('{"key": "k", "value": 1, "expires_at": "soon"}')
        async with FileStorage(tmp_path) as storage:
            with pytest.raises(CorruptDataError, match="expires_at") as caught:
                await storage.read("k")
        assert caught.value.key == "k"

    @pytest.mark.parametrize("extra", ["", ', "big": 123456789012345678901234'])
    async def test_nan_and_infinity_tokens_are_corrupt_data(
        self, tmp_path: Path, extra: str
    ) -> None:
        (tmp_path / file_name("k")).write_text(
            '{"key": "k", "value": -Infinity, "expires_at": null' + extra + "}"
        )
        async with FileStorage(tmp_path) as storage:
            with pytest.raises(CorruptDataError, match="'k'"):
                await storage.read("k")

    async def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, tmp_path: Path
    ) -> None:
        async with FileStorage(tmp_path) as storage:
            await assert_unencodable_keys_refused(storage)
        assert listing(tmp_path) == []

    @pytest.mark.parametrize("value", NOT_FINITE)
    async def test_nan_and_infinity_are_refused_naming_the_key(
        self, tmp_path: Path, value: object
    ) -> None:
        async with FileStorage(tmp_path) as storage:
            with pytest.raises(TypeError, match=r"'k'.*(nan|inf)"):
                await storage.write("k", value)
        assert listing(tmp_path) == []

    async def test_nesting_up_to_254_containers_is_stored_and_deeper_is_refused(
        self, tmp_path: Path
    ) -> None:
        async with FileStorage(tmp_path, fsync=False) as storage:
            await storage.write("k", nested(254))
            assert await storage.read("k") == nested(254)
            for value in (nested(255), nested(999), {"big": 2**70, "deep": nested(300)}):
                with pytest.raises(TypeError, match=r"'k'.*nests more than 254"):
                    await storage.write("k", value)

    @pytest.mark.parametrize("ttl", [None, float("inf")])
    async def test_no_ttl_and_an_infinite_one_both_keep_files_forever(
        self, tmp_path: Path, ttl: float | None
    ) -> None:
        async with FileStorage(tmp_path, ttl=ttl) as storage:
            await storage.write("k", 1)
        content = json.loads((tmp_path / file_name("k")).read_text())
        assert content["expires_at"] is None

    @pytest.mark.slow
    @pytest.mark.parametrize("rounds", [2, 3])
    def test_a_writer_killed_mid_write_leaves_old_or_new_values(
        self, tmp_path: Path, rounds: int
    ) -> None:
        directory = str(tmp_path / "sessions")
        done = kill_writer_after(WRITER, directory, rounds=rounds)

        async def check() -> None:
            async with FileStorage(directory) as storage:
                for k in range(10):
                    value = await storage.read(f"w-{k}")
                    assert value["i"] >= done
                    assert value["pad"] == "x" * (50_000 * (value["i"] % 4))

        asyncio.run(check())
