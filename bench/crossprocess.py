"""W3 across processes: 4 bot processes × 250 concurrent updates of one chat, one storage.

Each worker (``bench._w3_worker``) is a botsessions ``Bot`` with
``session(storage=RedisStorage(...))`` or ``PostgresStorage(...)`` and the W3 handler
(read the counter, ``await asyncio.sleep(0.001)``, write it + 1). The workers start in
parallel (importing aiogram takes seconds), warm up, and wait at a barrier: a pipe whose
write end this process closes, so every worker sees end-of-file at once. The burst's wall
time runs from that release to the last worker done (``time.monotonic()`` stamps, a
system-wide clock). The serial floor is 1,000 × the mean of ``asyncio.sleep(0.001)``,
measured here while the workers wait at the barrier. Only the cross-process lock keeps
the counter exact: without it, four processes lose most of the updates.

Workers run unpinned (the suite's redis-server stays on its CPU); every storage gets its
own key prefix or table, removed at the end. Run alone: ``python -m bench.crossprocess``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bench._common import W3_CHAT, Json, now, summary
from bench._runner import BENCH_DIR, Progress
from bench._servers import postgres_drop
from bench._w3_worker import make_storage

BACKENDS = ("redis", "postgres")
LABELS = {"redis": "RedisStorage", "postgres": "PostgresStorage"}
FLOOR_SLEEPS = 300
START_TIMEOUT = 180.0
BURST_TIMEOUT = 600.0


class WorkerFailed(RuntimeError):
    """A worker process failed; its stderr tail is in the message."""


async def mean_sleep(pause: float, samples: int = FLOOR_SLEEPS) -> float:
    """Mean seconds of one ``asyncio.sleep(pause)`` in this process."""
    started = now()
    for _ in range(samples):
        await asyncio.sleep(pause)
    return (now() - started) / samples


class _Worker:
    """One worker process and the tail of its stderr."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        if proc.stdout is None or proc.stderr is None:
            raise WorkerFailed("worker started without stdout/stderr pipes")
        self.proc = proc
        self.stdout = proc.stdout
        self.stderr = b""
        self._drain = asyncio.ensure_future(self._read_stderr(proc.stderr))

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.stderr = (self.stderr + line)[-3000:]

    async def line(self, expected: str) -> str:
        text = (await self.stdout.readline()).decode().strip()
        if not text.startswith(expected):
            await self.stop()
            raise WorkerFailed(
                f"worker sent {text!r} instead of {expected!r}:\n{self.stderr.decode()}"
            )
        return text[len(expected) :].strip()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        await self._drain


async def _spawn(index: int, updates: int, pause: float, plan: list[Json]) -> _Worker:
    fds = [spec["fd"] for spec in plan]
    argv = [sys.executable, "-m", "bench._w3_worker", "--index", str(index)]
    argv += ["--updates", str(updates), "--pause", str(pause), "--plan", json.dumps(plan)]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=BENCH_DIR.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=fds,
    )
    return _Worker(proc)


async def _burst(
    workers: Sequence[_Worker], storage: Any, release: Callable[[], None], total: int, pause: float
) -> Json:
    """Wait until every worker is ready, reset the counter, release them, collect."""
    await asyncio.wait_for(asyncio.gather(*(w.line("ready") for w in workers)), START_TIMEOUT)
    await storage.write(str(W3_CHAT), {"count": 0})
    floor = await mean_sleep(pause) * total
    released = time.monotonic()
    release()
    results = await asyncio.wait_for(
        asyncio.gather(*(w.line("result") for w in workers)), BURST_TIMEOUT
    )
    found = [json.loads(r) for r in results]
    stored = await storage.read(str(W3_CHAT))
    final = int(stored["count"]) if isinstance(stored, dict) else 0
    seconds = max(r["done"] for r in found) - released
    return {
        "final": final,
        "lost": total - final,
        "errors": sum(r["errors"] for r in found),
        "first_error": next((r["first_error"] for r in found if r["first_error"]), None),
        "api_calls": sum(r["api_calls"] for r in found),
        "seconds": seconds,
        "serial_floor_s": floor,
        "vs_floor": seconds / floor,
        "barrier_spread_s": max(r["started"] for r in found) - released,
    }


def _row(backend: str, processes: int, per_process: int, runs: list[Json]) -> Json:
    return {
        "system": "botsessions",
        "storage": backend,
        "config": f"{LABELS[backend]}, {processes} processes × {per_process:,}, lock on",
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


async def measure(
    *,
    k: int,
    processes: int,
    runs: int,
    redis_url: str,
    postgres_dsn: str,
    pause: float = 0.001,
    backends: Sequence[str] = BACKENDS,
    progress: Progress | None = None,
) -> Json:
    """Run ``runs`` bursts per backend (interleaved) with one set of worker processes.

    ``k`` updates in all, ``k // processes`` per worker. Returns one row per backend (runs
    that failed are left out and their error is listed under ``failures``).
    """
    per_process = max(1, k // processes)
    total = per_process * processes
    targets = {"redis": redis_url, "postgres": postgres_dsn}
    names = {
        "redis": f"bench:w3x:{uuid.uuid4().hex[:8]}:",
        "postgres": f"bench_w3x_{uuid.uuid4().hex[:12]}",
    }
    measured: dict[str, list[Json]] = {}
    failures: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        storages: dict[str, Any] = {}
        for b in backends:
            try:
                storages[b] = await _open(stack, b, targets[b], names[b])
            except Exception as exc:  # that backend's row says why it is missing
                failures[b] = f"{type(exc).__name__}: {exc}"
        order = [b for _ in range(runs) for b in storages]
        if not order:
            return _result(processes, per_process, runs, pause, measured, failures)
        barriers = _Barriers(len(order))
        stack.callback(barriers.close)
        plan = [
            {"backend": b, "target": targets[b], "name": names[b], "fd": fd}
            for b, fd in zip(order, barriers.read_fds, strict=True)
        ]
        if progress is not None:
            progress.show(f"W3 across processes: starting {processes} workers")
        workers: list[_Worker] = []
        try:
            for i in range(processes):
                workers.append(await _spawn(i, per_process, pause, plan))
            barriers.close_read_ends()
            for i, backend in enumerate(order):
                if progress is not None:
                    progress.show(f"W3 across processes: {backend}, run {i // len(storages) + 1}")
                release = functools.partial(barriers.release, i)
                found = await _burst(workers, storages[backend], release, total, pause)
                measured.setdefault(backend, []).append(found)
        except (WorkerFailed, TimeoutError) as exc:
            # the workers are out of step now: keep the runs measured so far
            failures["workers"] = str(exc)[-1500:] or type(exc).__name__
        finally:
            for w in workers:
                await w.stop()
    return _result(processes, per_process, runs, pause, measured, failures)


def _result(
    processes: int,
    per_process: int,
    runs: int,
    pause: float,
    measured: dict[str, list[Json]],
    failures: dict[str, str],
) -> Json:
    return {
        "processes": processes,
        "per_process": per_process,
        "runs": runs,
        "pause_s": pause,
        "rows": [_row(b, processes, per_process, r) for b, r in measured.items()],
        "failures": failures,
    }


async def _open(stack: contextlib.AsyncExitStack, backend: str, target: str, name: str) -> Any:
    """This process's handle on a burst's storage; removed again when ``stack`` closes."""
    storage = make_storage(backend, target, name)
    if backend == "postgres":
        stack.push_async_callback(postgres_drop, target, name)
    await stack.enter_async_context(storage)
    stack.push_async_callback(storage.delete, str(W3_CHAT))
    await storage.write(str(W3_CHAT), {"count": 0})  # creates the table before the workers
    return storage


class _Barriers:
    """One pipe per burst: the workers block reading it; closing the write end frees all."""

    def __init__(self, count: int) -> None:
        pipes = [os.pipe() for _ in range(count)]
        self.read_fds = [r for r, _ in pipes]
        self._write: dict[int, int] = dict(enumerate(w for _, w in pipes))
        self._read_open = True

    def close_read_ends(self) -> None:
        """The workers hold their copies; this process needs only the write ends."""
        if self._read_open:
            self._read_open = False
            for fd in self.read_fds:
                os.close(fd)

    def release(self, index: int) -> None:
        os.close(self._write.pop(index))

    def close(self) -> None:
        self.close_read_ends()
        for fd in self._write.values():
            os.close(fd)
        self._write.clear()


def run(
    *,
    k: int,
    processes: int,
    runs: int,
    redis_url: str,
    postgres_dsn: str,
    progress: Progress | None = None,
) -> Json:
    """Synchronous entry point of the combined runner (``python -m bench``)."""
    return asyncio.run(
        measure(
            k=k,
            processes=processes,
            runs=runs,
            redis_url=redis_url,
            postgres_dsn=postgres_dsn,
            progress=progress,
        )
    )


if __name__ == "__main__":
    from bench.__main__ import main

    main(["--only", "W3"])
