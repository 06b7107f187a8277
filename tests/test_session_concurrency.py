"""No lost updates: updates sharing a key are serialized, others run concurrently."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botsessions import LockError, LockTimeoutError, MemorySessionStorage, lazy_session, session
from botsessions.engine.locks import KeyedLock
from tests.session_support import FakeContext, run


class SlowStorage:
    """An async storage that yields to the event loop inside every call."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def read(self, key: str) -> Any:
        await asyncio.sleep(0)
        return self.data.get(key)

    async def write(self, key: str, value: Any) -> None:
        await asyncio.sleep(0)
        self.data[key] = value

    async def delete(self, key: str) -> None:
        await asyncio.sleep(0)
        self.data.pop(key, None)


async def read_await_write(ctx: FakeContext) -> None:
    count = ctx.session["count"]
    await asyncio.sleep(0)
    ctx.session["count"] = count + 1


@pytest.mark.parametrize("storage_type", [MemorySessionStorage, SlowStorage])
async def test_a_thousand_concurrent_updates_of_one_chat_lose_nothing(storage_type: Any) -> None:
    storage = storage_type()
    mw = session(initial=lambda: {"count": 0}, storage=storage)
    await asyncio.gather(*(run(mw, FakeContext(1), read_await_write) for _ in range(1000)))
    assert await _read(storage, "1") == {"count": 1000}
    assert len(locks_of(mw)) == 0


async def test_a_thousand_concurrent_lazy_updates_of_one_chat_lose_nothing() -> None:
    storage = SlowStorage()

    async def handler(ctx: FakeContext) -> None:
        data = await ctx.session
        count = data["count"]
        await asyncio.sleep(0)
        data["count"] = count + 1

    mw = lazy_session(initial=lambda: {"count": 0}, storage=storage)
    await asyncio.gather(*(run(mw, FakeContext(1), handler) for _ in range(1000)))
    assert storage.data["1"] == {"count": 1000}


async def test_updates_of_different_chats_run_concurrently() -> None:
    inside = 0
    all_inside = asyncio.Event()

    async def handler(ctx: FakeContext) -> None:
        nonlocal inside
        ctx.session["n"] += 1
        inside += 1
        if inside == 100:
            all_inside.set()
        await all_inside.wait()  # only opens once all 100 handlers are in flight at once

    storage = SlowStorage()
    mw = session(initial=lambda: {"n": 0}, storage=storage)
    await asyncio.wait_for(
        asyncio.gather(*(run(mw, FakeContext(chat), handler) for chat in range(100))), 10
    )
    assert all(storage.data[str(chat)] == {"n": 1} for chat in range(100))


async def test_lazy_updates_that_never_touch_the_session_are_not_serialized() -> None:
    entered = 0
    both = asyncio.Event()

    async def handler(ctx: FakeContext) -> None:
        nonlocal entered
        entered += 1
        if entered == 2:
            both.set()
        await both.wait()

    mw = lazy_session(initial=dict)
    await asyncio.wait_for(
        asyncio.gather(run(mw, FakeContext(), handler), run(mw, FakeContext(), handler)), 10
    )


async def test_lock_bookkeeping_is_freed_for_every_chat_seen() -> None:
    storage = MemorySessionStorage[Any]()
    mw = session(initial=lambda: {"count": 0}, storage=storage)

    async def bump(ctx: FakeContext) -> None:
        ctx.session["count"] += 1

    for chat in range(5000):
        await run(mw, FakeContext(chat), bump)
    await asyncio.gather(
        *(run(mw, FakeContext(chat % 10), read_await_write) for chat in range(200))
    )
    locks = locks_of(mw)
    assert len(locks) == 0
    assert locks.queues == {}


async def test_multi_sessions_lock_in_a_fixed_order_and_cannot_deadlock() -> None:
    shared = MemorySessionStorage[Any]()
    mw = session(
        type="multi",
        a={"initial": lambda: {"n": 0}, "storage": shared, "get_session_key": lambda c: c.chat_key},
        b={"initial": lambda: {"n": 0}, "storage": shared, "get_session_key": lambda c: c.user_key},
    )

    async def handler(ctx: FakeContext) -> None:
        ctx.session.a["n"] += 1
        await asyncio.sleep(0)
        ctx.session.b["n"] += 1

    def crossed(first: str, second: str) -> FakeContext:
        ctx = FakeContext()
        ctx.chat_key, ctx.user_key = first, second  # type: ignore[attr-defined]
        return ctx

    updates = [
        run(mw, crossed("x", "y") if i % 2 else crossed("y", "x"), handler) for i in range(200)
    ]
    await asyncio.wait_for(asyncio.gather(*updates), 10)
    assert shared.read("x") == {"n": 200}
    assert shared.read("y") == {"n": 200}


async def test_a_handler_awaiting_an_update_of_its_own_chat_fails_fast() -> None:
    mw = session(initial=dict)

    async def inner(ctx: FakeContext) -> None:
        ctx.session["inner"] = True

    async def outer(ctx: FakeContext) -> None:
        ctx.session["outer"] = True
        await run(mw, FakeContext(), inner)

    with pytest.raises(LockError, match="already held by this task"):
        await asyncio.wait_for(run(mw, FakeContext(), outer), 10)


async def test_lock_timeout_bounds_the_wait_for_a_busy_key() -> None:
    release = asyncio.Event()
    holding = asyncio.Event()
    mw = session(initial=dict, lock_timeout=0.01)

    async def hold(ctx: FakeContext) -> None:
        holding.set()
        await release.wait()

    first = asyncio.create_task(run(mw, FakeContext(), hold))
    await holding.wait()
    with pytest.raises(LockTimeoutError):
        await run(mw, FakeContext(), hold)
    release.set()
    await first


async def test_a_cancelled_waiting_update_leaks_nothing_and_blocks_no_one() -> None:
    storage = MemorySessionStorage[Any]()
    mw = session(initial=lambda: {"n": 0}, storage=storage)
    release, holding = asyncio.Event(), asyncio.Event()

    async def hold(ctx: FakeContext) -> None:
        holding.set()
        await release.wait()
        ctx.session["n"] += 1

    async def bump(ctx: FakeContext) -> None:
        ctx.session["n"] += 1

    first = asyncio.create_task(run(mw, FakeContext(), hold))
    await holding.wait()
    waiter = asyncio.create_task(run(mw, FakeContext(), bump))
    later = asyncio.create_task(run(mw, FakeContext(), bump))
    await asyncio.sleep(0)
    assert locks_of(mw).waiting("42") == 2
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert locks_of(mw).waiting("42") == 1
    release.set()
    await asyncio.wait_for(asyncio.gather(first, later), 10)
    assert storage.read("42") == {"n": 2}
    assert len(locks_of(mw)) == 0


async def test_locking_false_gives_grammys_lost_updates() -> None:
    storage = SlowStorage()
    mw = session(initial=lambda: {"count": 0}, storage=storage, locking=False)
    await asyncio.gather(*(run(mw, FakeContext(1), read_await_write) for _ in range(50)))
    assert storage.data["1"]["count"] < 50


def locks_of(mw: Any) -> KeyedLock:
    """The in-process lock family a session middleware uses."""
    locks: KeyedLock = mw.manager.plans[0].locks
    return locks


async def _read(storage: Any, key: str) -> Any:
    result = storage.read(key)
    return await result if asyncio.iscoroutine(result) else result
