"""Write your own storage adapter: sessions in Redis with redis.asyncio, in a few lines.

botsessions ships a full ``RedisStorage`` (locking, TTL, enumeration); this example
shows how little a storage needs: ``read``, ``write`` and ``delete``.

Run it with a token from @BotFather and a Redis server::

    BOT_TOKEN=123:abc REDIS_URL=redis://localhost:6379/0 python examples/custom_redis_adapter.py

Set ``BOT_API_SERVER`` to talk to another Bot API server (a local one in tests).
"""

import json
import os
from typing import Any

from redis.asyncio import Redis

from botsessions import Bot, Context, session


class RedisAdapter:
    """A minimal StorageAdapter: one JSON string per session key."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def read(self, key: str) -> Any:
        raw = await self.redis.get(key)
        return None if raw is None else json.loads(raw)

    async def write(self, key: str, value: Any) -> None:
        await self.redis.set(key, json.dumps(value))

    async def delete(self, key: str) -> None:
        await self.redis.delete(key)


def build_bot(token: str, *, redis: Redis, api_server: str | None = None, prefix: str = "") -> Bot:
    """Build a message counter that keeps its sessions in ``redis``, keys under ``prefix``."""
    bot = Bot(token, api_server=api_server)

    bot.use(session(initial=lambda: {"count": 0}, storage=RedisAdapter(redis), prefix=prefix))

    @bot.on("message")
    async def count(ctx: Context[dict[str, int]]) -> None:
        ctx.session["count"] += 1
        await ctx.reply(f"Messages in this chat: {ctx.session['count']}")

    return bot


if __name__ == "__main__":
    client = Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    build_bot(
        os.environ["BOT_TOKEN"],
        redis=client,
        api_server=os.environ.get("BOT_API_SERVER"),
        prefix="session:",
    ).start()
