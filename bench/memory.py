"""W4: one million in-memory sessions with a TTL: bytes per session, and reclaim.

No bot and no dispatch: each storage is called directly with ``{"count": i, "name":
"user<i>"}`` under distinct keys, the key and value built inside the timed loop.

* botsessions: ``MemorySessionStorage(ttl=1).write(str(i), value)``. After the writes the
  run waits past the TTL and then keeps 1,000 live chats writing; it reports how many of
  those writes it took until the expired sessions' memory was given back (nothing reads
  the expired keys).
* grammY: ``MemorySessionStorage(1000)`` (TTL 1 s); after the TTL, 1,000 more writes.
* aiogram: ``MemoryStorage.set_data(StorageKey(...), value)`` (no TTL exists).
* python-telegram-bot: ``app.chat_data[i]`` filled in place (no TTL exists).

Each measurement runs in a fresh process: a "timed" one (µs per write, RSS growth) and,
for Python, a "traced" one (tracemalloc growth after ``gc.collect()``; its loop is slower,
so its time is not reported), which also gives the bytes per session still held at the
end (with a TTL, many have expired by then). Run alone:
``python -m bench.memory [--n 1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench._common import Json, emit, now, progress, summary

SYSTEMS = ("botsessions", "aiogram", "python-telegram-bot")
TTL_S = 1.0
LIVE_CHATS = 1000
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _filler(system: str, n: int) -> tuple[Callable[[int, int], None], Callable[[], int]]:
    """(write keys [a, b), count of live entries) for one system."""
    if system == "botsessions":
        from botsessions import MemorySessionStorage

        store: Any = MemorySessionStorage(ttl=TTL_S)

        def fill(a: int, b: int) -> None:
            write = store.write
            for i in range(a, b):
                write(str(i), {"count": i, "name": f"user{i}"})

        return fill, lambda: len(store.read_all_keys())
    if system == "aiogram":
        from aiogram.fsm.storage.base import StorageKey
        from aiogram.fsm.storage.memory import MemoryStorage

        memory = MemoryStorage()

        async def afill(a: int, b: int) -> None:
            for i in range(a, b):
                key = StorageKey(bot_id=1, chat_id=i, user_id=i)
                await memory.set_data(key, {"count": i, "name": f"user{i}"})

        def fill_aiogram(a: int, b: int) -> None:
            asyncio.run(afill(a, b))

        return fill_aiogram, lambda: len(memory.storage)
    from bench.peer_ptb import build_app, make_bot

    bot, _ = make_bot()
    app = build_app(bot)
    chat_data = app.chat_data

    def fill_ptb(a: int, b: int) -> None:
        for i in range(a, b):
            d = chat_data[i]
            d["count"] = i
            d["name"] = f"user{i}"

    return fill_ptb, lambda: len(chat_data)


def child(system: str, mode: str, n: int) -> Json:
    fill, live = _filler(system, n)
    if mode == "traced":
        tracemalloc.start()
    gc.collect()
    rss0 = _rss()
    base = tracemalloc.get_traced_memory()[0] if mode == "traced" else 0
    started = now()
    fill(1, n + 1)
    seconds = now() - started
    gc.collect()
    out: Json = {"system": system, "mode": mode, "n": n, "us_per_write": seconds / n * 1e6}
    out["rss_bytes_per_session"] = (_rss() - rss0) / n
    if mode == "traced":
        grown = tracemalloc.get_traced_memory()[0] - base
        out["bytes_per_session"] = grown / n
        # With a TTL, sessions written early expire (and are reclaimed) while the loop still
        # runs, the more so the slower it runs: this is the cost of one that is kept.
        out["bytes_per_live_session"] = grown / max(1, live())
        if system == "botsessions":
            out.update(_reclaim(fill, live, base, grown / n, n))
        tracemalloc.stop()
    else:
        out["entries"] = live()
    return out


def _reclaim(
    fill: Callable[[int, int], None], live: Callable[[], int], base: int, per: float, n: int
) -> Json:
    """Wait past the TTL, then let 1,000 chats keep writing until the memory stops falling.

    Nothing reads the expired keys. A dict never shrinks its table on deletes, so "all
    reclaimed" means: the traced memory fell back to the table plus the live sessions.
    """
    time.sleep(TTL_S + 0.5)
    peak = tracemalloc.get_traced_memory()[0]
    writes = 0
    traced = peak
    started = now()
    while writes < 2 * n:
        for _ in range(20):
            fill(n + 1, n + 1 + LIVE_CHATS)
            writes += LIVE_CHATS
        gc.collect()
        previous, traced = traced, tracemalloc.get_traced_memory()[0]
        if previous - traced < 0.002 * (peak - base):
            break
    seconds = now() - started
    return {
        "reclaim_writes": writes,
        "reclaim_seconds_traced": seconds,
        "reclaimed_fraction": (peak - traced) / max(1, peak - base),
        "retained_bytes_per_expired_session": max(0.0, traced - base - per * LIVE_CHATS) / n,
        "live_after": live(),
    }


def _run_child(system: str, mode: str, n: int) -> Json:
    import subprocess

    argv = [sys.executable, "-m", "bench.memory", "--child", system, "--mode", mode, "--n", str(n)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"W4 child {system}/{mode} failed:\n{done.stderr[-2000:]}")
    result: Json = json.loads(done.stdout)
    return result


def run(n: int = 1_000_000, reps: int = 1, grammy: Callable[[int], Json] | None = None) -> Json:
    """W4 for botsessions and the peers; ``grammy(n)`` runs the Node side when given."""
    rows: dict[str, Json] = {}
    for system in SYSTEMS:
        timed: list[Json] = []
        traced: list[Json] = []
        for rep in range(reps):
            progress(f"W4 {system} timed ({rep + 1}/{reps})")
            timed.append(_run_child(system, "timed", n))
            progress(f"W4 {system} tracemalloc ({rep + 1}/{reps})")
            traced.append(_run_child(system, "traced", n))
        row: Json = {
            "us_per_write": summary([r["us_per_write"] for r in timed]),
            "bytes_per_session": summary([r["bytes_per_session"] for r in traced]),
            "bytes_per_live_session": summary([r["bytes_per_live_session"] for r in traced]),
            "rss_bytes_per_session": summary([r["rss_bytes_per_session"] for r in timed]),
            "ttl": system == "botsessions",
        }
        if system == "botsessions":
            last = traced[-1]
            for key in (
                "reclaim_writes",
                "reclaimed_fraction",
                "retained_bytes_per_expired_session",
            ):
                row[key] = last[key]
        rows[system] = row
    if grammy is not None:
        rows["grammY"] = grammy(n)
    return {"n": n, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--child", choices=SYSTEMS)
    parser.add_argument("--mode", choices=("timed", "traced"), default="timed")
    args = parser.parse_args()
    if args.child:
        emit(child(args.child, args.mode, args.n))
        return
    result = run(args.n, args.reps)
    for system, row in result["rows"].items():
        print(
            f"{system:22} {row['us_per_write']['median']:6.2f} µs/write  "
            f"{row['bytes_per_session']['median']:7.1f} B/session  "
            f"{row['bytes_per_live_session']['median']:7.1f} B/live session"
        )


if __name__ == "__main__":
    main()
