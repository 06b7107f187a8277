"""RedisStorage's session lock: no lost updates across processes, timeouts, lost leases."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from botsessions._errors import LeaseLostError, LockTimeoutError
from botsessions.storage import RedisStorage
from tests.services import RedisServer
from tests.storage._locking_cases import SharedLockingCases
from tests.storage._redis_util import lock_key, queue_key, untyped
from tests.storage._workers import start_holder


@pytest.fixture
async def storage(
    redis_url: str, unique_name: str, redis_client: aioredis.Redis
) -> AsyncIterator[RedisStorage]:
    async with RedisStorage(redis_url, prefix=unique_name) as storage:
        yield storage


async def _queued(redis_client: aioredis.Redis, prefix: str, waiters: int) -> None:
    """Return once ``waiters`` updates wait in line for the lock of "chat"."""
    queue = queue_key(prefix, "chat")
    for _ in range(1000):
        if await untyped(redis_client).llen(queue) >= waiters:
            return
        await asyncio.sleep(0.002)
    raise AssertionError(f"{waiters} waiters never queued")


class TestRedisLocking(SharedLockingCases):
    backend = "redis"

    @pytest.fixture
    def target(self, redis_url: str) -> str:
        return redis_url

    async def test_lease_reads_the_value_and_write_releases(self, storage: RedisStorage) -> None:
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        assert lease.value == {"count": 1}
        await lease.write({"count": 2})
        await lease.release()  # already ended: no effect
        again = await storage.acquire("chat", read=False)
        assert again.value is None
        await again.delete()
        assert await storage.read("chat") is None

    async def test_lock_and_read_is_one_round_trip_and_so_is_write_and_unlock(
        self, private_redis: RedisServer
    ) -> None:
        admin = aioredis.Redis.from_url(private_redis.url)
        async with RedisStorage(private_redis.url) as storage:
            warm = await storage.acquire("chat", read=True)  # loads the scripts
            await warm.write({"count": 1})
            await admin.config_resetstat()
            lease = await storage.acquire("chat", read=True)
            await lease.write({"count": 2})
            stats = await admin.info("commandstats")
            # Commands run inside the scripts are counted too (get, set, del, ...): what
            # matters is that the client sent two requests and nothing else.
            sent = {k for k in stats if k.startswith("cmdstat_") and "config" not in k}
            assert stats["cmdstat_evalsha"]["calls"] == 2
            inside = ("evalsha", "get", "set", "del", "lindex", "lpop")
            assert sent <= {f"cmdstat_{c}" for c in inside}
        await admin.aclose()

    async def test_lock_wait_timeout_raises_and_writes_nothing(
        self, redis_url: str, unique_name: str, storage: RedisStorage
    ) -> None:
        await storage.write("chat", {"count": 1})
        holder = await storage.acquire("chat", read=True)
        async with RedisStorage(redis_url, prefix=unique_name, lock_wait=0.2) as impatient:
            with pytest.raises(LockTimeoutError, match="'chat'") as caught:
                await impatient.acquire("chat", read=True)
        assert caught.value.key == "chat"
        await holder.release()
        assert await storage.read("chat") == {"count": 1}

    async def test_a_lease_taken_over_refuses_the_write(
        self, storage: RedisStorage, redis_client: aioredis.Redis, unique_name: str
    ) -> None:
        await storage.write("chat", {"count": 1})
        stale = await storage.acquire("chat", read=True)
        await redis_client.delete(lock_key(unique_name, "chat"))  # as if the lease expired
        current = await storage.acquire("chat", read=True)
        with pytest.raises(LeaseLostError, match="'chat'"):
            await stale.write({"count": 100})
        assert await storage.read("chat") == {"count": 1}
        await current.write({"count": 2})
        await stale.release()  # silent once lost
        assert await storage.read("chat") == {"count": 2}

    async def test_an_expired_lease_refuses_delete_too(
        self, storage: RedisStorage, redis_client: aioredis.Redis, unique_name: str
    ) -> None:
        await storage.write("chat", {"count": 1})
        lease = await storage.acquire("chat", read=True)
        await redis_client.delete(lock_key(unique_name, "chat"))
        with pytest.raises(LeaseLostError):
            await lease.delete()
        assert await storage.read("chat") == {"count": 1}

    async def test_write_with_keep_commits_renews_and_keeps_the_lock(
        self,
        redis_url: str,
        unique_name: str,
        storage: RedisStorage,
        redis_client: aioredis.Redis,
    ) -> None:
        lock = lock_key(unique_name, "chat")
        lease = await storage.acquire("chat", read=True)
        await redis_client.pexpire(lock, 500)
        await lease.write({"count": 1}, keep=True)
        assert lease.value == {"count": 1}
        assert await redis_client.pttl(lock) > 500  # renewed to a full lease
        async with RedisStorage(redis_url, prefix=unique_name) as other:
            assert await other.read("chat") == {"count": 1}  # committed and visible
            waiter = asyncio.create_task(other.acquire("chat", read=True))
            await _queued(redis_client, unique_name, 1)
            await lease.delete(keep=True)
            assert lease.value is None
            assert await other.read("chat") is None
            assert not waiter.done()
            await lease.write({"count": 2})
            second = await waiter
            assert second.value == {"count": 2}
            await second.release()

    async def test_a_kept_lease_that_was_taken_over_refuses_and_ends(
        self, storage: RedisStorage, redis_client: aioredis.Redis, unique_name: str
    ) -> None:
        lease = await storage.acquire("chat", read=True)
        await redis_client.delete(lock_key(unique_name, "chat"))
        with pytest.raises(LeaseLostError):
            await lease.write({"count": 1}, keep=True)
        await lease.release()  # silent: the lease ended with the refusal
        with pytest.raises(RuntimeError, match="already ended"):
            await lease.write({"count": 1})
        assert await storage.read("chat") is None

    async def test_a_released_lock_goes_to_the_oldest_waiter_not_back_to_the_releaser(
        self,
        redis_url: str,
        unique_name: str,
        storage: RedisStorage,
        redis_client: aioredis.Redis,
    ) -> None:
        order: list[str] = []

        async def update(source: RedisStorage, name: str) -> None:
            lease = await source.acquire("chat", read=True)
            order.append(name)
            await lease.write({"last": name})

        others = [RedisStorage(redis_url, prefix=unique_name) for _ in range(3)]
        holder = await storage.acquire("chat", read=True)
        tasks = []
        for number, other in enumerate(others, 1):
            tasks.append(asyncio.create_task(update(other, f"waiter {number}")))
            await _queued(redis_client, unique_name, number)
        await holder.write({"last": "holder"})
        await update(storage, "holder again")  # queues behind the three waiters
        await asyncio.gather(*tasks)
        assert order == ["waiter 1", "waiter 2", "waiter 3", "holder again"]
        assert await storage.read("chat") == {"last": "holder again"}
        for other in others:
            await other.close()

    async def test_a_waiter_that_times_out_leaves_the_line(
        self,
        redis_url: str,
        unique_name: str,
        storage: RedisStorage,
        redis_client: aioredis.Redis,
    ) -> None:
        holder = await storage.acquire("chat", read=True)
        async with RedisStorage(redis_url, prefix=unique_name, lock_wait=0.1) as impatient:
            with pytest.raises(LockTimeoutError):
                await impatient.acquire("chat", read=True)
        assert await untyped(redis_client).llen(queue_key(unique_name, "chat")) == 0
        await holder.release()
        lease = await storage.acquire("chat", read=False)  # free at once: nobody in line
        await lease.release()

    async def test_a_cancelled_waiter_leaves_the_line(
        self, redis_url: str, unique_name: str, storage: RedisStorage, redis_client: aioredis.Redis
    ) -> None:
        holder = await storage.acquire("chat", read=True)
        async with RedisStorage(redis_url, prefix=unique_name) as other:
            waiter = asyncio.create_task(other.acquire("chat", read=True))
            await _queued(redis_client, unique_name, 1)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert await untyped(redis_client).llen(queue_key(unique_name, "chat")) == 0
        await holder.write({"count": 1})
        lease = await storage.acquire("chat", read=True)  # not handed to the cancelled waiter
        assert lease.value == {"count": 1}
        await lease.release()

    async def test_a_lock_handed_to_a_crashed_waiter_frees_within_the_lease(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name, lock_lease=0.3) as storage:
            holder = await storage.acquire("chat", read=True)
            # A waiter of a process that died while queued: nobody will ever take its wake-up.
            await untyped(redis_client).rpush(queue_key(unique_name, "chat"), "dead")
            await holder.write({"count": 1})
            assert await redis_client.get(lock_key(unique_name, "chat")) == b"dead"
            lease = await storage.acquire("chat", read=True)  # waits out the 0.3 s lease
            assert lease.value == {"count": 1}
            await lease.write({"count": 2})
        assert await redis_client.get(f"{unique_name}chat") == b'{"count":2}'

    @pytest.mark.slow
    async def test_the_lease_is_renewed_while_the_holder_runs(
        self, redis_url: str, unique_name: str, storage: RedisStorage
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name, lock_lease=0.3) as short:
            lease = await short.acquire("chat", read=True)
            await asyncio.sleep(1.0)  # the condition under test: three leases long
            await lease.write({"count": 1})
        assert await storage.read("chat") == {"count": 1}

    @pytest.mark.slow
    async def test_a_killed_holder_frees_the_session_within_the_lease(
        self, redis_url: str, unique_name: str, storage: RedisStorage
    ) -> None:
        await storage.write("chat", {"count": 5})
        holder = await start_holder("redis", redis_url, unique_name, "chat", "1.0")
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        lease = await storage.acquire("chat", read=True)  # lock_wait 10 s > lease 1 s
        assert lease.value == {"count": 5}
        await lease.write({"count": 6})
        assert await storage.read("chat") == {"count": 6}


async def _yields(count: int) -> None:
    """Let the event loop run ``count`` rounds (no waiting: each round is a yield)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def _assert_free(redis_client: aioredis.Redis, prefix: str) -> None:
    assert not await redis_client.exists(lock_key(prefix, "chat")), "the lock leaked"
    assert await untyped(redis_client).llen(queue_key(prefix, "chat")) == 0


class TestRedisCancellation:
    """A cancelled ``acquire`` raises ``CancelledError`` and never leaves the lock held,
    wherever the cancellation lands, including inside a command whose reply redis-py
    hands back anyway."""

    async def test_a_cancelled_free_acquire_raises_and_leaks_nothing(
        self, storage: RedisStorage, redis_client: aioredis.Redis, unique_name: str
    ) -> None:
        await storage.write("chat", {"count": 1})
        outcomes: set[str] = set()
        for attempt_number in range(300):
            attempt = asyncio.create_task(storage.acquire("chat", read=True))
            await _yields(attempt_number % 30)  # cancel at every point of the round trip
            if attempt.cancel():
                with pytest.raises(asyncio.CancelledError):
                    await attempt
                outcomes.add("cancelled")
            else:
                await (await attempt).release()
                outcomes.add("finished first")
            await _assert_free(redis_client, unique_name)
        assert outcomes == {"cancelled", "finished first"}  # both sides of the race ran
        lease = await storage.acquire("chat", read=True)  # at once: nothing was leaked
        assert lease.value == {"count": 1}
        await lease.release()

    async def test_a_waiter_cancelled_around_the_handover_leaks_nothing(
        self,
        redis_url: str,
        unique_name: str,
        storage: RedisStorage,
        redis_client: aioredis.Redis,
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name) as other:
            for attempt_number in range(150):
                holder = await storage.acquire("chat", read=True)
                waiter = asyncio.create_task(other.acquire("chat", read=True))
                await _queued(redis_client, unique_name, 1)
                handover = asyncio.create_task(holder.release())
                await _yields(attempt_number % 30)
                if waiter.cancel():
                    with pytest.raises(asyncio.CancelledError):
                        await waiter
                else:
                    await (await waiter).release()
                await handover
                await _assert_free(redis_client, unique_name)
