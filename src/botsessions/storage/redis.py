"""RedisStorage: sessions as JSON strings in Redis, with native expiry and a lease lock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botsessions.storage._enumeration import BatchedEnumeration
from botsessions.storage._jsonvalue import dumps, loads
from botsessions.storage._lifecycle import CLOSED, OPEN, Closeable
from botsessions.storage._redis_errors import RedisErrors, import_redis
from botsessions.storage._redis_lock import LOCK_NAMESPACE, RedisLease, RedisLocks
from botsessions.storage._serverconfig import seconds, ttl_milliseconds

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStorage"]

_GLOB_SPECIALS = str.maketrans({c: "\\" + c for c in "*?[]\\"})
_LOCK_KINDS = ("lock:", "wait:", "wake:")


class RedisStorage(Closeable, BatchedEnumeration):
    """Session storage in Redis: one JSON string per session under ``prefix + key``.

    The layout is the one of grammY's ``@grammyjs/storage-redis`` (the key verbatim, the
    value as ``JSON.stringify`` text), so a grammY bot using the same Redis and key prefix
    reads what this storage writes, and the other way round. Reading a session is one
    ``GET``, writing it one ``SET`` (with ``PX`` when ``ttl`` is set).

    It also offers the session lock used by ``session()`` so that updates of one session
    handled by different processes never lose each other's writes: see ``acquire()``.
    Enumeration (``read_all_keys/values/entries``) lists the sessions under the prefix with
    ``SCAN`` (and ``MGET`` for values), skipping the lock's own keys.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a ``redis.asyncio.Redis``
            client. A client built from a URL belongs to the storage and is closed by
            ``close()``; a client you pass stays yours to close.
        prefix: prepended to every session key to form the Redis key. Enumeration
            (``read_all_*``) lists the keys under it, so give each bot its own prefix.
        ttl: expire a session this long after its last write (seconds or ``timedelta``),
            using Redis' own expiry. ``None`` keeps sessions forever.
        lock_wait: seconds an update waits for the lock of a busy session before
            ``LockTimeoutError``.
        lock_lease: seconds a lock stays valid without renewal; the holder renews it while
            its update runs, so this only bounds how long a crashed process blocks a session.
        scan_count: the ``COUNT`` hint of each ``SCAN`` batch during enumeration.

    Raises:
        ModuleNotFoundError: redis-py is not installed (``pip install botsessions[redis]``).
        TypeError, ValueError: an argument has the wrong type or value.
    """

    __slots__ = ("_client", "_locks", "_owns_client", "_prefix", "_scan_count", "_ttl")

    def __init__(
        self,
        redis: str | Redis = "redis://localhost:6379/0",
        *,
        prefix: str = "",
        ttl: float | timedelta | None = None,
        lock_wait: float | timedelta = 10.0,
        lock_lease: float | timedelta = 30.0,
        scan_count: int = 500,
    ) -> None:
        aioredis = import_redis()
        if isinstance(redis, str):
            self._client: Redis = aioredis.Redis.from_url(redis)
            self._owns_client = True
        elif isinstance(redis, aioredis.Redis):
            self._client = redis
            self._owns_client = False
        else:
            raise TypeError(
                f"redis must be a URL or a redis.asyncio.Redis client, got {type(redis).__name__}"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        if isinstance(scan_count, bool) or not isinstance(scan_count, int) or scan_count < 1:
            raise ValueError(f"scan_count must be a positive int, got {scan_count!r}")
        self._prefix = prefix
        ttl_ms = ttl_milliseconds(ttl)
        self._ttl = ttl_ms
        self._scan_count = scan_count
        self._state = OPEN
        self._locks = RedisLocks(
            self._client,
            prefix,
            wait=seconds("lock_wait", lock_wait),
            lease=seconds("lock_lease", lock_lease),
            ttl_ms=ttl_ms,
        )

    def __repr__(self) -> str:
        return f"<RedisStorage prefix={self._prefix!r} ttl_ms={self._ttl!r} {self._state.value}>"

    async def read(self, key: str) -> Any:
        """Return the stored session or ``None``; ``StorageError`` if Redis fails.

        Raises ``CorruptDataError`` (data left in place) when the stored value is not JSON.
        """
        if self._state is CLOSED:
            raise self._closed_error()
        with RedisErrors("read", key):
            data = await self._client.get(self._prefix + key)
        return None if data is None else loads(key, data)

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` as JSON (one ``SET``, with ``PX`` when ``ttl`` is set)."""
        if self._state is CLOSED:
            raise self._closed_error()
        data = dumps(key, value)
        with RedisErrors("write", key):
            await self._client.set(self._prefix + key, data, px=self._ttl)

    async def delete(self, key: str) -> None:
        """Delete the session (no error when it does not exist)."""
        if self._state is CLOSED:
            raise self._closed_error()
        with RedisErrors("delete", key):
            await self._client.delete(self._prefix + key)

    async def has(self, key: str) -> bool:
        """Whether a session is stored under ``key``."""
        if self._state is CLOSED:
            raise self._closed_error()
        with RedisErrors("has", key):
            return bool(await self._client.exists(self._prefix + key))

    async def acquire(self, key: str, *, read: bool) -> RedisLease:
        """Lock the session ``key`` across processes, reading it in the same round trip.

        The returned lease carries the stored ``value`` (``None`` when missing or when
        ``read`` is false) and ends with exactly one of ``write(value)``, ``delete()`` (each
        also releases, in one round trip) or ``release()``.

        Raises:
            LockTimeoutError: the lock stayed busy for ``lock_wait`` seconds.
            StorageError: Redis failed.
        """
        if self._state is CLOSED:
            raise self._closed_error()
        return await self._locks.acquire(key, read=read)

    async def _batches(self, *, values: bool) -> AsyncIterator[list[tuple[str, Any]]]:
        # SCAN of the keys under the prefix, lock keys excluded; each round trip carries the
        # MGET of one batch and the SCAN of the next.
        if self._state is CLOSED:
            raise self._closed_error()
        client, prefix, count = self._client, self._prefix, self._scan_count
        pattern = prefix.translate(_GLOB_SPECIALS) + "*"
        seen: set[str] = set()
        with RedisErrors("scan", None):
            cursor, batch = await client.scan(0, match=pattern, count=count)
        while True:
            keys: list[str] = []
            for raw in batch:
                name = (raw.decode() if isinstance(raw, bytes) else raw)[len(prefix) :]
                if name not in seen and not _is_lock_key(name):
                    seen.add(name)
                    keys.append(name)
            pipe = client.pipeline(transaction=False)
            if values and keys:
                pipe.mget([prefix + name for name in keys])
            if cursor != 0:
                pipe.scan(cursor, match=pattern, count=count)
            with RedisErrors("scan", None):
                replies: list[Any] = await pipe.execute() if len(pipe) else []
            if values and keys:
                found = replies.pop(0)
                yield [
                    (name, loads(name, data))
                    for name, data in zip(keys, found, strict=True)
                    if data is not None
                ]
            elif keys:
                yield [(name, None) for name in keys]
            if cursor == 0:
                return
            cursor, batch = replies[0]

    async def _release(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _is_lock_key(name: str) -> bool:
    return name.startswith(LOCK_NAMESPACE) and name[len(LOCK_NAMESPACE) :][:5] in _LOCK_KINDS
