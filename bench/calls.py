"""Python calls per update of the bot layer's memory workloads (W0, W1u, W1).

A count, not a time: cProfile's ``total_calls`` over ``--n`` updates fed to
``Bot.handle_update`` (1,000 chats, after a warm-up of one update per chat), divided by
``--n``. It does not move with the load of the machine, so it shows what a change to the
per-update path did where timings are too noisy to tell; ``W1 − W0`` is the session's share.

Run: ``python -m bench.calls [--n 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats

from bench._common import make_updates
from bench._ours_cases import _initial
from bench.ours_bot import _handler, make_bot

CHATS = 1000


async def calls_per_update(workload: str, n: int) -> float:
    """``total_calls / n`` of one workload: ``"W0"`` (no session), ``"W1u"`` (a session
    the handler ignores) or ``"W1"`` (the counter), built as ``bench.ours_bot`` builds them."""
    from botsessions import MemorySessionStorage, session

    bot = make_bot()
    if workload != "W0":
        bot.use(session(initial=_initial, storage=MemorySessionStorage()))
    bot.on("message", _handler("count" if workload == "W1" else "ignore", [0]))
    updates = make_updates(CHATS + n, CHATS)
    for update in updates[:CHATS]:  # every chat's first visit, which also writes
        await bot.handle_update(update)
    profile = cProfile.Profile()
    profile.enable()
    for update in updates[CHATS:]:
        await bot.handle_update(update)
    profile.disable()
    return float(pstats.Stats(profile).total_calls) / n  # type: ignore[attr-defined]


async def _main(n: int) -> None:
    counts = {workload: await calls_per_update(workload, n) for workload in ("W0", "W1u", "W1")}
    for workload, count in counts.items():
        print(f"{workload:4} {count:5.1f} Python calls per update")
    print(f"W1 − W0: {counts['W1'] - counts['W0']:.1f} (the session's share)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.calls", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="updates counted per workload")
    asyncio.run(_main(parser.parse_args(argv).n))


if __name__ == "__main__":
    main()
