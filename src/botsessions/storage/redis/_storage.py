"""RedisStorage: sessions as JSON strings in Redis, with native expiry and a lease lock."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from botsessions._options import duration
from botsessions.storage._enumeration import BatchedEnumeration
from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lease import lease_seconds
from botsessions.storage._lifecycle import Closeable
from botsessions.storage.redis._cluster import (
    cluster_from_url,
    fetch,
    is_cluster_url,
    scan_primaries,
)
from botsessions.storage.redis._errors import RedisErrors, import_redis
from botsessions.storage.redis._lock import RedisLease, RedisLocks

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

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

    On a Redis Cluster (Redis >= 6.2 or Valkey) session keys are the same; the lock's keys
    carry a hash tag that puts them in their session's slot, and enumeration scans every
    primary.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL, a cluster URL
            ``redis+cluster://host:port`` (``rediss+cluster://`` for TLS; any one node of
            the cluster), a ``redis.asyncio.Redis`` or a ``redis.asyncio.RedisCluster``
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
        TypeError: ``redis`` is neither a URL nor a redis-py client, or an option is not
            of its type.
        ValueError: a prefix that is not valid Unicode, a ``scan_count`` below 1, a lease
            that is not finite, or a duration out of range.
    """

    __slots__ = (
        "_client",
        "_cluster",
        "_locks",
        "_owns_client",
        "_prefix",
        "_scan_count",
        "_starting",
        "_ttl",
    )

    def __init__(
        self,
        redis: str | Redis | RedisCluster = "redis://localhost:6379/0",
        *,
        prefix: str = "",
        ttl: float | timedelta | None = None,
        lock_wait: float | timedelta | None = 10.0,
        lock_lease: float | timedelta = 30.0,
        scan_count: int = 500,
    ) -> None:
        aioredis = import_redis()
        if not isinstance(redis, str | aioredis.Redis | aioredis.RedisCluster):
            raise TypeError(
                "redis must be a URL, a redis.asyncio.Redis or a redis.asyncio.RedisCluster "
                f"client, got {type(redis).__name__}"
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
        self._client: Redis | RedisCluster
        if isinstance(redis, str):
            cluster = is_cluster_url(redis)
            self._client = (
                cluster_from_url(aioredis, redis) if cluster else aioredis.Redis.from_url(redis)
            )
            self._owns_client = True
        else:
            cluster = isinstance(redis, aioredis.RedisCluster)
            kwargs = (
                redis.get_connection_kwargs()
                if isinstance(redis, aioredis.RedisCluster)
                else redis.connection_pool.connection_kwargs
            )
            if kwargs.get("decode_responses"):
                raise ValueError(
                    "RedisStorage needs a client that returns bytes: build it without "
                    "decode_responses=True (or pass the URL)"
                )
            self._client = redis
            self._owns_client = False
        super().__init__()
        self._cluster = cluster
        # redis-py's RedisCluster can drop connections when its first commands race its
        # lazy start-up (seen with redis-py 8.1): the first operation starts it alone.
        self._starting = asyncio.Lock() if cluster else None
        self._prefix = prefix
        self._ttl = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        self._scan_count = scan_count
        self._locks = RedisLocks(
            self._client,
            prefix,
            wait=math.inf if wait is None else wait,
            lease=lease,
            ttl_ms=self._ttl,
            cluster=cluster,
        )

    async def _start(self, key: str | None) -> None:
        starting = self._starting
        if starting is None:
            return
        async with starting:
            if self._starting is None:
                return
            with RedisErrors("connect", key):
                await cast("RedisCluster", self._client).initialize()
            self._starting = None

    def __repr__(self) -> str:
        return f"<RedisStorage prefix={self._prefix!r} ttl_ms={self._ttl!r} {self._state.value}>"

    async def read(self, key: str) -> Any:
        """Return the stored session or ``None``; ``StorageError`` if Redis fails.

        Raises ``CorruptDataError`` (data left in place) when the stored value is not JSON.
        """
        self._check_open()
        if self._starting is not None:
            await self._start(key)
        with RedisErrors("read", key):
            data = await self._client.get(self._prefix + key)
        return None if data is None else loads(key, data)

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` as JSON (one ``SET``, with ``PX`` when ``ttl`` is set).

        Raises ``TypeError`` naming the key, before any I/O, when ``value`` is not JSON data.
        """
        self._check_open()
        if self._starting is not None:
            await self._start(key)
        data = dumps(key, value)
        with RedisErrors("write", key):
            await self._client.set(self._prefix + key, data, px=self._ttl)

    async def delete(self, key: str) -> None:
        """Delete the session (no error when it does not exist)."""
        self._check_open()
        if self._starting is not None:
            await self._start(key)
        with RedisErrors("delete", key):
            await self._client.delete(self._prefix + key)

    async def has(self, key: str) -> bool:
        """Whether a session is stored under ``key``."""
        self._check_open()
        if self._starting is not None:
            await self._start(key)
        with RedisErrors("has", key):
            return bool(await self._client.exists(self._prefix + key))

    async def acquire(self, key: str, *, read: bool) -> RedisLease:
        """Take the lease of session ``key`` (renewed while held) and read it, in one round trip.

        ``RedisLease.value`` is the stored session, ``None`` when absent or when ``read`` is
        false; ``write()`` and ``delete()`` end the lease in the same round trip. Raises
        ``LockTimeoutError`` after ``lock_wait`` seconds of waiting, ``StorageError`` on errors.
        """
        self._check_open()
        if self._starting is not None:
            await self._start(key)
        return await self._locks.acquire(key, read=read)

    async def read_with_expiry(self, key: str) -> tuple[Any, float | None] | None:
        """The session under ``key`` and its expiry (epoch seconds, from ``PTTL``), or ``None``."""
        self._check_open()
        if self._starting is not None:
            await self._start(key)
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self._prefix + key)
        pipe.pttl(self._prefix + key)
        with RedisErrors("read", key):
            data, pttl = await pipe.execute()
        if data is None:
            return None
        return loads(key, data), _expires_at(pttl, time.time())

    async def read_all_entries_with_expiry(self) -> AsyncIterator[ExpiringEntry]:
        """Every ``(key, value, expires_at)``: ``SCAN``, then ``MGET`` and ``PTTL`` per batch,
        pipelined (one round trip per batch)."""
        async for batch in self._batches(values=True, expiry=True):
            for entry in batch:
                yield entry

    async def write_entries_with_expiry(self, entries: Sequence[ExpiringEntry]) -> None:
        """Store every ``(key, value, expires_at)`` in one pipeline (``SET ... PXAT``)."""
        self._check_open()
        if self._starting is not None:
            await self._start(None)
        now = time.time()
        pipe = self._client.pipeline(transaction=False)
        for key, value, expires_at in entries:
            if expires_at is None:
                pipe.set(self._prefix + key, dumps(key, value))
            elif expires_at > now:
                pipe.set(self._prefix + key, dumps(key, value), pxat=math.ceil(expires_at * 1000))
        if len(pipe):
            with RedisErrors("write", entries[0][0] if len(entries) == 1 else None):
                await pipe.execute()

    async def _batches(self, *, values: bool, expiry: bool = False) -> AsyncIterator[list[Any]]:
        # SCAN of the string keys under the prefix; each round trip carries the MGET (and
        # with ``expiry`` the PTTLs) of one batch and the SCAN of the next.
        self._check_open()
        if self._starting is not None:
            await self._start(None)
        client, count = self._client, self._scan_count
        prefix = self._prefix.encode()
        pattern = self._prefix.translate(_GLOB_SPECIALS).encode() + b"*"
        seen: set[str] = set()
        if self._cluster:
            async for entries in self._cluster_batches(pattern, seen, values, expiry):
                yield entries
            return
        with RedisErrors("scan", None):
            cursor, batch = await client.scan(0, match=pattern, count=count, _type="string")
        while True:
            keys = _session_keys(batch, len(prefix), seen)
            pipe = client.pipeline(transaction=False)
            if values and keys:
                pipe.mget([prefix + name.encode() for name in keys])
            if expiry and keys:
                for name in keys:
                    pipe.pttl(prefix + name.encode())
            if cursor != 0:
                pipe.scan(cursor, match=pattern, count=count, _type="string")
            with RedisErrors("scan", None):
                replies: list[Any] = await pipe.execute() if len(pipe) else []
            if expiry and keys:
                found, pttls, replies = (
                    replies[0],
                    replies[1 : len(keys) + 1],
                    replies[len(keys) + 1 :],
                )
                now = time.time()
                yield [
                    (name, loads(name, data), _expires_at(pttl, now))
                    for name, data, pttl in zip(keys, found, pttls, strict=True)
                    if data is not None
                ]
            elif values and keys:
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

    async def _cluster_batches(
        self, pattern: bytes, seen: set[str], values: bool, expiry: bool
    ) -> AsyncIterator[list[Any]]:
        # Every primary on its own; values (and PTTLs) of a batch in one pipeline per node.
        client = cast("RedisCluster", self._client)
        prefix = self._prefix.encode()
        scan = aiter(scan_primaries(client, pattern, self._scan_count))
        while True:
            with RedisErrors("scan", None):
                batch = await anext(scan, None)
            if batch is None:
                return
            keys = _session_keys(batch, len(prefix), seen)
            if not keys:
                continue
            if not values:
                yield [(name, None) for name in keys]
                continue
            with RedisErrors("scan", None):
                found, pttls = await fetch(
                    client, [prefix + name.encode() for name in keys], expiry=expiry
                )
            if expiry:
                now = time.time()
                yield [
                    (name, loads(name, data), _expires_at(pttl, now))
                    for name, data, pttl in zip(keys, found, pttls, strict=True)
                    if data is not None
                ]
            else:
                yield [
                    (name, loads(name, data))
                    for name, data in zip(keys, found, strict=True)
                    if data is not None
                ]

    async def _release(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _expires_at(pttl: int, now: float) -> float | None:
    """The epoch time a key with ``PTTL`` ``pttl`` expires (``None``: no expiry)."""
    return None if pttl < 0 else now + pttl / 1000


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
