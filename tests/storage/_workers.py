"""Worker processes for the cross-process locking tests.

    python -m tests.storage._workers count <backend> <target> <name> <key> <updates>
        handle <updates> concurrent read-modify-write updates of <key> through the lease API,
        each one taking the per-key asyncio lock first (as the session engine does).
    python -m tests.storage._workers hold <backend> <target> <name> <key> <lease>
        lock <key> with a lease of <lease> seconds, print "locked", then wait forever (the
        test kills this process with SIGKILL while the lock is held).

<backend> is "redis" (target: URL, name: key prefix) or "postgres" (target: DSN, name: table).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from botsessions.storage import PostgresStorage, RedisStorage


def make_storage(backend: str, target: str, name: str, *, lease: float = 30.0) -> Any:
    """The storage a worker (or the test itself) uses for ``backend``."""
    if backend == "redis":
        return RedisStorage(target, prefix=name, lock_wait=60.0, lock_lease=lease)
    return PostgresStorage(target, table=name, lock_wait=60.0, lock_lease=lease, max_size=4)


async def count(storage: Any, key: str, updates: int) -> None:
    """Run ``updates`` concurrent increments of ``key``'s counter."""
    local = asyncio.Lock()

    async def update() -> None:
        async with local:
            lease = await storage.acquire(key, read=True)
            try:
                current = (lease.value or {"count": 0})["count"]
                await asyncio.sleep(0)  # the handler awaits something
                await lease.write({"count": current + 1})
            finally:
                await lease.release()

    await asyncio.gather(*(update() for _ in range(updates)))


async def hold(storage: Any, key: str) -> None:
    """Take the lock of ``key``, say so, and never release it."""
    await storage.acquire(key, read=True)
    print("locked", flush=True)
    await asyncio.Event().wait()


async def main(argv: list[str]) -> None:
    mode, backend, target, name, key, number = argv
    lease = float(number) if mode == "hold" else 30.0
    async with make_storage(backend, target, name, lease=lease) as storage:
        if mode == "count":
            await storage.read(key)  # connect, then start together with the other workers
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            started = time.perf_counter()
            await count(storage, key, int(number))
            print(f"done {time.perf_counter() - started:.6f}", flush=True)
        else:
            await hold(storage, key)


async def run_workers(*args: str, processes: int) -> list[float]:
    """Run ``processes`` count workers, started together; return each one's seconds.

    Fails unless every worker exits cleanly.
    """
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.storage._workers",
            "count",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if line.strip() != b"ready":
            _, err = await proc.communicate()
            raise AssertionError(f"worker failed to start: {line!r} {err.decode()}")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    seconds = []
    for proc in procs:
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert out.startswith(b"done "), out
        seconds.append(float(out.split()[1]))
    return seconds


async def start_holder(*args: str) -> asyncio.subprocess.Process:
    """Start a hold worker and return once it holds the lock."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage._workers",
        "hold",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line.decode().strip() == "locked"
    return proc


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
