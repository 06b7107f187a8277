"""One big move: 100,000 sessions Redis -> PostgreSQL -> SQLite, values and TTLs kept."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from botsessions.storage import PostgresStorage, RedisStorage, SQLiteStorage
from tests.cli._run import cli
from tests.storage._workers import drop_table

COUNT = 100_000


def value(n: int) -> Any:
    """Values that JSON round trips get wrong when done carelessly."""
    kinds: list[Any] = [
        {"count": n, "big": 2**64 + n, "negative": -(10**30) - n},
        {"text": f"héllo ✓ 😀 {n}", "zero_width": "a\u200bb", "quote": '"\\'},
        {"float": n / 7, "tiny": 5e-324, "huge": 1.7976931348623157e308},
        [n, [n, [n]], {"deep": True}, None],
        {"__d": {"count": n}, "v": 2, "e": 4102444800000},
    ]
    return kinds[n % len(kinds)]


def expiry(n: int, now: float) -> float | None:
    return None if n % 2 else now + 3600 + n % 100


def read_dump(path: Path) -> dict[str, tuple[Any, float | None]]:
    records = {}
    for line in path.read_text("utf-8").splitlines():
        record = json.loads(line)
        records[record["key"]] = (record["value"], record["ttl"])
    return records


@pytest.mark.slow
async def test_100k_sessions_round_trip_through_three_backends(
    redis_url: str, postgres_dsn: str, unique_name: str, tmp_path: Path
) -> None:
    seeded = time.time()
    redis = RedisStorage(redis_url, prefix=f"{unique_name}:")
    try:
        for start in range(0, COUNT, 1000):
            await redis.write_entries_with_expiry(
                [(f"chat:{n}", value(n), expiry(n, seeded)) for n in range(start, start + 1000)]
            )
        redis_url_full = f"{redis_url}?prefix={unique_name}:"
        pg_url = f"{postgres_dsn}?table={unique_name}"
        sqlite_url = f"sqlite://{tmp_path / 'moved.db'}"
        first, second, last = (tmp_path / name for name in ("r.jsonl", "p.jsonl", "s.jsonl"))

        steps = [
            ("sessions", "export", "--storage", redis_url_full, "-o", str(first)),
            ("sessions", "import", "--no-lock", "--storage", pg_url, str(first)),
            ("sessions", "export", "--storage", pg_url, "-o", str(second)),
            ("sessions", "import", "--storage", sqlite_url, str(second)),
            ("sessions", "export", "--storage", sqlite_url, "-o", str(last)),
        ]
        for step in steps:
            result = await cli(*step)
            assert result.code == 0, (step, result.err)

        moved = read_dump(last)
        assert len(moved) == COUNT
        finished = time.time()
        for n in range(COUNT):
            stored, ttl = moved[f"chat:{n}"]
            assert stored == value(n)
            # Same types and digits (jsonb reorders object keys, which JSON allows).
            assert json.dumps(stored, sort_keys=True) == json.dumps(value(n), sort_keys=True)
            expected = expiry(n, seeded)
            if expected is None:
                assert ttl is None
            else:
                # The TTL keeps counting down while the sessions move, and never grows.
                assert ttl is not None
                assert expected - finished - 1 <= ttl <= expected - seeded
        async with SQLiteStorage(tmp_path / "moved.db") as sqlite:
            found = await sqlite.read_with_expiry("chat:0")
            assert found is not None
            assert found[1] is not None
            # Each hop counts the remaining TTL from its own start: the expiry moves by at
            # most the time the move took.
            assert abs(found[1] - (seeded + 3600)) <= finished - seeded + 1
        async with PostgresStorage(postgres_dsn, table=unique_name) as postgres:
            assert await postgres.read("chat:12345") == value(12345)
    finally:
        names = [key async for key in redis.read_all_keys()]
        for start in range(0, len(names), 1000):
            await redis._client.delete(*(f"{unique_name}:{k}" for k in names[start : start + 1000]))
        await redis.close()
        await drop_table(postgres_dsn, unique_name)
