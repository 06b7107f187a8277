"""Shared pieces of the benchmark suite: the update stream, statistics, progress, timing.

Every system (botsessions and its peers) is fed the same synthetic stream: ``n`` text
messages over ``chats`` private chats (chat id == user id == 100000 + i), interleaved
round-robin, ``update_id`` increasing. Nothing touches the network.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

FAKE_TOKEN = "123456789:AAFakeTokenForBenchmarkOnly_abcdefghijk"
BOT_ID = 123456789
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Bench",
    "username": "bench_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
CHAT_BASE = 100_000
W3_CHAT = 777_000
WARMUP_UPDATES = 2000
PROGRESS_PREFIX = "@progress "

Json = dict[str, Any]


def make_updates(
    n: int, chats: int, *, chat_base: int = CHAT_BASE, first_update_id: int = 1
) -> list[Json]:
    """Build ``n`` raw text-message updates spread round-robin over ``chats`` chats."""
    updates: list[Json] = []
    for i in range(n):
        chat_id = chat_base + i % chats
        name = f"User{i % chats}"
        updates.append(
            {
                "update_id": first_update_id + i,
                "message": {
                    "message_id": i // chats + 1,
                    "date": 1_700_000_000 + i,
                    "chat": {"id": chat_id, "type": "private", "first_name": name},
                    "from": {"id": chat_id, "is_bot": False, "first_name": name},
                    "text": f"hello {i}",
                },
            }
        )
    return updates


def summary(values: Sequence[float]) -> Json:
    """Median, min and max of a list of measurements (plus the raw values)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def progress(text: str) -> None:
    """Tell the parent runner what this child is doing (one line on stderr)."""
    print(PROGRESS_PREFIX + text, file=sys.stderr, flush=True)


def emit(result: Json) -> None:
    """Print a child's result as JSON on stdout (the parent parses it)."""
    sys.stdout.write(json.dumps(result, default=str))
    sys.stdout.flush()


def now() -> float:
    return time.perf_counter()


class CheckFailed(RuntimeError):
    """A workload's correctness check failed: its numbers must not be reported."""


@dataclass
class Prepared:
    """One built workload, ready to be fed: fresh state, pre-parsed updates."""

    feed: Callable[[Any], Awaitable[Any]]
    updates: Sequence[Any]
    verify: Callable[[int], Awaitable[Json]]
    close: Callable[[], Awaitable[None]] | None = None


@dataclass
class Workload:
    """A named workload: ``build(n)`` returns a fresh :class:`Prepared` for ``n`` updates."""

    name: str
    label: str
    build: Callable[[int], Awaitable[Prepared]]
    api_calls: Callable[[], int] = lambda: 0
    extra: Json = field(default_factory=dict)
    counts_redis: bool = False
    count_calls: Callable[[int], Awaitable[Json]] | None = None


async def run_once(workload: Workload, n: int) -> tuple[float, Json]:
    """Feed ``n`` updates sequentially; return the seconds taken and the verified checks."""
    prepared = await workload.build(n)
    calls_before = workload.api_calls()
    feed = prepared.feed
    updates = prepared.updates[:n]
    started = now()
    for update in updates:
        await feed(update)
    seconds = now() - started
    checks = await prepared.verify(n)
    checks["api_calls"] = workload.api_calls() - calls_before
    if prepared.close is not None:
        await prepared.close()
    if not checks.get("ok") or checks["api_calls"]:
        raise CheckFailed(f"{workload.name}: check failed: {checks}")
    return seconds, checks


async def run_workloads(
    system: str, workloads: Sequence[Workload], n: int, reps: int, rotation: int = 0
) -> Json:
    """Warm up, then time every workload ``reps`` times in rotating order.

    The first workload must be the W0 baseline: overhead = (t(Wx) − t(W0)) / n is computed
    within each repetition of this process.
    """
    warm = min(WARMUP_UPDATES, max(1, n // 5))
    for w in workloads:
        progress(f"{system} warm-up {w.name}")
        await run_once(w, warm)
    seconds: dict[str, list[float]] = {w.name: [] for w in workloads}
    checks: dict[str, list[Json]] = {w.name: [] for w in workloads}
    for rep in range(reps):
        shift = rep + rotation
        order = [workloads[(i + shift) % len(workloads)] for i in range(len(workloads))]
        for w in order:
            progress(f"{system} {w.name} (rep {rep + 1}/{reps})")
            secs, check = await run_once(w, n)
            seconds[w.name].append(secs)
            checks[w.name].append(check)
    base = workloads[0].name
    out: Json = {}
    for w in workloads:
        row: Json = {
            "label": w.label,
            "seconds": seconds[w.name],
            "updates_per_s": [n / s for s in seconds[w.name]],
            "checks": checks[w.name][-1],
            **w.extra,
        }
        if w.name != base:
            row["overhead_us"] = [
                (s - s0) / n * 1e6 for s, s0 in zip(seconds[w.name], seconds[base], strict=True)
            ]
        out[w.name] = row
    return out


def pin_to(cpu: int | None) -> None:
    """Pin this process to one CPU, or unpin it (``None``)."""
    cpus = {cpu} if cpu is not None else set(range(os.cpu_count() or 1))
    os.sched_setaffinity(0, cpus)
