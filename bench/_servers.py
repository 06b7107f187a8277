"""The dedicated redis-server of a benchmark run, and round-trip / command-count probes.

The suite never touches a shared Redis: it starts its own ``redis-server`` on a free port
(6390 when free) with persistence off, pins it to the benchmark CPU, and stops it by pid at
the end. Only on that server does it run ``CONFIG RESETSTAT`` and ``FLUSHDB``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

from bench._common import now

PREFERRED_REDIS_PORT = 6390
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# scan and mget only come from the checks that sum the stored counters after a run.
_IGNORED_COMMANDS = {
    "config|resetstat",
    "config",
    "info",
    "flushdb",
    "ping",
    "select",
    "client|setinfo",
    "scan",
    "mget",
}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    if _port_free(PREFERRED_REDIS_PORT):
        return PREFERRED_REDIS_PORT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A private redis-server process (persistence off), optionally pinned to one CPU."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.port = _free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="botsessions-bench-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", self._dir.name]
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu), *argv]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 20 s")

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
        self._process = None
        self._dir.cleanup()


async def redis_get_rtt_us(url: str, reps: int = 3000) -> float:
    """Sequential GET round trip of a plain redis.asyncio client, in µs."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.set("bench:rtt-probe", json.dumps({"count": 0}))
        for _ in range(200):
            await client.get("bench:rtt-probe")
        started = now()
        for _ in range(reps):
            await client.get("bench:rtt-probe")
        elapsed = now() - started
        await client.delete("bench:rtt-probe")
    finally:
        await client.aclose()
    return elapsed / reps * 1e6


async def redis_reset(url: str) -> None:
    """Empty the dedicated server and zero its command statistics."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
        await client.config_resetstat()
    finally:
        await client.aclose()


async def redis_commands(url: str) -> dict[str, int]:
    """Calls per command since the last reset (INFO commandstats), without our own probes."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        info: dict[str, Any] = await client.info("commandstats")
    finally:
        await client.aclose()
    counts: dict[str, int] = {}
    for key, value in info.items():
        name = key.removeprefix("cmdstat_")
        if name not in _IGNORED_COMMANDS:
            counts[name] = int(value["calls"])
    return counts


async def postgres_rtt_us(dsn: str, reps: int = 2000) -> float:
    """Sequential ``SELECT 1`` round trip of one asyncpg connection, in µs."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(100):
            await conn.fetchval("SELECT 1")
        started = now()
        for _ in range(reps):
            await conn.fetchval("SELECT 1")
        elapsed = now() - started
    finally:
        await conn.close()
    return elapsed / reps * 1e6


async def postgres_drop(dsn: str, table: str) -> None:
    """Drop a table this run created, and the lock functions PostgresStorage made for it."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        for suffix in ("acquire", "save", "remove"):
            await conn.execute(f'DROP FUNCTION IF EXISTS "{table}__{suffix}"')
    finally:
        await conn.close()
