"""Engine A/B: the memory counter's session overhead, this tree against an older commit.

The W1 workload without a bot around it: a strict session with ``initial={"count": 0}``
on ``MemorySessionStorage``, 1,000 chats, every update runs ``ctx.session["count"] += 1``
through the session engine with a minimal host context. Engine A is this tree's
``botsessions.engine.manager.run_update``; engine B (the baseline) is the ``session()``
middleware of the package as it was at ``--ref``, extracted with ``git archive``.

Both engines are loaded into one process: the baseline package is imported first, its
modules are then taken out of ``sys.modules`` (they keep working through the references
already held) and this tree's package is imported in its place. Repetitions alternate
A, B, A, B..., each timing CPU time (``time.process_time``) over ``--n`` updates, and
also a bare run (the handler alone, no session) so that the *overhead* is what is
compared. Results are measured as ratios against a baseline run in the same process:
the ratio of the best run of each side, and the median and range of the ratios of runs
timed back to back (the machine may be shared and noisy: prefer many short runs).

Run: ``python -m bench.engine_ab [--ref ff3cf9e] [--n 4000] [--reps 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CHATS = 1000

Feed = Callable[["Host", Callable[[], Awaitable[None]]], Awaitable[None]]


class Host:
    """The smallest host context: the key facts, and ``ctx.session`` forwarding to a slot."""

    __slots__ = ("_slot", "business_connection_id", "chat_id", "session_key", "thread_id")

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self.thread_id = None
        self.business_connection_id = None
        self.session_key: str | None = None

    @property
    def user_id(self) -> int:
        return self.chat_id

    def bind_session(self, slot: Any, key: str | None) -> None:
        self._slot = slot
        self.session_key = key

    _bind_session = bind_session  # the name the older engines call

    @property
    def session(self) -> Any:
        return self._slot.get()

    @session.setter
    def session(self, value: Any) -> None:
        self._slot.set(value)


def extract(ref: str, into: Path) -> Path:
    """``git archive <ref> src/botsessions`` unpacked under ``into``; the ``src`` path."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src/botsessions"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _initial() -> dict[str, int]:
    return {"count": 0}


def _load(src: Path) -> Any:
    """Import ``botsessions`` from ``src`` and detach it from ``sys.modules``."""
    sys.path.insert(0, str(src))
    try:
        package = importlib.import_module("botsessions")
        importlib.import_module("botsessions._session")
    finally:
        sys.path.remove(str(src))
    for name in [m for m in sys.modules if m == "botsessions" or m.startswith("botsessions.")]:
        del sys.modules[name]
    return package


def baseline_feed(package: Any) -> tuple[Feed, Any]:
    """The older engine: its ``session()`` middleware, which drives one update."""
    storage = package.MemorySessionStorage()
    middleware = package.session(initial=_initial, storage=storage)
    return middleware, storage


def current_feed(package: Any) -> tuple[Feed, Any]:
    """This tree's engine: ``run_update`` with a manager built once."""
    manager_module = importlib.import_module("botsessions.engine.manager")
    storage = package.MemorySessionStorage()
    manager = manager_module.build_manager(
        {"initial": _initial, "storage": storage},
        lazy=False,
        default_key=package.keys.per_chat,
    )
    # A partial, not a wrapping coroutine: the baseline's middleware is one frame too.
    feed: Feed = functools.partial(manager_module.run_update, manager)
    return feed, storage


async def _time(feed: Feed | None, hosts: list[Host], n: int) -> float:
    """CPU µs per update for ``n`` updates (``feed=None``: the handler alone)."""
    current: list[Host] = [hosts[0]]

    async def handler() -> None:
        ctx = current[0]
        if feed is not None:
            ctx.session["count"] += 1

    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for i in range(n):
            ctx = current[0] = hosts[i % CHATS]
            if feed is None:
                await handler()
            else:
                await feed(ctx, handler)
        elapsed = time.process_time() - start
    finally:
        gc.enable()
    return elapsed / n * 1e6


async def measure(feeds: dict[str, Feed], n: int, reps: int) -> dict[str, list[float]]:
    """Overheads (µs/update over the bare run) per engine, repetitions interleaved."""
    hosts = [Host(1000 + i) for i in range(CHATS)]
    overheads: dict[str, list[float]] = {name: [] for name in feeds}
    for feed in feeds.values():  # warm up: first writes, caches
        await _time(feed, hosts, CHATS * 2)
    for rep in range(reps):
        bare = await _time(None, hosts, n)
        order = list(feeds.items())
        if rep % 2:
            order.reverse()
        for name, feed in order:
            overheads[name].append(await _time(feed, hosts, n) - bare)
    return overheads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="ff3cf9e", help="baseline commit (default ff3cf9e)")
    parser.add_argument("--n", type=int, default=4000, help="updates per timed run")
    parser.add_argument("--reps", type=int, default=40, help="interleaved repetitions")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="engine-ab-") as tmp:
        old = _load(extract(args.ref, Path(tmp)))
        new = _load(SRC)
        old_feed, old_storage = baseline_feed(old)
        new_feed, new_storage = current_feed(new)
        feeds = {"current": new_feed, f"baseline {args.ref}": old_feed}
        overheads = asyncio.run(measure(feeds, args.n, args.reps))
    total = args.reps * args.n + 2 * CHATS
    for storage in (old_storage, new_storage):
        stored = sum(storage.read(str(1000 + i))["count"] for i in range(CHATS))
        if stored != total:
            raise SystemExit(f"lost updates: {stored} stored, {total} run")
    base = f"baseline {args.ref}"
    best = {name: min(values) for name, values in overheads.items()}
    # Each repetition timed both engines back to back: its ratio shares the machine state.
    paired = sorted(c / b for c, b in zip(overheads["current"], overheads[base], strict=True))
    result = {
        "overhead_us": overheads,
        "best_us": best,
        "ratio_of_best": best["current"] / best[base],
        "paired_ratio_median": statistics.median(paired),
        "paired_ratio_range": [paired[0], paired[-1]],
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"memory counter, {CHATS} chats, {args.n} updates x {args.reps} interleaved runs")
    for name, values in overheads.items():
        print(
            f"  {name:>20}: session overhead best {min(values):.2f} µs/update, "
            f"median {statistics.median(values):.2f} [{min(values):.2f} .. {max(values):.2f}]"
        )
    print(f"  current / baseline, best of each: {result['ratio_of_best']:.3f}x")
    print(
        f"  current / baseline, paired per run: median {result['paired_ratio_median']:.3f}x "
        f"[{paired[0]:.3f} .. {paired[-1]:.3f}]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
