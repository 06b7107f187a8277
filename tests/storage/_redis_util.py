from typing import Any

import redis.asyncio as aioredis


def untyped(client: aioredis.Redis) -> Any:
    """The client without its types: redis-py 7 and 8 annotate these commands differently."""
    return client
