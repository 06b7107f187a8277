"""W3: 1,000 updates of one chat dispatched at once; lost updates and time.

The handler reads the counter, waits 1 ms (``asyncio.sleep(0.001)`` / ``setTimeout 1``)
and writes read + 1, so any overlap of two updates of the chat loses one of them.
botsessions runs it on memory, Redis and PostgreSQL with its cross-process lock on (the
default), through its bot layer and both integrations; the time is compared with the
serial floor, 1,000 × the handler's own wait measured in the same process.
The peers run their default and their documented fix (grammY ``sequentialize``, aiogram
``SimpleEventIsolation``, PTB ``concurrent_updates=False``; aiogram's
``RedisEventIsolation`` only with ``--slow-peers``: it takes about two minutes).
The same burst split over four bot processes sharing one Redis or PostgreSQL is in
``bench.crossprocess``. Run both alone: ``python -m bench.concurrency``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench._common import Json
from bench._runner import ChildFailed, Progress, node_child, python_child, run_child

SYSTEMS = (
    "botsessions",
    "botsessions+aiogram",
    "botsessions+ptb",
    "grammY",
    "aiogram",
    "python-telegram-bot",
)


def run(
    *,
    k: int,
    redis_url: str,
    redis_port: int,
    postgres_dsn: str,
    workdir: str,
    cpu: int | None,
    progress: Progress,
    slow_peers: bool = False,
    systems: Sequence[str] = SYSTEMS,
) -> Json:
    rows: list[Json] = []
    failures: dict[str, str] = {}
    for system in systems:
        progress.show(f"W3 {system}")
        if system == "grammY":
            argv = node_child(["w3", "--k", str(k), "--redis-port", str(redis_port)])
        else:
            args = [system, "w3", "--k", str(k), "--redis-url", redis_url]
            args += ["--postgres-dsn", postgres_dsn, "--workdir", workdir]
            if slow_peers:
                args.append("--slow")
            argv = python_child(args)
        try:
            rows.extend(run_child(argv, progress, cpu, timeout=900)["rows"])
        except ChildFailed as exc:
            failures[system] = str(exc)[-1500:]
        progress.step()
    return {"k": k, "rows": rows, "failures": failures}


if __name__ == "__main__":
    from bench.__main__ import main

    main(["--only", "W3"])
