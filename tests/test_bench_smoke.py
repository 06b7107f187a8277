"""The benchmark suite's botsessions workloads keep working (tiny N, no timing checks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from bench import crossprocess, ours_aiogram, ours_bot, ours_ptb
from bench._common import Workload
from bench._env import Env, drive

from tests.services import RedisServer

Factory = Callable[[str, Env], Awaitable[Sequence[Workload]]]
SYSTEMS: dict[str, Any] = {
    "botsessions": ours_bot,
    "botsessions+aiogram": ours_aiogram,
    "botsessions+ptb": ours_ptb,
}


def make_env(tmp_path: Path, redis: str, postgres_dsn: str) -> Env:
    return Env(
        n=40,
        chats=7,
        reps=1,
        rotation=0,
        redis_url=redis,
        postgres_dsn=postgres_dsn,
        workdir=str(tmp_path),
        count_ops=True,
        k=20,
    )


@pytest.mark.parametrize("system", sorted(SYSTEMS))
@pytest.mark.parametrize("phase", ["memory", "redis", "sql"])
async def test_dispatch_workloads_store_every_update_and_make_no_api_call(
    system: str,
    phase: str,
    tmp_path: Path,
    private_redis: RedisServer,
    postgres_dsn: str,
) -> None:
    env = make_env(tmp_path, private_redis.url, postgres_dsn)
    result = await drive(system, phase, env, SYSTEMS[system].workloads)
    workloads = result["workloads"]
    assert "W0" in workloads
    assert len(workloads) > 1
    for name, row in workloads.items():
        assert row["checks"]["ok"], (name, row["checks"])
        assert row["checks"]["api_calls"] == 0, name


async def test_untouched_strict_session_reads_once_and_never_writes(
    tmp_path: Path, private_redis: RedisServer, postgres_dsn: str
) -> None:
    env = make_env(tmp_path, private_redis.url, postgres_dsn)
    result = await drive("botsessions", "memory", env, ours_bot.workloads)
    assert result["workloads"]["W1u"]["storage_calls_per_update"] == {"read": 1.0}


async def test_untouched_lazy_session_makes_no_storage_call(
    tmp_path: Path, private_redis: RedisServer, postgres_dsn: str
) -> None:
    env = make_env(tmp_path, private_redis.url, postgres_dsn)
    result = await drive("botsessions", "memory", env, ours_bot.workloads)
    assert result["workloads"]["W1lazy-u"]["storage_calls_per_update"] == {}


@pytest.mark.parametrize("system", sorted(SYSTEMS))
async def test_concurrent_updates_of_one_chat_lose_nothing(
    system: str, tmp_path: Path, private_redis: RedisServer, postgres_dsn: str
) -> None:
    env = make_env(tmp_path, private_redis.url, postgres_dsn)
    rows = await SYSTEMS[system].concurrency(env, False)
    assert {row["storage"] for row in rows} == {"memory", "redis", "postgres"}
    for row in rows:
        assert row["errors"] == 0, row
        assert row["lost"] == 0, row
        assert row["final"] == env.k, row


async def test_bot_processes_sharing_one_storage_lose_no_update_of_one_chat(
    private_redis: RedisServer, postgres_dsn: str
) -> None:
    result = await crossprocess.measure(
        k=10, processes=2, runs=1, redis_url=private_redis.url, postgres_dsn=postgres_dsn
    )
    assert result["failures"] == {}
    assert [row["storage"] for row in result["rows"]] == ["redis", "postgres"]
    for row in result["rows"]:
        assert row["processes"] == 2
        assert row["per_process"] == 5
        for burst in row["runs"]:
            assert burst["final"] == 10, row
            assert burst["lost"] == 0, row
            assert burst["errors"] == 0, row
            assert burst["api_calls"] == 0, row
