"""Writes from the command line go through the session lock: a running bot loses nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.cli._run import cli
from tests.storage._workers import make_storage, run_workers


async def test_import_and_rm_during_four_bot_processes_lose_nothing(
    redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    url = f"{redis_url}?prefix={unique_name}"
    dump = tmp_path / "other.jsonl"
    dump.write_text(
        "".join(
            json.dumps({"key": f"import:{n}", "value": {"n": n}, "ttl": None}) + "\n"
            for n in range(300)
        ),
        "utf-8",
    )
    async with make_storage("redis", redis_url, unique_name) as storage:
        await storage.write("42", {"count": 0})
        await storage.write("third", {"remove": "me"})
        try:
            workers = run_workers("redis", redis_url, unique_name, "42", "250", processes=4)
            imported, removed, _ = await asyncio.gather(
                cli("sessions", "import", "--storage", url, str(dump)),
                cli("sessions", "rm", "--storage", url, "third"),
                workers,
            )
            assert imported.code == 0, imported.err
            assert "under the session lock" in imported.out
            assert removed.code == 0, removed.err
            assert await storage.read("42") == {"count": 1000}
            assert await storage.read("third") is None
            for n in range(300):
                assert await storage.read(f"import:{n}") == {"n": n}
        finally:
            async for key in storage.read_all_keys():
                await storage.delete(key)
