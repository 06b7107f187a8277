"""KeyedLock: FIFO ownership per key, payloads handed along, nothing leaked on cancellation."""

from __future__ import annotations

import asyncio

import pytest

from botsessions._errors import LockTimeoutError
from botsessions.engine.locks import KeyedLock, acquire_all, lock_order


class Token:
    """A payload that records whether it was dropped."""

    def __init__(self) -> None:
        self.dropped = 0

    async def drop(self) -> None:
        self.dropped += 1


async def _queued(locks: KeyedLock, key: str, count: int) -> None:
    """Let the other tasks run until ``count`` of them wait for ``key``."""
    for _ in range(100):
        if locks.waiting(key) >= count:
            return
        await asyncio.sleep(0)  # one turn of the event loop, not a timed wait
    raise AssertionError(f"{count} waiters never queued for {key!r}")


class TestKeyedLock:
    async def test_a_free_key_is_taken_without_a_payload(self) -> None:
        locks = KeyedLock()
        assert await locks.acquire("k", None) is None
        assert locks.locked("k")
        locks.release("k")
        assert len(locks) == 0

    async def test_waiters_are_served_in_arrival_order(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        order: list[int] = []

        async def take(n: int) -> None:
            await locks.acquire("k", None)
            order.append(n)
            locks.release("k")

        tasks = [asyncio.create_task(take(n)) for n in range(5)]
        await _queued(locks, "k", 5)
        locks.release("k")
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
        assert len(locks) == 0

    async def test_hand_over_gives_the_payload_to_the_oldest_waiter(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        first = asyncio.create_task(locks.acquire("k", None))
        second = asyncio.create_task(locks.acquire("k", None))
        await _queued(locks, "k", 2)
        token = Token()
        assert locks.hand_over("k", token)
        assert await first is token
        assert not second.done()
        locks.release("k")
        assert await second is None
        locks.release("k")
        assert len(locks) == 0

    async def test_hand_over_without_waiters_keeps_the_key_held(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        assert not locks.hand_over("k", Token())
        assert locks.locked("k")
        locks.release("k")
        assert len(locks) == 0

    async def test_a_waiter_cancelled_as_a_payload_reaches_it_passes_it_on(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        doomed = asyncio.create_task(locks.acquire("k", None))
        heir = asyncio.create_task(locks.acquire("k", None))
        await _queued(locks, "k", 2)
        token = Token()
        assert locks.hand_over("k", token)
        doomed.cancel()  # before it ran: the payload is already its own
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert await heir is token
        assert token.dropped == 0
        locks.release("k")
        assert len(locks) == 0

    async def test_a_cancelled_last_waiter_releases_the_key_and_drops_the_payload(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        doomed = asyncio.create_task(locks.acquire("k", None))
        await _queued(locks, "k", 1)
        token = Token()
        assert locks.hand_over("k", token)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert token.dropped == 1
        assert len(locks) == 0
        assert locks.queues == {}

    async def test_a_cancelled_waiter_leaves_the_line(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        doomed = asyncio.create_task(locks.acquire("k", None))
        await _queued(locks, "k", 1)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert locks.waiting("k") == 0
        assert not locks.hand_over("k", Token())
        locks.release("k")
        assert len(locks) == 0

    async def test_a_timed_out_waiter_holds_nothing(self) -> None:
        locks = KeyedLock()
        await locks.acquire("k", None)
        with pytest.raises(LockTimeoutError):
            await locks.acquire("k", None, 0.001)
        assert locks.waiting("k") == 0
        locks.release("k")
        assert len(locks) == 0


class TestAcquireAll:
    async def test_payloads_come_back_aligned_with_the_pairs(self) -> None:
        locks = KeyedLock()
        pairs = sorted([(locks, "a"), (locks, "b")], key=lock_order)
        await locks.acquire("b", None)
        taking = asyncio.create_task(acquire_all(pairs, None, None))
        await _queued(locks, "b", 1)
        token = Token()
        assert locks.hand_over("b", token)
        assert await taking == [None, token]

    async def test_no_payload_gives_none(self) -> None:
        locks = KeyedLock()
        pairs = sorted([(locks, "a"), (locks, "b")], key=lock_order)
        assert await acquire_all(pairs, None, None) is None
        assert len(locks) == 2

    async def test_a_failure_gives_back_every_pair_with_its_payload(self) -> None:
        locks = KeyedLock()
        pairs = sorted([(locks, "a"), (locks, "b"), (locks, "c")], key=lock_order)
        await locks.acquire("b", None)
        await locks.acquire("c", None)
        taking = asyncio.create_task(acquire_all(pairs, None, None))
        await _queued(locks, "b", 1)
        token = Token()
        heir = asyncio.create_task(locks.acquire("b", None))
        await _queued(locks, "b", 2)
        assert locks.hand_over("b", token)  # to acquire_all, which then waits for "c"
        await _queued(locks, "c", 1)
        taking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await taking
        assert await heir is token  # "b" went on, with its payload
        assert not locks.locked("a")
        locks.release("b")
        locks.release("c")
        assert len(locks) == 0
        assert token.dropped == 0
