"""Find or start the real Redis and PostgreSQL servers the storage tests use.

Each server is taken, in order, from an environment variable, from the default local
address, or from a throwaway server started from installed binaries. When none is
available the tests that need it are skipped with a loud reason, unless
``BOTSESSIONS_REQUIRE_SERVICES=1`` (set by CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

REDIS_ENV = "BOTSESSIONS_REDIS_URL"
POSTGRES_ENV = "BOTSESSIONS_POSTGRES_DSN"
REQUIRE_ENV = "BOTSESSIONS_REQUIRE_SERVICES"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def unavailable(what: str) -> NoReturn:
    """Skip loudly, or fail when the environment requires every service."""
    message = f"{what} is not available: set {REDIS_ENV} / {POSTGRES_ENV} or install it"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        if port_open("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start within {timeout} s")


@dataclass
class RedisServer:
    """A private redis-server process (for tests that stop and restart it)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server binary")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@contextmanager
def private_redis() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="botsessions-redis-") as directory:
        server = RedisServer(port=free_port(), directory=Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def redis_url() -> Iterator[str]:
    url = os.environ.get(REDIS_ENV)
    if url:
        yield url
        return
    parts = urlsplit(DEFAULT_REDIS_URL)
    if port_open(parts.hostname or "127.0.0.1", parts.port or 6379):
        yield DEFAULT_REDIS_URL
        return
    with private_redis() as server:
        yield server.url


@contextmanager
def postgres_dsn() -> Iterator[str]:
    dsn = os.environ.get(POSTGRES_ENV)
    if dsn:
        yield dsn
        return
    if port_open("127.0.0.1", 5432):
        yield DEFAULT_POSTGRES_DSN
        return
    with _throwaway_postgres() as started:
        yield started


@contextmanager
def _throwaway_postgres() -> Iterator[str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        unavailable("PostgreSQL (no server on 127.0.0.1:5432 and no initdb/pg_ctl)")
    # initdb refuses to run as root: run it as the postgres user when we are root.
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            unavailable("PostgreSQL (running as root without runuser)")
        prefix = [str(runuser), "-u", "postgres", "--"]
    directory = tempfile.mkdtemp(prefix="botsessions-pg-")
    if prefix:
        shutil.chown(directory, "postgres")
    port = free_port()
    data = os.path.join(directory, "data")
    subprocess.run(
        [*prefix, initdb, "-A", "trust", "-U", "postgres", "-D", data],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            data,
            "-w",
            "-o",
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", data, "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(directory, ignore_errors=True)
