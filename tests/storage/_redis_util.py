"""Redis helpers shared by the Redis storage tests."""

from typing import Any

import redis.asyncio as aioredis


def untyped(client: aioredis.Redis) -> Any:
    """The client without its types: redis-py 7 and 8 annotate these commands differently."""
    return client


def lock_key(prefix: str, key: str) -> bytes:
    """The Redis key of the session lock of ``key`` (the documented layout)."""
    return prefix.encode() + b"\xffbotsessions.lock:" + key.encode()


def queue_key(prefix: str, key: str) -> bytes:
    """The Redis key of the line of waiters for the lock of ``key``."""
    return prefix.encode() + b"\xffbotsessions.wait:" + key.encode()
