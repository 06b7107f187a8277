"""RedisStorage on a three-primary Redis Cluster: placement, processes, a failed primary.

The conformance suites run on the same cluster (``test_conformance.py``,
``test_locking_conformance.py``); this module checks what only a cluster has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from botsessions._errors import BotError, StorageError
from botsessions.storage import RedisStorage
from botsessions.storage.redis._lock import bookkeeping_base
from botsessions.storage.redis._slots import key_slot, slot_tag
from tests.integrations._updates import message
from tests.storage import _cluster
from tests.storage._cluster import ThrowawayCluster, private_cluster
from tests.storage._workers import counting_bot, run_workers

redis_cluster = _cluster.redis_cluster  # the shared cluster fixture


@pytest.fixture
async def cluster_client(
    redis_cluster: ThrowawayCluster, unique_name: str
) -> AsyncIterator[RedisCluster]:
    """A client of the shared cluster; deletes the test's keys afterwards."""
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    yield client
    async for name in client.scan_iter(match=f"{unique_name}*", count=1000):
        await client.delete(name)
    await client.aclose()


def _owner(cluster: ThrowawayCluster, client: RedisCluster, key: bytes) -> int:
    """The port of the primary serving ``key``."""
    node = client.get_node_from_key(key.decode())
    assert node is not None
    port = int(node.port)
    assert port in cluster.ports
    return port


class TestSlots:
    def test_every_slot_has_a_tag_that_maps_to_it(self) -> None:
        assert all(key_slot(slot_tag(slot) + b"rest") == slot for slot in range(16384))

    def test_key_slot_follows_the_cluster_rules(self) -> None:
        assert key_slot(b"123456789") == 0x31C3 % 16384  # CRC16/XMODEM check value
        assert key_slot(b"{user1000}.following") == key_slot(b"user1000")
        assert key_slot(b"foo{}{bar}") == key_slot(b"foo{}{bar}")  # empty tag: whole key

    @pytest.mark.parametrize("prefix", ["", "bot:", "{bot}:", "a{b", "}x{"])
    def test_lock_keys_share_the_slot_of_their_session(self, prefix: str) -> None:
        for key in ("42", "-100123:7", "{tagged}", "ключ", "}{"):
            raw, value_key = key.encode(), (prefix + key).encode()
            base = bookkeeping_base(prefix.encode(), raw, cluster=True)
            for name in (base + b"lock:" + raw, base + b"wait:" + raw):
                assert key_slot(name) == key_slot(value_key), (prefix, key)

    def test_single_node_lock_keys_keep_their_layout(self) -> None:
        assert bookkeeping_base(b"p:", b"k", cluster=False) == b"p:\xffbotsessions."


class TestRedisCluster:
    async def test_session_keys_stay_prefix_plus_key_and_spread_over_all_primaries(
        self, redis_cluster: ThrowawayCluster, cluster_client: RedisCluster, unique_name: str
    ) -> None:
        prefix = f"{unique_name}:"
        async with RedisStorage(redis_cluster.url, prefix=prefix) as storage:
            for chat in range(300):
                await storage.write(str(chat), {"chat": chat})
            lease = await storage.acquire("7", read=True)
            assert lease.value == {"chat": 7}
            await lease.write({"chat": 70})
            assert sorted([key async for key in storage.read_all_keys()], key=int) == [
                str(chat) for chat in range(300)
            ]
        assert await cluster_client.get(f"{prefix}7") == b'{"chat":70}'
        names = [f"{prefix}{chat}".encode() for chat in range(300)]
        owners = {_owner(redis_cluster, cluster_client, name) for name in names}
        assert owners == set(redis_cluster.ports)
        for port in redis_cluster.ports:  # each primary really holds some of them
            node = aioredis.Redis(port=port)
            names = [name async for name in node.scan_iter(match=f"{prefix}*")]
            await node.aclose()
            assert names

    async def test_a_passed_cluster_client_works_and_stays_open(
        self, cluster_client: RedisCluster, unique_name: str
    ) -> None:
        async with RedisStorage(cluster_client, prefix=unique_name) as storage:
            lease = await storage.acquire("chat", read=True)
            await lease.write({"count": 1})
            assert await storage.read("chat") == {"count": 1}
            assert await storage.has("chat")
        assert await cluster_client.get(f"{unique_name}chat") == b'{"count":1}'

    async def test_a_cluster_client_that_decodes_responses_is_refused(
        self, redis_cluster: ThrowawayCluster
    ) -> None:
        client = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0], decode_responses=True)
        with pytest.raises(ValueError, match="decode_responses"):
            RedisStorage(client)
        await client.aclose()

    @pytest.mark.slow
    async def test_four_bot_processes_lose_no_update(
        self, redis_cluster: ThrowawayCluster, cluster_client: RedisCluster, unique_name: str
    ) -> None:
        async with RedisStorage(redis_cluster.url, prefix=unique_name) as storage:
            await storage.write("42", {"count": 0})
            await run_workers("redis", redis_cluster.url, unique_name, "42", "250", processes=4)
            assert await storage.read("42") == {"count": 1000}


@pytest.mark.slow
async def test_a_killed_primary_fails_its_keys_loudly_and_other_slots_keep_working() -> None:
    with private_cluster() as cluster:
        client = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        await client.initialize()
        by_port: dict[int, str] = {}
        chat = 0
        while len(by_port) < 3:
            chat += 1
            by_port.setdefault(_owner(cluster, client, str(chat).encode()), str(chat))
        await client.aclose()
        dead, alive = cluster.ports[1], cluster.ports[0]
        async with RedisStorage(cluster.url, lock_wait=5.0) as storage:
            bot = counting_bot(storage)
            for key in by_port.values():
                await bot.handle_update(message(1, int(key)))
            cluster.kill(dead)
            with pytest.raises(BotError) as caught:
                await bot.handle_update(message(2, int(by_port[dead])))
            assert isinstance(caught.value.__cause__, StorageError)
            with pytest.raises(StorageError):
                await storage.read(by_port[dead])  # never reported as a missing session
            await bot.handle_update(message(3, int(by_port[alive])))
            assert await storage.read(by_port[alive]) == {"count": 2}
