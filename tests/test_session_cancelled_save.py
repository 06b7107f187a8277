"""An update cancelled while its save runs keeps the key locked until the write is over.

A write may go on in a worker thread after its update was cancelled (an
``asyncio.timeout()`` around handlers, a framework shutdown). If the key's lock were
released at the cancellation, a later update of the same chat could write first and then
be overwritten by the cancelled one. Both storages here write in a worker thread that
blocks until the test lets it go, so the race is forced, not hoped for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from botsessions import session
from botsessions.engine.locks import KeyedLock
from botsessions.storage import FileStorage
from tests.session_support import FakeContext, run

GATED = {"by": "first"}  # the value whose write blocks in its worker thread


class Gate:
    """Holds the worker thread of the first update's write until ``open()``."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.landed = threading.Event()  # that write has finished
        self.in_flight = asyncio.Event()  # that write has started (set in the loop)

    def started(self) -> None:
        self.in_flight.set()

    def hold(self) -> None:
        """In the worker thread: wait to be let go (bounded, so no test can hang)."""
        assert self._open.wait(10), "the gate was never opened"

    def open(self) -> None:
        self._open.set()


class ThreadedStorage:
    """A user's storage whose writes run in a worker thread (``asyncio.to_thread``)."""

    def __init__(self, gate: Gate) -> None:
        self.data: dict[str, Any] = {}
        self.gate = gate

    async def read(self, key: str) -> Any:
        return self.data.get(key)

    async def write(self, key: str, value: Any) -> None:
        if value == GATED:
            self.gate.started()
        await asyncio.to_thread(self._write, key, value)

    def _write(self, key: str, value: Any) -> None:
        if value == GATED:
            self.gate.hold()
        self.data[key] = value
        if value == GATED:
            self.gate.landed.set()

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


class GatedFileStorage(FileStorage):
    """A real ``FileStorage``; only its worker thread waits at the gate before writing."""

    __slots__ = ("gate",)

    def __init__(self, directory: Path, gate: Gate) -> None:
        super().__init__(directory, fsync=False)
        self.gate = gate

    async def write(self, key: str, value: Any) -> None:
        if value == GATED:
            self.gate.started()
        await super().write(key, value)

    def _write_file(self, name: str, data: bytes) -> None:
        gated = b'"first"' in data
        if gated:
            self.gate.hold()
        super()._write_file(name, data)
        if gated:
            self.gate.landed.set()


async def by_first(ctx: FakeContext) -> None:
    ctx.session["by"] = "first"


async def by_second(ctx: FakeContext) -> None:
    ctx.session["by"] = "second"


def locks_of(mw: Any) -> KeyedLock:
    locks: KeyedLock = mw.manager.plans[0].locks
    return locks


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition()`` holds (in loop turns, not time)."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never became true")


async def race(storage: Any, gate: Gate, *, cancel_by_timeout: bool) -> list[Any]:
    """The first update is cancelled while its write is held; a second update of the same
    chat then runs; the held write is let go. Returns both updates' outcomes."""
    mw = session(initial=dict, storage=storage)
    deadline: list[asyncio.Timeout] = []

    async def first_update() -> None:
        if not cancel_by_timeout:
            await run(mw, FakeContext(), by_first)
            return
        async with asyncio.timeout(None) as timeout:  # a handler timeout, as bots use
            deadline.append(timeout)
            await run(mw, FakeContext(), by_first)

    first = asyncio.create_task(first_update())
    await gate.in_flight.wait()
    if cancel_by_timeout:
        deadline[0].reschedule(asyncio.get_running_loop().time())  # expires now
    else:
        first.cancel()
    await until(lambda: first.cancelling() == 1)  # the timeout has expired: cancelling
    second = asyncio.create_task(run(mw, FakeContext(), by_second))
    # The second update waits for the key (or, were the key let go, is done already).
    await until(lambda: second.done() or locks_of(mw).waiting("42") == 1)
    gate.open()
    outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)
    await asyncio.to_thread(gate.landed.wait, 10)
    assert len(locks_of(mw)) == 0
    return list(outcomes)


async def test_a_threaded_storage_keeps_the_later_write_after_a_cancelled_save() -> None:
    gate = Gate()
    storage = ThreadedStorage(gate)
    first, second = await race(storage, gate, cancel_by_timeout=False)
    assert isinstance(first, asyncio.CancelledError)
    assert second is None
    assert storage.data["42"] == {"by": "second"}


@pytest.mark.parametrize("cancel_by_timeout", [True, False], ids=["timeout", "cancel"])
async def test_file_storage_keeps_the_later_write_after_a_cancelled_save(
    tmp_path: Path, cancel_by_timeout: bool
) -> None:
    gate = Gate()
    storage = GatedFileStorage(tmp_path, gate)
    try:
        first, second = await race(storage, gate, cancel_by_timeout=cancel_by_timeout)
        expected = TimeoutError if cancel_by_timeout else asyncio.CancelledError
        assert isinstance(first, expected)
        assert second is None
        assert await storage.read("42") == {"by": "second"}
    finally:
        await storage.close()


async def cancelled_in_flight(storage: ThreadedStorage) -> tuple[Any, asyncio.Task[None]]:
    """A middleware over ``storage`` and its first update, cancelled once its write is
    held in the worker thread."""
    mw = session(initial=dict, storage=storage)
    first = asyncio.create_task(run(mw, FakeContext(), by_first))
    await storage.gate.in_flight.wait()
    first.cancel()
    return mw, first


async def test_a_save_cancelled_twice_still_waits_for_its_write() -> None:
    storage = ThreadedStorage(Gate())
    mw, first = await cancelled_in_flight(storage)
    await asyncio.sleep(0)  # one turn: the first cancellation has reached the save
    first.cancel()
    await asyncio.sleep(0)
    assert not first.done()
    assert locks_of(mw).locked("42")  # still held: the write has not finished
    storage.gate.open()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(first, 10)
    assert storage.data["42"] == GATED  # it landed, and only then was the key let go
    assert len(locks_of(mw)) == 0


async def test_a_cancelled_save_whose_write_fails_reports_the_cancellation() -> None:
    class Failing(ThreadedStorage):
        def _write(self, key: str, value: Any) -> None:
            self.gate.hold()
            raise OSError("disk full")

    storage = Failing(Gate())
    mw, first = await cancelled_in_flight(storage)
    await asyncio.sleep(0)  # one turn: the cancellation has reached the save
    assert not first.done()
    storage.gate.open()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(first, 10)
    assert "42" not in storage.data
    assert len(locks_of(mw)) == 0
