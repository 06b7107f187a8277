"""A throwaway three-primary Redis Cluster started from the installed ``redis-server``.

``redis_cluster`` (a fixture) gives the cluster shared by every test of the run: it is
started on first use and stopped when the run ends. ``private_cluster()`` starts one that
a single test owns (and may kill nodes of). Without ``redis-server``/``redis-cli`` the
tests are skipped loudly, or fail under ``BOTSESSIONS_REQUIRE_SERVICES=1``.

The nodes run with ``cluster-require-full-coverage no``: when one primary dies the others
keep serving their slots, which is what a bot on a real cluster sees during a failover.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services import REQUIRE_ENV, wait_for_port

__all__ = ["ThrowawayCluster", "private_cluster", "redis_cluster"]


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: the Redis Cluster tests need redis-server/redis-cli"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1 forbids skipping)", pytrace=False)
        pytest.skip(message)
    return path


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _node_ports(count: int) -> list[int]:
    """Free ports whose cluster bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 30000)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


@dataclass
class ThrowawayCluster:
    """Three primaries on free ports in ``directory``, no replicas."""

    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL of the first node (the client finds the others)."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self) -> None:
        server, cli = _binary("redis-server"), _binary("redis-cli")
        self.ports = _node_ports(3)
        for port in self.ports:
            self._start_node(server, port)
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_ok(cli)

    def _start_node(self, server: str, port: int) -> None:
        process = subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{port}.conf",
                "--cluster-node-timeout",
                "2000",
                "--cluster-require-full-coverage",
                "no",
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
        self.processes[port] = process
        wait_for_port(port, process)

    def _wait_until_ok(self, cli: str, timeout: float = 30.0) -> None:
        # Polling the servers' own view: the cluster is usable once every node says ok.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [
                subprocess.run(
                    [cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True
                ).stdout
                for port in self.ports
            ]
            if all("cluster_state:ok" in state for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the throwaway cluster on {self.ports} did not become ready")

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (its slots stop being served)."""
        process = self.processes.pop(port)
        process.kill()
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        self.processes.clear()


@contextmanager
def private_cluster() -> Iterator[ThrowawayCluster]:
    """A cluster owned by the caller, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="botsessions-cluster-") as directory:
        cluster = ThrowawayCluster(Path(directory))
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()


_SHARED = pytest.StashKey[ThrowawayCluster]()


@pytest.fixture(scope="session")
def redis_cluster(request: pytest.FixtureRequest) -> ThrowawayCluster:
    """The cluster shared by the whole run (isolate data with ``unique_name`` prefixes).

    Test modules import this fixture; the cluster itself is kept on the pytest config, so
    every module gets the same one and it is stopped once, when the run ends.
    """
    config = request.config
    if _SHARED not in config.stash:
        directory = tempfile.mkdtemp(prefix="botsessions-cluster-")
        cluster = ThrowawayCluster(Path(directory))
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
        config.add_cleanup(cluster.stop)
        cluster.start()
        config.stash[_SHARED] = cluster
    return config.stash[_SHARED]
