"""A handler that waits for another update of its own session fails fast, and only then.

Updates record no task when they lock a key; a task asking for a held key asks the
holder whether it runs in that task (``engine.locks``: owners). These tests cover each
way an update can hold a key (strict and lazy, synchronous and async storage, multi) and
the cases that must wait instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from botsessions import LockError, MemorySessionStorage, lazy_session, session
from botsessions.engine.locks import KeyedLock, runs_here
from botsessions.engine.manager import run_update
from tests.session_support import FakeContext, run
from tests.test_session_concurrency import SlowStorage


def nested(inner: Any) -> Callable[[FakeContext], Awaitable[None]]:
    """A handler that runs another update of the same chat and awaits it."""

    async def outer(ctx: FakeContext) -> None:
        ctx.session["outer"] = True
        await asyncio.sleep(0)  # the outer update's task is suspended and resumed first

        async def touch(inner_ctx: FakeContext) -> None:
            value = inner_ctx.session
            if asyncio.isfuture(value):
                value = await value
            value["inner"] = True

        await run(inner, FakeContext(), touch)

    return outer


@pytest.mark.parametrize("storage_kind", ["memory", "async"])
@pytest.mark.parametrize("inner_kind", ["strict", "lazy"])
async def test_an_update_awaiting_one_of_its_own_key_raises_lock_error(
    storage_kind: str, inner_kind: str
) -> None:
    storage = SlowStorage() if storage_kind == "async" else MemorySessionStorage[Any]()
    mw = session(initial=dict, storage=storage)
    inner = (session if inner_kind == "strict" else lazy_session)(initial=dict, storage=storage)
    with pytest.raises(LockError, match="already held by this task"):
        await asyncio.wait_for(run(mw, FakeContext(), nested(inner)), 10)


async def test_a_lazy_update_holding_its_key_fails_a_nested_update_fast() -> None:
    mw = lazy_session(initial=dict)

    async def outer(ctx: FakeContext) -> None:
        (await ctx.session)["outer"] = True  # locks the key from the handler
        await run(mw, FakeContext(), nested_touch)

    async def nested_touch(ctx: FakeContext) -> None:
        (await ctx.session)["inner"] = True

    with pytest.raises(LockError, match="already held by this task"):
        await asyncio.wait_for(run(mw, FakeContext(), outer), 10)


async def test_a_multi_update_awaiting_one_of_its_own_keys_raises_lock_error() -> None:
    storage = SlowStorage()
    mw = session(type="multi", chat={"initial": dict, "storage": storage})
    single = session(initial=dict, storage=storage)

    async def outer(ctx: FakeContext) -> None:
        ctx.session.chat["outer"] = True
        await run(single, FakeContext(), nested_touch)

    async def nested_touch(ctx: FakeContext) -> None:
        ctx.session["inner"] = True

    with pytest.raises(LockError, match="already held by this task"):
        await asyncio.wait_for(run(mw, FakeContext(), outer), 10)


async def test_an_update_started_in_its_own_task_waits_instead() -> None:
    storage = SlowStorage()
    mw = session(initial=lambda: {"n": 0}, storage=storage)

    async def bump(ctx: FakeContext) -> None:
        ctx.session["n"] += 1

    async def outer(ctx: FakeContext) -> None:
        ctx.session["n"] += 1
        later.append(asyncio.create_task(run(mw, FakeContext(), bump)))
        await asyncio.sleep(0)  # the other task now waits for this update's key

    later: list[asyncio.Task[None]] = []
    await run(mw, FakeContext(), outer)
    await asyncio.wait_for(later[0], 10)
    assert storage.data["42"] == {"n": 2}


async def test_a_host_call_that_gives_a_future_is_detected_too() -> None:
    mw = session(initial=dict)
    errors: list[BaseException] = []

    async def inner() -> None:
        ctx = FakeContext()
        try:
            await run(mw, ctx, None)
        except LockError as exc:
            errors.append(exc)

    def call() -> Awaitable[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return _chained(future)

    class _chained:
        """An awaitable that is no coroutine: it runs ``inner`` while awaited."""

        def __init__(self, future: asyncio.Future[None]) -> None:
            self.future = future

        def __await__(self) -> Any:
            yield from inner().__await__()
            return (yield from self.future.__await__())

    await run_update(mw, FakeContext(), call)
    assert len(errors) == 1


async def test_a_task_owner_is_the_running_task_only() -> None:
    locks = KeyedLock()
    me = asyncio.current_task()
    assert locks.try_acquire("k", me)
    assert runs_here(me)
    with pytest.raises(LockError):
        await locks.acquire("k", me)

    async def other() -> bool:
        return runs_here(me)

    assert not await asyncio.create_task(other())
    locks.release("k")
    assert len(locks) == 0


async def test_a_driver_without_a_handler_coroutine_names_its_task_as_owner() -> None:
    mw = session(initial=dict, lock_timeout=10)  # undetected, it would time out instead
    update = mw.manager.update()
    update.owner = asyncio.current_task()
    assert update.enter_now(FakeContext())
    try:
        with pytest.raises(LockError, match="already held by this task"):
            await run(mw, FakeContext(), None)
    finally:
        await update.fail()
    assert len(mw.manager.plans[0].locks) == 0  # type: ignore[arg-type]
