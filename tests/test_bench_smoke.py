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


def _scaleout_kinds() -> list[str]:
    """The scale-out storages this machine has; a loud skip (or failure) for the others."""
    import os
    import shutil
    from urllib.parse import urlsplit

    from bench import _scaleout

    from tests.services import REQUIRE_ENV, port_open

    kinds: list[str] = []
    missing: list[str] = []
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        kinds.append("cluster")
    else:
        missing.append("redis-server/redis-cli (Redis Cluster)")
    url = os.environ.get(_scaleout.MYSQL_ENV, _scaleout.DEFAULT_MYSQL_URL)
    parts = urlsplit(url)
    if port_open(parts.hostname or "127.0.0.1", parts.port or 3306):
        kinds.append("mysql")
    else:
        missing.append(f"MariaDB/MySQL at {url}")
    if missing and os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"not available: {', '.join(missing)} ({REQUIRE_ENV}=1)", pytrace=False)
    if not kinds:
        pytest.skip(f"not available: {', '.join(missing)}")
    return kinds


# bench._runner.run_child leaves its child's pipes to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_scaleout_rows_count_every_update_on_cluster_and_mysql() -> None:
    import os

    from bench import _scaleout
    from bench._report import render
    from bench._runner import Progress
    from bench._targets import check

    kinds = _scaleout_kinds()
    url = os.environ.get(_scaleout.MYSQL_ENV, _scaleout.DEFAULT_MYSQL_URL)
    result = _scaleout.run(
        only={"W2", "W3"},
        kinds=kinds,
        n=60,
        chats=6,
        reps=1,
        k=20,
        processes=2,
        runs=1,
        mysql_url=url,
        cpu=None,
        progress=Progress(_scaleout.steps({"W2", "W3"}, kinds)),
    )
    assert result["failures"] == {}
    assert sorted(result["w2"]) == sorted(kinds)
    for kind, found in result["w2"].items():
        rows = found["workloads"]
        assert set(rows) == {f"W2-{kind}", f"W2-{kind}-nolock"}
        assert rows[f"W2-{kind}"]["storage_calls_per_update"] == {
            "acquire(read=True)": 1.0,
            "lease.write": 1.0,
        }
        assert rows[f"W2-{kind}-nolock"]["storage_calls_per_update"] == {
            "read": 1.0,
            "write": 1.0,
        }
        for row in rows.values():
            assert row["checks"]["ok"], row["checks"]
    if "cluster" in kinds:
        unlocked = result["w2"]["cluster"]["workloads"]["W2-cluster-nolock"]
        assert unlocked["redis_commands_per_update"] == {"get": 1.0, "set": 1.0}
    assert sorted(row["storage"] for row in result["w3"]) == sorted(kinds)
    cross = result["cross_process"]
    assert sorted(row["storage"] for row in cross["rows"]) == sorted(kinds)
    for row in [*result["w3"], *cross["rows"]]:
        assert (row["final"], row["lost"], row["errors"]) == (20, 0, 0), row
    meta = {"command": "smoke", "date": "-", "wall_s": 0.0, "machine": {}}
    markdown = render({"scaleout": result, "meta": meta}, check({"scaleout": result}))
    assert "W2 on the scale-out storages" in markdown
    assert "W3 across processes" in markdown
    for kind in kinds:
        assert f"W2-{kind}-nolock" in markdown


def test_report_renders_the_cli_and_fsm_phases_and_their_failures() -> None:
    from bench._report import render
    from bench._targets import check

    results: dict[str, Any] = {
        "meta": {"command": "smoke", "date": "-", "wall_s": 0.0, "machine": {}},
        "cli": {
            "sqlite": {"n": 2000, "export_per_s": 5000.0, "import_per_s": 4000.0},
            "redis": {
                "n": 2000,
                "export_per_s": 9000.0,
                "import_locked_per_s": 3000.0,
                "import_no_lock_per_s": 6000.0,
            },
            "postgres": {"error": "OSError('refused')"},
        },
        "fsm": {
            "rows": [
                {
                    "config": "FSMStorage + SessionIsolation, RedisStorage",
                    "final": 1000,
                    "lost": 0,
                    "errors": 0,
                    "seconds": 1.3,
                    "serial_floor_s": 1.1,
                    "vs_floor": 1.18,
                }
            ],
            "failures": {"aiogram RedisStorage + RedisEventIsolation": "RuntimeError: down"},
        },
    }
    markdown = render(results, check(results))
    assert "| sqlite | 2,000 | 5,000 | 4,000 | same path (no lock) |" in markdown
    assert "| redis | 2,000 | 9,000 | 3,000 | 6,000 |" in markdown
    assert "| postgres | not available: OSError('refused')" in markdown
    assert "## aiogram FSM across processes" in markdown
    assert "failed: RuntimeError: down" in markdown
    assert "| aiogram FSM across processes: lost updates, all configurations | 0 | 0 | met |" in (
        markdown
    )


async def test_call_counts_grow_with_what_the_session_does() -> None:
    from bench.calls import calls_per_update

    bare, ignored, counted = [await calls_per_update(w, 200) for w in ("W0", "W1u", "W1")]
    assert bare < ignored < counted  # reading the session adds calls, writing it more


async def test_fsm_bursts_report_the_median_burst_and_every_ratio(
    private_redis: RedisServer,
) -> None:
    from bench import fsm

    result = await fsm.measure(
        redis_url=private_redis.url,
        postgres_dsn="unused",
        processes=2,
        per_process=5,
        runs=2,
        configs=("botsessions-redis",),
    )
    assert result["failures"] == {}
    [row] = result["rows"]
    assert (row["final"], row["lost"], row["errors"]) == (10, 0, 0)
    assert len(row["vs_floor_runs"]) == 2
    assert row["vs_floor"] in row["vs_floor_runs"]
    assert "[" in fsm.render(result)  # the spread of the ratios


async def test_burst_profile_splits_a_burst_and_restores_the_storage_classes(
    tmp_path: Path, private_redis: RedisServer, postgres_dsn: str
) -> None:
    from bench import burst_profile

    from botsessions.storage import PostgresStorage, RedisStorage

    env = make_env(tmp_path, private_redis.url, postgres_dsn)
    before = (RedisStorage.acquire, PostgresStorage.acquire)
    rows = [await burst_profile.profile(kind, env) for kind in ("memory", "redis", "postgres")]
    assert (RedisStorage.acquire, PostgresStorage.acquire) == before
    for row in rows:
        assert (row["final"], row["errors"]) == (env.k, 0), row
    memory, redis, postgres = rows
    assert memory["calls"] == {}
    for row in (redis, postgres):
        # Every update writes once, under a lease handed along the chain or taken afresh.
        assert row["calls"]["write"] == 1.0, row
        assert 0 < row["calls"]["acquire"] < 1, row
    assert "| redis |" in burst_profile.render(rows)


async def test_redis_profile_shares_cover_the_whole_profile(
    tmp_path: Path, private_redis: RedisServer, postgres_dsn: str
) -> None:
    from bench import redis_profile

    env = make_env(tmp_path, private_redis.url, postgres_dsn)
    rows = [await redis_profile.profile(w, env) for w in ("changed", "unchanged")]
    for row in rows:
        assert set(row["shares"]) == set(redis_profile.AREAS)
        assert abs(sum(row["shares"].values()) - 1) < 1e-9, row
        assert row["shares"]["redis-py"] > 0, row  # both workloads call Redis
        assert row["get_rtt_us"] > 0
    assert "| changed |" in redis_profile.render(rows)
    assert redis_profile.area("~", "<method 'poll' of 'select.epoll' objects>") == (
        "waiting for Redis (epoll)"
    )
    assert redis_profile.area("/x/site-packages/redis/asyncio/client.py", "f") == "redis-py"
    assert redis_profile.area("~", "<method 'send' of '_socket.socket' objects>") == (
        "socket send and receive"
    )
