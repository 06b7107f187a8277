"""``botsessions sessions ...`` on every built-in storage, through the real command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from botsessions.storage import ExpiringStorage
from tests.cli._run import cli
from tests.cli.conftest import Backend

VALUES = {
    "chat:1": {"count": 1, "big": 2**100, "text": "héllo ✓ 😀"},
    "chat:2": {"nested": {"list": [1, 2.5, None, True]}},
    "chat:3": [1, 2, 3],
    "user:1": {"language": "en"},
    "user:2": "plain text",
}


async def seed(backend: Backend) -> None:
    for key, value in VALUES.items():
        await backend.storage.write(key, value)


class TestListAndCount:
    async def test_ls_lists_every_key(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "ls", "--storage", backend.url)
        assert result.code == 0, result.err
        assert sorted(result.out.split()) == sorted(VALUES)

    async def test_ls_and_count_filter_by_prefix(self, backend: Backend) -> None:
        await seed(backend)
        listed = await cli("sessions", "ls", "--storage", backend.url, "--prefix", "chat:")
        counted = await cli("sessions", "count", "--storage", backend.url, "--prefix", "user:")
        assert sorted(listed.out.split()) == ["chat:1", "chat:2", "chat:3"]
        assert counted.out.strip() == "2"

    async def test_ls_limit_and_json_lines(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "ls", "--storage", backend.url, "--limit", "2", "--json")
        keys = [json.loads(line) for line in result.out.splitlines()]
        assert len(keys) == 2
        assert set(keys) <= set(VALUES)

    async def test_count_json(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "count", "--json", storage=backend.url)
        assert json.loads(result.out) == {"count": 5}

    async def test_the_storage_comes_from_the_environment(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "count", storage=backend.url)
        assert (result.code, result.out.strip()) == (0, "5")


class TestShow:
    async def test_show_prints_the_exact_value(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "show", "--storage", backend.url, "chat:1")
        assert result.code == 0, result.err
        assert json.loads(result.out) == VALUES["chat:1"]
        assert "no expiry" in result.err

    async def test_show_json_is_an_export_record(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "show", "--json", "--storage", backend.url, "user:2")
        assert json.loads(result.out) == {"key": "user:2", "value": "plain text", "ttl": None}

    async def test_show_of_a_missing_key_fails(self, backend: Backend) -> None:
        result = await cli("sessions", "show", "--storage", backend.url, "nope")
        assert result.code == 1
        assert "no session 'nope'" in result.err


class TestRemove:
    async def test_rm_deletes_and_reports_missing_keys(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli("sessions", "rm", "--json", "--storage", backend.url, "chat:1", "x")
        assert result.code == 0, result.err
        assert json.loads(result.out) == {"deleted": ["chat:1"], "missing": ["x"]}
        assert await backend.storage.read("chat:1") is None
        assert await backend.storage.read("chat:2") == VALUES["chat:2"]


class TestExportImport:
    async def test_export_then_import_round_trips_values_and_ttl(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        assert all(isinstance(s, ExpiringStorage) for s in [backend.storage])
        expires = time.time() + 3600
        entries = [(k, v, expires if k.startswith("chat") else None) for k, v in VALUES.items()]
        await backend.storage.write_entries_with_expiry(entries)
        dump = tmp_path / "dump.jsonl"
        exported = await cli("sessions", "export", "--storage", backend.url, "-o", str(dump))
        assert exported.code == 0, exported.err
        records = [json.loads(line) for line in dump.read_text("utf-8").splitlines()]
        assert {r["key"]: r["value"] for r in records} == VALUES
        for record in records:
            if record["key"].startswith("chat"):
                assert 3000 < record["ttl"] <= 3600
            else:
                assert record["ttl"] is None
        for key in VALUES:
            await backend.storage.delete(key)
        imported = await cli("sessions", "import", "--json", "--storage", backend.url, str(dump))
        assert imported.code == 0, imported.err
        assert json.loads(imported.out)["imported"] == 5
        for key, value in VALUES.items():
            found = await backend.storage.read_with_expiry(key)
            assert found is not None
            assert found[0] == value
            if key.startswith("chat"):
                assert found[1] is not None
                assert expires - 600 < found[1] <= time.time() + 3600
            else:
                assert found[1] is None

    async def test_export_prefix_filters_and_strips(self, backend: Backend) -> None:
        await seed(backend)
        result = await cli(
            "sessions", "export", "--storage", backend.url, "--prefix", "user:", "--strip-prefix"
        )
        records = [json.loads(line) for line in result.out.splitlines()]
        assert sorted(r["key"] for r in records) == ["1", "2"]

    async def test_import_from_stdin_with_a_prefix(self, backend: Backend) -> None:
        lines = b'{"key":"7","value":{"n":1},"ttl":null}\n{"key":"8","value":[],"ttl":60}\n'
        result = await cli(
            "sessions", "import", "--storage", backend.url, "--prefix", "chat:", "-", stdin=lines
        )
        assert result.code == 0, result.err
        assert await backend.storage.read("chat:7") == {"n": 1}
        assert await backend.storage.read("chat:8") == []

    async def test_a_bad_line_writes_nothing(self, backend: Backend, tmp_path: Path) -> None:
        dump = tmp_path / "bad.jsonl"
        dump.write_text('{"key":"a","value":1,"ttl":null}\n{"key":"b"\n', "utf-8")
        result = await cli("sessions", "import", "--storage", backend.url, str(dump))
        assert result.code == 1
        assert "line 2" in result.err
        assert await backend.storage.read("a") is None

    async def test_enhanced_values_keep_their_wrapper(self, backend: Backend) -> None:
        wrapped = {"__d": {"count": 3}, "v": 2, "e": 4102444800000}
        await backend.storage.write("chat:9", wrapped)
        exported = await cli("sessions", "export", "--storage", backend.url)
        await backend.storage.delete("chat:9")
        imported = await cli(
            "sessions", "import", "--storage", backend.url, "-", stdin=exported.out.encode()
        )
        assert imported.code == 0, imported.err
        assert await backend.storage.read("chat:9") == wrapped


class TestFailures:
    async def test_a_corrupt_value_is_reported_with_its_key(self, backend: Backend) -> None:
        await backend.storage.write("good", {"ok": True})
        await corrupt(backend, "broken")
        shown = await cli("sessions", "show", "--storage", backend.url, "broken")
        exported = await cli("sessions", "export", "--storage", backend.url)
        for result in (shown, exported):
            assert result.code == 1
            assert "'broken'" in result.err
            assert "sessions rm broken" in result.err


async def corrupt(backend: Backend, key: str) -> None:
    """Store a value under ``key`` that is not JSON, behind the storage's back."""
    storage = backend.storage
    if backend.name == "redis":
        await storage._client.set(storage._prefix + key, b"{not json")
    elif backend.name == "postgres":
        await storage.write(key, 1)
        # jsonb only holds JSON: a string that is not a JSON document is the corruption.
        pool = storage._ready
        await pool.execute(
            f'UPDATE "{storage._table}" SET value = \'"x"\'::jsonb WHERE key = $1', key
        )
        await pool.execute(f'ALTER TABLE "{storage._table}" ALTER COLUMN value TYPE text')
        await pool.execute(
            f"UPDATE \"{storage._table}\" SET value = '{{not json' WHERE key = $1", key
        )
    elif backend.name == "sqlite":
        await storage.write(key, 1)
        await storage._run(
            "write",
            key,
            storage._execute,
            'UPDATE "sessions" SET value = ? WHERE key = ?',
            ("{not json", key),
        )
    else:
        await storage.write(key, 1)
        from botsessions.storage.files import file_name

        (Path(storage._dir) / file_name(key)).write_text("{not json", "utf-8")


@pytest.mark.parametrize(
    "url",
    ["bogus://x", "sqlite:", "sqlite://host/db", "redis:/nohost", "file:dir?table=x", "memory:x"],
)
async def test_a_bad_url_is_a_usage_error_listing_the_forms(url: str) -> None:
    result = await cli("sessions", "ls", "--storage", url)
    assert result.code == 2
    assert "accepted storage URLs" in result.err
    assert "sqlite:///" in result.err


async def test_no_storage_at_all_is_a_usage_error() -> None:
    result = await cli("sessions", "count")
    assert result.code == 2
    assert "BOTSESSIONS_STORAGE" in result.err


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "postgresql://postgres@127.0.0.1:1/test"])
async def test_an_unreachable_server_fails_with_a_clear_message(url: str) -> None:
    result = await cli("sessions", "count", "--storage", url)
    assert result.code == 1
    assert "botsessions: error:" in result.err
    assert "is the server running" in result.err
    assert "Traceback" not in result.err
