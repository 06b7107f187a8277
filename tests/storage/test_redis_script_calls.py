"""How RedisStorage sends its lock scripts: both call paths, NOSCRIPT, retries, tokens."""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from botsessions._errors import LeaseLostError
from botsessions.storage import RedisStorage
from botsessions.storage.redis._evalsha import LuaScript
from botsessions.storage.redis._lock import _tokens
from botsessions.storage.redis._scripts import ACQUIRE
from tests.services import RedisServer
from tests.storage._redis_util import lock_key, queue_key


class SubclassedRedis(aioredis.Redis):
    """A client subclass, as instrumentation libraries build: it may override commands."""


@pytest.fixture(params=["direct", "generic"])
async def storage(
    request: pytest.FixtureRequest, redis_url: str, unique_name: str
) -> AsyncIterator[RedisStorage]:
    if request.param == "direct":
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            yield storage
        return
    client = SubclassedRedis.from_url(redis_url)
    async with RedisStorage(client, prefix=unique_name) as storage:
        yield storage
    await client.aclose()


async def test_both_paths_lock_read_write_and_refuse_a_lost_lease(
    storage: RedisStorage, redis_client: aioredis.Redis, unique_name: str
) -> None:
    lease = await storage.acquire("chat", read=True)
    assert lease.value is None
    await lease.write({"count": 1})
    lease = await storage.acquire("chat", read=True)
    assert lease.value == {"count": 1}
    await redis_client.delete(lock_key(unique_name, "chat"))  # as if the lease expired
    with pytest.raises(LeaseLostError):
        await lease.write({"count": 100})
    assert await storage.read("chat") == {"count": 1}


async def test_a_script_flushed_from_the_server_is_loaded_again(
    private_redis: RedisServer,
) -> None:
    admin = aioredis.Redis.from_url(private_redis.url)
    async with RedisStorage(private_redis.url) as storage:
        lease = await storage.acquire("chat", read=True)
        await lease.write({"count": 1})
        await admin.script_flush()
        lease = await storage.acquire("chat", read=True)
        assert lease.value == {"count": 1}
        await admin.script_flush()
        await lease.write({"count": 2})
        assert await storage.read("chat") == {"count": 2}
    await admin.aclose()


async def test_a_repeated_first_request_finds_its_own_lock(
    redis_client: aioredis.Redis, unique_name: str
) -> None:
    # A request whose reply was lost and that the client sends again must not queue
    # behind itself.
    prefix = unique_name.encode()
    queue = queue_key(unique_name, "chat")
    names = (lock_key(unique_name, "chat"), prefix + b"chat", queue, queue + b":token")
    script = LuaScript(redis_client, ACQUIRE, numkeys=4)
    args = (b"token", b"30000", b"1", b"0", b"61000")
    await redis_client.set(prefix + b"chat", b'{"count":1}')
    assert await script(*names, *args) == b'{"count":1}'
    assert await script(*names, *args) == b'{"count":1}'
    assert not await redis_client.exists(queue)
    other = await script(*names[:3], queue + b":other", b"other", *args[1:])
    assert isinstance(other, int)  # queued, with the holder's remaining lease
    assert 0 < other <= 30000
    await redis_client.delete(names[0], queue)


def _child_token(queue: multiprocessing.Queue[bytes]) -> None:
    queue.put(_tokens.next())


@pytest.mark.skipif(sys.platform == "win32", reason="no fork")
def test_a_forked_process_draws_other_tokens() -> None:
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[bytes] = context.Queue()
    child = context.Process(target=_child_token, args=(results,))
    child.start()
    theirs = results.get(timeout=30)
    child.join(30)
    ours = _tokens.next()
    assert theirs.split(b".")[0] != ours.split(b".")[0]


async def test_the_socket_timeout_bounds_the_send_and_the_reply(
    private_redis: RedisServer,
) -> None:
    # The direct path applies the client's socket timeout to the send itself (not through
    # redis-py's wait_for): a server that stops reading fails the write in time, the
    # connection is dropped, and a reply that never comes still times out the read.
    client = aioredis.Redis.from_url(
        private_redis.url, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    script = LuaScript(client, "return #ARGV", numkeys=0)
    assert await script(b"a") == 1
    server = private_redis.process
    assert server is not None
    server.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(redis.exceptions.TimeoutError, match="reading"):
            await script(b"a")  # sent on the open connection; the reply never comes
    finally:
        server.send_signal(signal.SIGCONT)
    assert await script(b"a") == 1  # a new connection
    server.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(redis.exceptions.TimeoutError, match="writing"):
            await script(b"x" * (32 << 20))  # more than the socket buffers take
    finally:
        server.send_signal(signal.SIGCONT)
    assert await script(b"a", b"b") == 2  # a new connection
    connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    assert connection.socket_timeout == 0.2  # the timeout came back after the send
    await client.connection_pool.release(connection)
    await client.aclose()


async def test_a_health_check_that_is_due_pings_before_the_script_call(
    private_redis: RedisServer,
) -> None:
    admin = aioredis.Redis.from_url(private_redis.url)
    client = aioredis.Redis.from_url(private_redis.url, health_check_interval=3600)
    script = LuaScript(client, "return #ARGV", numkeys=0)
    try:
        assert await script(b"a") == 1  # connects (and loads the script)
        await admin.config_resetstat()
        connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        connection.next_health_check = -1  # due now
        await client.connection_pool.release(connection)
        assert await script(b"a", b"b") == 2
        assert await script(b"a", b"b", b"c") == 3  # not due again for an hour
        stats = await admin.info("commandstats")
        assert stats["cmdstat_ping"]["calls"] == 1
        assert stats["cmdstat_evalsha"]["calls"] == 2
    finally:
        await client.aclose()
        await admin.aclose()
