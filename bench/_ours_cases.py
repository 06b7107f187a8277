"""The botsessions session workloads, shared by the bot layer and both integrations.

A case says which storage, whether the handler counts, only reads or ignores the
session, and whether cross-process locking is on. Each framework module turns a case
into a runnable :class:`~bench._common.Workload`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench._common import W3_CHAT, Json, Prepared, Workload
from bench._env import Env
from bench._ours_storage import (
    LOCKABLE,
    STORAGES,
    Store,
    counting,
    make_store,
    maybe_await,
    per_update,
)

# handler kinds: "count" (+1 per update), "read" (reads the counter), "ignore" (never touches it)
HANDLER_NOTES = {
    "count": "counter += 1",
    "read": "handler only reads the session",
    "ignore": "session installed, handler ignores it",
}


@dataclass(frozen=True)
class Case:
    name: str
    storage: str
    handler: str
    locking: bool = True
    lazy: bool = False

    @property
    def label(self) -> str:
        parts = [STORAGES[self.storage][0]]
        if self.storage in LOCKABLE:
            parts.append("cross-process lock on" if self.locking else "locking=False")
        if self.lazy:
            parts.append("lazy_session")
        return f"{', '.join(parts)}: {HANDLER_NOTES[self.handler]}"


INTEGRATION_SQL = ("W2-sqlite", "W2-postgres")


def cases(phase: str, integration: bool = False) -> list[Case]:
    """The session workloads of one phase (W0 is added by the framework module).

    The integrations share the storages with the bot layer, so in the slow SQL phase they
    run only SQLite and PostgreSQL with the lock on.
    """
    if integration and phase == "sql":
        return [c for c in cases(phase) if c.name in INTEGRATION_SQL]
    if phase == "memory":
        return [
            Case("W1", "memory", "count"),
            Case("W1u", "memory", "ignore"),
            Case("W1ro", "memory", "read"),
            Case("W1lazy-u", "memory", "ignore", lazy=True),
        ]
    if phase == "redis":
        return [
            Case("W2-redis", "redis", "count"),
            Case("W2-redis-nolock", "redis", "count", locking=False),
            Case("W2u-redis", "redis", "ignore"),
            Case("W2u-redis-nolock", "redis", "ignore", locking=False),
        ]
    if phase == "sql":
        return [
            Case("W2-sqlite", "sqlite", "count"),
            Case("W2-files", "files", "count"),
            Case("W2-postgres", "postgres", "count"),
            Case("W2-postgres-nolock", "postgres", "count", locking=False),
            Case("W2u-postgres", "postgres", "ignore"),
        ]
    return []


def session_options(case: Case, storage: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"initial": _initial, "storage": storage}
    if case.storage in LOCKABLE and not case.locking:
        options["locking"] = False
    return options


def _initial() -> dict[str, int]:
    return {"count": 0}


# Framework glue: (case, storage, handled counter) -> (feed, close); see ours_bot/ours_*.py.
Glue = Callable[[Case, Any, list[int]], Awaitable[tuple[Callable[[Any], Awaitable[Any]], Any]]]


def session_workload(
    case: Case,
    env: Env,
    updates: list[Any],
    glue: Glue,
    api_calls: Callable[[], int],
) -> Workload:
    """Turn a case into a workload: fresh storage per run, counters checked after it."""

    async def prepare(calls: Counter[str] | None) -> tuple[Prepared, Store]:
        store = await make_store(case.storage, env)
        storage = store.storage if calls is None else counting(store.storage, calls, case.locking)
        handled = [0]
        feed, app_close = await glue(case, storage, handled)

        async def verify(n: int) -> Json:
            if case.handler == "count":
                total = await store.counter_sum()
                return {"sum": total, "ok": total == n}
            return {"handled": handled[0], "ok": handled[0] == n}

        async def close() -> None:
            if app_close is not None:
                await app_close()
            await store.cleanup()

        return Prepared(feed, updates, verify, close), store

    async def build(n: int) -> Prepared:
        prepared, _ = await prepare(None)
        return prepared

    async def count_calls(n: int) -> Json:
        calls: Counter[str] = Counter()
        prepared, _ = await prepare(calls)
        for update in updates[:n]:
            await prepared.feed(update)
        await prepared.verify(n)
        if prepared.close is not None:
            await prepared.close()
        return per_update(calls, n)

    return Workload(
        case.name,
        case.label,
        build,
        api_calls,
        extra={"storage": case.storage, "locking": case.locking, "handler": case.handler},
        counts_redis=case.storage == "redis",
        count_calls=count_calls,
    )


W3_STORAGES = ("memory", "redis", "postgres")

# Framework glue for W3: (storage) -> (feed, close)
W3Glue = Callable[[Any], Awaitable[tuple[Callable[[Any], Awaitable[Any]], Any]]]


async def serial_floor(k: int) -> float:
    """Seconds for ``k`` sequential runs of the W3 handler's own wait (no framework)."""
    import asyncio

    from bench._common import now

    started = now()
    for _ in range(k):
        await asyncio.sleep(0.001)
    return now() - started


async def w3_rows(
    system: str, env: Env, updates: list[Any], glue: W3Glue, *, warmup: Any
) -> list[Json]:
    """W3: ``k`` updates of one chat at once (asyncio.gather), lock on, per storage.

    ``warmup``, an update of another chat, runs first and untimed, so the burst finds the
    storage's connections open, as in a running bot (and as each worker of the
    cross-process burst does)."""
    import asyncio

    from bench._common import now, progress

    rows: list[Json] = []
    for kind in W3_STORAGES:
        progress(f"{system} W3 {kind}")
        store = await make_store(kind, env)
        feed, app_close = await glue(store.storage)
        await feed(warmup)
        floor = await serial_floor(env.k)
        started = now()
        results = await asyncio.gather(*(feed(u) for u in updates), return_exceptions=True)
        seconds = now() - started
        stored = await maybe_await(store.storage.read(str(W3_CHAT)))
        final = int(stored.get("count", 0)) if isinstance(stored, dict) else 0
        if app_close is not None:
            await app_close()
        await store.cleanup()
        errors = [r for r in results if isinstance(r, BaseException)]
        rows.append(
            {
                "system": system,
                "config": f"{kind}, cross-process lock on" if kind in LOCKABLE else kind,
                "storage": kind,
                "final": final,
                "lost": env.k - final,
                "errors": len(errors),
                "first_error": repr(errors[0]) if errors else None,
                "seconds": seconds,
                "serial_floor_s": floor,
                "vs_floor": seconds / floor,
            }
        )
    return rows
