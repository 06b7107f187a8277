"""W2 and W3 on the scale-out storages: a three-primary Redis Cluster, and MariaDB/MySQL.

The same workloads as the single-Redis and PostgreSQL rows, through botsessions' bot layer
(the child side is ``bench._scaleout_child``):

* **W2**, in a fresh child process per storage: W0 (no session) and the counter
  (``ctx.session["count"] += 1``) with the cross-process lock on and with
  ``locking=False``, fed sequentially over ``chats`` chats. Overhead = (t(W2) − t(W0)) / N
  within one repetition; round trips per update = overhead / one plain driver round trip
  measured in the same child (``RedisCluster`` GET, asyncmy ``SELECT 1``). An untimed pass
  counts the storage calls per update and, on the cluster, every node's
  ``INFO commandstats``.
* **W3**, one process: ``k`` updates of one chat at once (read, ``asyncio.sleep(0.001)``,
  write + 1), against the serial floor (``k`` × the 1 ms wait, measured in that process).
* **W3 across processes**: ``bench.crossprocess``'s burst (same barrier, clock and serial
  floor): ``processes`` bot processes × ``k / processes`` updates share one storage.

The cluster is this run's own (three ``redis-server --cluster-enabled yes`` on free ports,
persistence off, pinned to the benchmark CPU like the single-Redis phase, its W2 client
too); MariaDB/MySQL is the shared server at ``--mysql-url`` (``BOTSESSIONS_MYSQL_URL``),
unpinned like PostgreSQL, where every run makes its own tables (``bench_<random>``) and
drops them. A storage that is missing is reported as not available, with the reason, and
fails the run under ``BOTSESSIONS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench._common import W3_CHAT, Json, summary
from bench._runner import BENCH_DIR, ChildFailed, Progress, run_child
from bench._scaleout_child import KINDS, LABELS, fresh_name, make_storage, mysql_query, remove
from bench.crossprocess import _Barriers, _burst, _Worker

MYSQL_ENV = "BOTSESSIONS_MYSQL_URL"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
REQUIRE_ENV = "BOTSESSIONS_REQUIRE_SERVICES"
START_TIMEOUT = 180.0
PAUSE = 0.001

__all__ = ["KINDS", "LABELS", "ClusterServer", "Unavailable", "run", "steps"]


class Unavailable(RuntimeError):
    """A scale-out storage cannot be measured on this machine (the message says why)."""


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ClusterServer:
    """This run's Redis Cluster: three primaries on free ports, no replicas, no persistence."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.ports: list[int] = []
        self._dir = tempfile.TemporaryDirectory(prefix="botsessions-bench-cluster-")
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL of the first node (the client discovers the others)."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    @property
    def node_urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{port}/0" for port in self.ports]

    def start(self, timeout: float = 30.0) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise Unavailable("redis-server and redis-cli must be on PATH")
        rng = random.Random()
        while len(self.ports) < 3:
            port = rng.randrange(20000, 30000)  # its cluster bus listens on port + 10000
            if port not in self.ports and _bindable(port) and _bindable(port + 10000):
                self.ports.append(port)
        for port in self.ports:
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled"]
            argv += ["yes", "--cluster-config-file", f"nodes-{port}.conf", "--save", ""]
            argv += ["--appendonly", "no", "--dir", self._dir.name]
            if self.cpu is not None:
                argv = ["taskset", "-c", str(self.cpu), *argv]
            self._processes.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        deadline = time.monotonic() + timeout
        self._wait(lambda: all(self._ask(p, "ping") == "PONG" for p in self.ports), deadline)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
        )
        # Usable once every node reports the whole slot map as served.
        self._wait(
            lambda: all("cluster_state:ok" in self._ask(p, "cluster", "info") for p in self.ports),
            deadline,
        )

    def _ask(self, port: int, *command: str) -> str:
        argv = ["redis-cli", "-p", str(port), *command]
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()

    def _wait(self, ready: Callable[[], bool], deadline: float) -> None:
        while not ready():
            if any(p.poll() is not None for p in self._processes):
                raise Unavailable("a redis-server node of the cluster exited at start")
            if time.monotonic() > deadline:
                raise Unavailable(f"the Redis Cluster on ports {self.ports} did not get ready")
            time.sleep(0.05)

    def version(self) -> str:
        info = self._ask(self.ports[0], "info", "server")
        return next(
            (line.split(":", 1)[1] for line in info.splitlines() if line.startswith("redis_v")),
            "unknown",
        )

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        self._processes.clear()
        self._dir.cleanup()


def mysql_version(url: str) -> str:
    """The server's ``VERSION()``; :class:`Unavailable` when it cannot be reached."""
    try:
        rows = asyncio.run(mysql_query(url, "SELECT VERSION()"))
    except Exception as exc:
        raise Unavailable(f"MariaDB/MySQL at {url}: {type(exc).__name__}: {exc}") from exc
    return str(rows[0][0])


def steps(only: set[str], kinds: Sequence[str]) -> int:
    """Progress steps of :func:`run` for the selected workloads."""
    return (len(kinds) if "W2" in only else 0) + (len(kinds) + 1 if "W3" in only else 0)


def _child(mode: str, kind: str, url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "bench._scaleout_child", mode, kind, url, *args]


async def _spawn(index: int, updates: int, plan: list[Json]) -> _Worker:
    argv = [sys.executable, "-m", "bench._scaleout_child", "worker", "--index", str(index)]
    argv += ["--updates", str(updates), "--plan", json.dumps(plan)]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=BENCH_DIR.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=[spec["fd"] for spec in plan],
    )
    return _Worker(proc)


async def cross_process(
    targets: dict[str, str], *, k: int, processes: int, runs: int, progress: Progress | None
) -> Json:
    """``runs`` bursts per storage (interleaved), one set of worker processes for all."""
    per_process = max(1, k // processes)
    total = per_process * processes
    measured: dict[str, list[Json]] = {}
    failures: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        storages: dict[str, Any] = {}
        names = {kind: fresh_name(kind, "w3x") for kind in targets}
        for kind, url in targets.items():
            storage = make_storage(kind, url, names[kind])
            stack.push_async_callback(remove, kind, url, names[kind], storage)
            await storage.write(str(W3_CHAT), {"count": 0})  # the table exists before workers
            storages[kind] = storage
        order = [kind for _ in range(runs) for kind in storages]
        barriers = _Barriers(len(order))
        stack.callback(barriers.close)
        plan = [
            {"kind": kind, "url": targets[kind], "name": names[kind], "fd": fd}
            for kind, fd in zip(order, barriers.read_fds, strict=True)
        ]
        workers: list[_Worker] = []
        try:
            for i in range(processes):
                workers.append(await _spawn(i, per_process, plan))
            barriers.close_read_ends()
            for i, kind in enumerate(order):
                if progress is not None:
                    progress.show(
                        f"W3 across processes: {LABELS[kind]}, run {i // len(storages) + 1}"
                    )
                release = functools.partial(barriers.release, i)
                found = await _burst(workers, storages[kind], release, total, PAUSE)
                measured.setdefault(kind, []).append(found)
        except Exception as exc:  # the workers are out of step: keep what was measured
            failures["scale-out workers"] = f"{type(exc).__name__}: {exc}"[-1500:]
        finally:
            for w in workers:
                await w.stop()
    rows = [_cross_row(kind, processes, per_process, r) for kind, r in measured.items()]
    return {
        "processes": processes,
        "per_process": per_process,
        "runs": runs,
        "rows": rows,
        "failures": failures,
    }


def _cross_row(kind: str, processes: int, per_process: int, runs: list[Json]) -> Json:
    return {
        "system": "botsessions",
        "storage": kind,
        "config": f"{LABELS[kind]}, {processes} processes × {per_process:,}, lock on",
        "processes": processes,
        "per_process": per_process,
        "runs": runs,
        "final": min(r["final"] for r in runs),
        "lost": sum(r["lost"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "seconds": summary([r["seconds"] for r in runs]),
        "serial_floor_s": statistics.median(r["serial_floor_s"] for r in runs),
        "vs_floor": summary([r["vs_floor"] for r in runs]),
    }


def run(
    *,
    only: set[str],
    kinds: Sequence[str],
    n: int,
    chats: int,
    reps: int,
    k: int,
    processes: int,
    runs: int,
    mysql_url: str,
    cpu: int | None,
    progress: Progress,
) -> Json:
    """W2 and/or W3 rows for ``kinds`` (``cluster``, ``mysql``); absent ones under ``failures``."""
    result: Json = {"w2": {}, "w3": [], "failures": {}, "servers": {}, "n": n, "reps": reps, "k": k}
    wanted = steps(only, kinds)
    with contextlib.ExitStack() as stack:
        targets: dict[str, str] = {}
        nodes: list[str] = []
        for kind in kinds:
            progress.show(f"scale-out: starting {LABELS[kind]}")
            try:
                if kind == "cluster":
                    cluster = ClusterServer(cpu)
                    stack.callback(cluster.stop)
                    cluster.start()
                    targets[kind], nodes = cluster.url, cluster.node_urls
                    result["servers"][kind] = f"redis-server {cluster.version()} ×3, own"
                else:
                    result["servers"][kind] = mysql_version(mysql_url)
                    targets[kind] = mysql_url
            except Unavailable as exc:
                if os.environ.get(REQUIRE_ENV) == "1":
                    raise
                print(f"bench: {LABELS[kind]} rows skipped: {exc}", file=sys.stderr)
                result["failures"][LABELS[kind]] = str(exc)
        for kind, url in targets.items():
            pinned = cpu if kind == "cluster" else None
            if "W2" in only:
                args = ["--n", str(n), "--chats", str(chats), "--reps", str(reps)]
                args += ["--nodes", ",".join(nodes)] if kind == "cluster" else []
                try:
                    result["w2"][kind] = run_child(_child("w2", kind, url, *args), progress, pinned)
                except ChildFailed as exc:
                    result["failures"][f"W2 {LABELS[kind]}"] = str(exc)[-1500:]
                progress.step()
            if "W3" in only:
                try:
                    argv = _child("w3", kind, url, "--k", str(k))
                    result["w3"].append(run_child(argv, progress, pinned))
                except ChildFailed as exc:
                    result["failures"][f"W3 {LABELS[kind]}"] = str(exc)[-1500:]
                progress.step()
        if "W3" in only and targets:
            progress.show("W3 across processes: scale-out storages")
            result["cross_process"] = asyncio.run(
                cross_process(targets, k=k, processes=processes, runs=runs, progress=progress)
            )
    progress.done += max(0, wanted - steps(only, list(targets)))
    if "W3" in only:
        progress.step()
    return result
