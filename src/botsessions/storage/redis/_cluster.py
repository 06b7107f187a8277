"""Redis Cluster support: the ``redis+cluster://`` URL form and enumeration over primaries.

Single-key commands and the lock scripts are routed by redis-py's ``RedisCluster`` (the
lock keys share the slot of their session, see ``_slots``). Enumeration is the one part
that spans slots: every primary is scanned on its own, and the values of one batch are
fetched with a non-transactional cluster pipeline (one round trip per node).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

    from redis.asyncio.cluster import RedisCluster

__all__ = ["CLUSTER_SCHEMES", "cluster_from_url", "fetch", "is_cluster_url", "scan_primaries"]

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes naming a cluster, and the plain scheme redis-py reads after them."""


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def cluster_from_url(aioredis: ModuleType, url: str) -> RedisCluster:
    """A ``RedisCluster`` client for ``redis+cluster://host:port`` (any one node will do)."""
    scheme, rest = url.split("://", 1)
    client: RedisCluster = aioredis.RedisCluster.from_url(
        f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}"
    )
    return client


async def scan_primaries(
    client: RedisCluster, pattern: bytes, count: int
) -> AsyncIterator[list[bytes | str]]:
    """The string keys matching ``pattern``, one ``SCAN`` reply of one primary at a time."""
    await client.initialize()
    for node in client.get_primaries():
        cursor = 0
        while True:
            # On a cluster the cursor comes back per node: ({node name: cursor}, names).
            reply: Any = await client.scan(
                cursor, match=pattern, count=count, _type="string", target_nodes=node
            )
            cursors, batch = reply
            if batch:
                yield batch
            cursor = cursors[node.name]
            if cursor == 0:
                break


async def fetch(
    client: RedisCluster, keys: list[bytes], *, expiry: bool
) -> tuple[list[Any], list[int]]:
    """``GET`` (and with ``expiry`` ``PTTL``) of every key, grouped by node."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
        if expiry:
            pipe.pttl(key)
    replies: list[Any] = await pipe.execute()
    if expiry:
        return replies[0::2], replies[1::2]
    return replies, []
