"""RedisStorage: sessions as JSON strings in Redis, with native expiry and a lease lock."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botsessions._options import duration
from botsessions.storage._enumeration import BatchedEnumeration
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lease import lease_seconds
from botsessions.storage._lifecycle import Closeable
from botsessions.storage.redis._errors import RedisErrors, import_redis
from botsessions.storage.redis._lock import RedisLease, RedisLocks

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStorage"]

_GLOB_SPECIALS = str.maketrans({c: "\\" + c for c in "*?[]\\"})
# Redis keeps expiry times as signed 64-bit milliseconds since the epoch.
_MAX_SECONDS = 9.2e15


class RedisStorage(Closeable, BatchedEnumeration):
    """Session storage in Redis: one JSON string per session under ``prefix + key``.

    The layout is the one of grammY's ``@grammyjs/storage-redis`` (the key verbatim, the
    value as ``JSON.stringify`` text), so a grammY bot using the same Redis and key prefix
    reads what this storage writes, and the other way round. Reading a session is one
    ``GET``, writing it one ``SET`` (with ``PX`` when ``ttl`` is set).

    It also offers the session lock used by ``session()`` so that updates of one session
    handled by different processes never lose each other's writes: see ``acquire()``. The
    lock's own keys live beside the sessions under a name no session key can produce.
    Enumeration (``read_all_keys/values/entries``) lists the string keys under the prefix
    with ``SCAN`` (and ``MGET`` for values); names that are not UTF-8 text (the lock's keys,
    foreign binary keys) and keys of other Redis types are not sessions and are skipped.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a ``redis.asyncio.Redis``
            client (without ``decode_responses``). A client built from a URL belongs to the
            storage and is closed by ``close()``; a client you pass stays yours to close.
        prefix: prepended to every session key to form the Redis key. Enumeration
            (``read_all_*``) lists the keys under it, so give each bot its own prefix, and
            end it with a separator: prefix ``"bot"`` also lists the keys of ``"bot2:"``.
        ttl: expire a session this long after its last write (seconds or ``timedelta``),
            using Redis' own expiry. ``None`` (or ``inf``) keeps sessions forever.
        lock_wait: seconds an update waits for the lock of a busy session before
            ``LockTimeoutError``; ``None`` or ``inf`` waits as long as it takes.
        lock_lease: seconds a lock stays valid without renewal; the holder renews it while
            its update runs, so this only bounds how long a crashed process blocks a session.
            It must be finite.
        scan_count: the ``COUNT`` hint of each ``SCAN`` batch during enumeration.

    Raises:
        ModuleNotFoundError: redis-py is not installed (``pip install "botsessions[redis]"``).
        TypeError, ValueError: an argument has the wrong type or value.
    """

    __slots__ = ("_client", "_locks", "_owns_client", "_prefix", "_scan_count", "_ttl")

    def __init__(
        self,
        redis: str | Redis = "redis://localhost:6379/0",
        *,
        prefix: str = "",
        ttl: float | timedelta | None = None,
        lock_wait: float | timedelta | None = 10.0,
        lock_lease: float | timedelta = 30.0,
        scan_count: int = 500,
    ) -> None:
        aioredis = import_redis()
        if not isinstance(redis, str | aioredis.Redis):
            raise TypeError(
                f"redis must be a URL or a redis.asyncio.Redis client, got {type(redis).__name__}"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        try:
            prefix.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(f"prefix {prefix!r} is not valid Unicode text: {exc}") from None
        if isinstance(scan_count, bool) or not isinstance(scan_count, int) or scan_count < 1:
            raise ValueError(f"scan_count must be a positive int, got {scan_count!r}")
        ttl_seconds = duration(ttl, what="ttl", maximum=_MAX_SECONDS)
        wait = duration(lock_wait, what="lock_wait")
        lease = lease_seconds(lock_lease, maximum=_MAX_SECONDS)
        if isinstance(redis, str):
            self._client: Redis = aioredis.Redis.from_url(redis)
            self._owns_client = True
        else:
            if redis.connection_pool.connection_kwargs.get("decode_responses"):
                raise ValueError(
                    "RedisStorage needs a client that returns bytes: build it without "
                    "decode_responses=True (or pass the URL)"
                )
            self._client = redis
            self._owns_client = False
        super().__init__()
        self._prefix = prefix
        self._ttl = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        self._scan_count = scan_count
        self._locks = RedisLocks(
            self._client,
            prefix,
            wait=math.inf if wait is None else wait,
            lease=lease,
            ttl_ms=self._ttl,
        )

    def __repr__(self) -> str:
        return f"<RedisStorage prefix={self._prefix!r} ttl_ms={self._ttl!r} {self._state.value}>"

    async def read(self, key: str) -> Any:
        """Return the stored session or ``None``; ``StorageError`` if Redis fails.

        Raises ``CorruptDataError`` (data left in place) when the stored value is not JSON.
        """
        self._check_open()
        with RedisErrors("read", key):
            data = await self._client.get(self._prefix + key)
        return None if data is None else loads(key, data)

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` as JSON (one ``SET``, with ``PX`` when ``ttl`` is set).

        Raises ``TypeError`` naming the key, before any I/O, when ``value`` is not JSON data.
        """
        self._check_open()
        data = dumps(key, value)
        with RedisErrors("write", key):
            await self._client.set(self._prefix + key, data, px=self._ttl)

    async def delete(self, key: str) -> None:
        """Delete the session (no error when it does not exist)."""
        self._check_open()
        with RedisErrors("delete", key):
            await self._client.delete(self._prefix + key)

    async def has(self, key: str) -> bool:
        """Whether a session is stored under ``key``."""
        self._check_open()
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
        self._check_open()
        return await self._locks.acquire(key, read=read)

    async def _batches(self, *, values: bool) -> AsyncIterator[list[tuple[str, Any]]]:
        # SCAN of the string keys under the prefix; each round trip carries the MGET of one
        # batch and the SCAN of the next.
        self._check_open()
        client, count = self._client, self._scan_count
        prefix = self._prefix.encode()
        pattern = self._prefix.translate(_GLOB_SPECIALS).encode() + b"*"
        seen: set[str] = set()
        with RedisErrors("scan", None):
            cursor, batch = await client.scan(0, match=pattern, count=count, _type="string")
        while True:
            keys = _session_keys(batch, len(prefix), seen)
            pipe = client.pipeline(transaction=False)
            if values and keys:
                pipe.mget([prefix + name.encode() for name in keys])
            if cursor != 0:
                pipe.scan(cursor, match=pattern, count=count, _type="string")
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


def _session_keys(batch: list[bytes | str], start: int, seen: set[str]) -> list[str]:
    """The session keys among SCAN's names (each listed once; names not UTF-8 skipped)."""
    keys: list[str] = []
    for raw in batch:
        try:
            data = raw.encode() if isinstance(raw, str) else raw
            name = data[start:].decode()
        except UnicodeDecodeError:  # the lock's bookkeeping, or a foreign binary key
            continue
        if name not in seen:
            seen.add(name)
            keys.append(name)
    return keys
