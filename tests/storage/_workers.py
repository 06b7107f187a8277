"""Worker processes for the cross-process locking tests.

    python -m tests.storage._workers hold <backend> <target> <name> <key> <lease>
        lock <key> with a lease of <lease> seconds, print "locked", then wait forever (the
        test kills this process with SIGKILL while the lock is held).
    python -m tests.storage._workers bot <backend> <target> <name> <chat> <updates> [<pause>]
        through the real session path: a Bot with session(storage=...) handles <updates>
        concurrent updates of chat <chat>; the handler reads the counter,
        sleeps <pause> seconds (default 0), and writes it + 1.
    python -m tests.storage._workers bot-hold <backend> <target> <name> <chat> <lease>
        a Bot with session(storage=...) handles one update of <chat> (committing +1), then a
        second one whose handler prints "locked" and waits forever, holding the session lock.

    python -m tests.storage._workers w3 <backend> <target> [<pause>] [<runs>]
        measure: 4 bot processes x 250 concurrent updates of one chat, the handler pausing
        <pause> seconds (default 0.001); prints the wall time against the serial floor
        (1,000 x the measured pause), once per run (default 3).

<backend> is "redis" (target: URL, name: key prefix) or "postgres" (target: DSN, name: table).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

from botsessions import Bot, Context, session
from botsessions.storage import PostgresStorage, RedisStorage
from tests.integrations._updates import message

BOT_INFO = {"id": 1, "is_bot": True, "first_name": "Worker", "username": "worker_bot"}
TOKEN = "123456:worker-token"


def make_storage(backend: str, target: str, name: str, *, lease: float = 30.0) -> Any:
    """The storage a worker (or the test itself) uses for ``backend``."""
    if backend == "redis":
        return RedisStorage(target, prefix=name, lock_wait=60.0, lock_lease=lease)
    return PostgresStorage(target, table=name, lock_wait=60.0, lock_lease=lease, max_size=4)


async def hold(storage: Any, key: str) -> None:
    """Take the lock of ``key``, say so, and never release it."""
    await storage.acquire(key, read=True)
    print("locked", flush=True)
    await asyncio.Event().wait()


def counting_bot(storage: Any, *, pause: float = 0.0) -> Bot:
    """A Bot whose handler increments ``ctx.session["count"]`` around an await.

    An update with the text ``"hold"`` prints ``locked`` instead and never returns.
    """
    bot = Bot(TOKEN, bot_info=BOT_INFO)
    bot.use(session(initial=lambda: {"count": 0}, storage=storage))

    @bot.use
    async def handler(ctx: Context, next: Any) -> None:
        current = ctx.session["count"]
        if ctx.update.get("message", {}).get("text") == "hold":
            print("locked", flush=True)
            await asyncio.Event().wait()
        await asyncio.sleep(pause)
        ctx.session["count"] = current + 1

    return bot


async def _barrier(storage: Any, key: str) -> None:
    await storage.read(key)  # connect, then start together with the other workers
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def measure_w3(backend: str, target: str, pause: float, runs: int) -> None:
    """Print the 4-process run time of 1,000 updates of one chat against the serial floor."""
    for _ in range(runs):
        name = f"w3_{uuid.uuid4().hex[:12]}"
        async with make_storage(backend, target, name) as storage:
            await storage.write("42", {"count": 0})
            started = time.perf_counter()
            for _ in range(200):
                await asyncio.sleep(pause)
            floor = (time.perf_counter() - started) / 200 * 1000
            seconds = await run_workers(
                backend, target, name, "42", "250", str(pause), processes=4, mode="bot"
            )
            count = (await storage.read("42"))["count"]
            wall = max(seconds)
            print(
                f"{backend}: counter {count}, {wall:.2f} s, floor {floor:.2f} s, "
                f"{wall / floor:.2f}x floor",
                flush=True,
            )
            await storage.delete("42")
        if backend == "postgres":
            await drop_table(target, name)


async def drop_table(dsn: str, table: str) -> None:
    """Drop ``table`` and the lock functions created next to it."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        for name in ("acquire", "save", "remove"):
            await connection.execute(f'DROP FUNCTION IF EXISTS "{table}__{name}"')
    finally:
        await connection.close()


async def main(argv: list[str]) -> None:
    if argv[0] == "w3":
        backend, target, *options = argv[1:]
        pause = float(options[0]) if options else 0.001
        runs = int(options[1]) if len(options) > 1 else 3
        await measure_w3(backend, target, pause, runs)
        return
    mode, backend, target, name, key, number, *rest = argv
    lease = float(number) if mode in ("hold", "bot-hold") else 30.0
    async with make_storage(backend, target, name, lease=lease) as storage:
        if mode == "bot":
            await _barrier(storage, key)
            started = time.perf_counter()
            bot = counting_bot(storage, pause=float(rest[0]) if rest else 0.0)
            chat = int(key)
            await asyncio.gather(*(bot.handle_update(message(i, chat)) for i in range(int(number))))
            print(f"done {time.perf_counter() - started:.6f}", flush=True)
        elif mode == "bot-hold":
            bot = counting_bot(storage)
            await bot.handle_update(message(1, int(key)))
            await bot.handle_update(message(2, int(key), text="hold"))
        else:
            await hold(storage, key)


async def run_workers(*args: str, processes: int, mode: str = "bot") -> list[float]:
    """Run ``processes`` workers of ``mode`` (bot), started together.

    The processes start in parallel (their imports dominate) and wait at a barrier until
    all are connected. Returns each one's seconds; fails unless every worker exits cleanly.
    """
    outputs = await run_at_barrier("tests.storage._workers", mode, *args, processes=processes)
    return [float(out.split()[1]) for out in outputs]


async def run_at_barrier(module: str, *args: str, processes: int) -> list[bytes]:
    """Start ``processes`` copies of ``python -m module args``, release them together.

    Each worker prints ``ready`` once connected, waits for a line on stdin, and ends by
    printing ``done ...``. Returns every worker's output; fails unless each exits cleanly.
    """
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
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
    outputs = []
    for proc in procs:
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert out.startswith(b"done "), out
        outputs.append(out)
    return outputs


async def start_holder(*args: str, mode: str = "hold") -> asyncio.subprocess.Process:
    """Start a hold (or bot-hold) worker and return once it holds the lock."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage._workers",
        mode,
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line.decode().strip() == "locked"
    return proc


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
