"""The Redis session lock: a lease with an owner token, taken and released by Lua scripts.

One update costs two round trips, the same as an unlocked read + write:

- ``ACQUIRE``: ``SET lock token NX PX lease`` and, when that succeeded, ``GET`` of the session.
- ``SAVE`` / ``REMOVE`` / ``RELEASE``: only if the lock still holds our token, write (or
  delete) the session and delete the lock, atomically. Otherwise the lease was lost (it
  expired, another owner took it) and nothing is written.

A holder renews its lease every ``lease / 3`` seconds through a ``call_later`` timer, which
costs nothing for the usual update that ends sooner. A waiter does not poll: it counts itself
in a waiter counter and blocks on ``BLPOP`` of a per-key wake-up list, which every release
pushes to while the counter is positive; each wait is bounded (by the remaining lease of the
holder and by one second), so a crashed holder or a lost wake-up costs at most that.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any

from botsessions._errors import CorruptDataError, LeaseLostError, LockTimeoutError, StorageError
from botsessions.storage._jsonvalue import dumps, loads
from botsessions.storage._redis_errors import RedisErrors

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["LOCK_NAMESPACE", "RedisLease", "RedisLocks"]

LOCK_NAMESPACE = "botsessions."
"""Lock bookkeeping keys live at ``prefix + "botsessions.{lock,wait,wake}:" + key``."""

# KEYS: lock, session, waiters; ARGV: token, lease ms, read?, was waiting?, waiter-count ttl ms
_ACQUIRE = """
if ARGV[4] == '1' and redis.call('DECR', KEYS[3]) <= 0 then redis.call('DEL', KEYS[3]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if ARGV[3] == '1' then return {1, redis.call('GET', KEYS[2])} end
  return {1}
end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {0, redis.call('PTTL', KEYS[1])}
"""

# Shared tail of the release scripts: wake one waiter if any is counted.
_WAKE = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('LPUSH', KEYS[4], '1')
  redis.call('PEXPIRE', KEYS[4], ARGV[2])
end
return 1
"""

# KEYS: lock, session, waiters, wake; ARGV: token, lease ms, value, ttl ms or ''
_SAVE = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[4] == '' then redis.call('SET', KEYS[2], ARGV[3])
else redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
"""
    + _WAKE
)

# KEYS: lock, session, waiters, wake; ARGV: token, lease ms
_REMOVE = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
"""
    + _WAKE
)

_RELEASE = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
"""
    + _WAKE
)

# KEYS: lock; ARGV: token, lease ms
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_MAX_WAIT_STEP = 1.0  # seconds: bound of one BLPOP, in case a wake-up is lost


class RedisLocks:
    """Per-storage lock settings and registered scripts; builds one ``RedisLease`` per lock."""

    __slots__ = (
        "_acquire",
        "_client",
        "_counter_ttl",
        "_lease",
        "_lease_ms",
        "_prefix",
        "_release",
        "_remove",
        "_renew",
        "_save",
        "_ttl_ms",
        "_wait",
    )

    def __init__(
        self, client: Redis, prefix: str, *, wait: float, lease: float, ttl_ms: int | None
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._wait = wait
        self._lease = lease
        self._lease_ms = str(max(1, round(lease * 1000)))
        self._counter_ttl = str(round((wait + lease) * 1000) + 1000)
        self._ttl_ms = "" if ttl_ms is None else str(ttl_ms)
        self._acquire = client.register_script(_ACQUIRE)
        self._save = client.register_script(_SAVE)
        self._remove = client.register_script(_REMOVE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    async def acquire(self, key: str, *, read: bool) -> RedisLease:
        """Take the lock of ``key`` (reading its value in the same round trip when ``read``)."""
        prefix = self._prefix
        names = [
            f"{prefix}{LOCK_NAMESPACE}lock:{key}",
            prefix + key,
            f"{prefix}{LOCK_NAMESPACE}wait:{key}",
            f"{prefix}{LOCK_NAMESPACE}wake:{key}",
        ]
        token = secrets.token_hex(16)
        args = [token, self._lease_ms, "1" if read else "0", "0", self._counter_ttl]
        deadline = time.monotonic() + self._wait
        while True:
            with RedisErrors("lock", key):
                reply: list[Any] = await self._acquire(keys=names[:3], args=args)
            if reply[0] == 1:
                lease = RedisLease(self, key, names, token, None)
                data = reply[1] if read and len(reply) > 1 else None
                if data is not None:
                    try:
                        lease.value = loads(key, data)
                    except CorruptDataError:
                        await lease.release()
                        raise
                return lease
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeoutError(
                    f"session {key!r} stayed locked by another update for lock_wait="
                    f"{self._wait:g} s; nothing was written. A handler may be stuck, or "
                    "raise lock_wait",
                    key=key,
                )
            holder_left = reply[1] / 1000 if reply[1] > 0 else 0.001
            step = max(0.001, min(remaining, holder_left, _MAX_WAIT_STEP))
            with RedisErrors("lock wait", key):
                await self._client.blpop([names[3]], timeout=step)  # type: ignore[misc]
            args[3] = "1"


class RedisLease:
    """One held Redis lock: ``value`` read under it; ends with write, delete or release."""

    __slots__ = ("_done", "_key", "_locks", "_names", "_renewal", "_timer", "_token", "value")

    def __init__(self, locks: RedisLocks, key: str, names: list[str], token: str, value: Any):
        self._locks = locks
        self._key = key
        self._names = names
        self._token = token
        self.value = value
        self._done = False
        self._renewal: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            locks._lease / 3, self._start_renewal
        )

    def __repr__(self) -> str:
        state = "done" if self._done else "held"
        return f"<RedisLease key={self._key!r} {state}>"

    def _start_renewal(self) -> None:
        self._timer = None
        if not self._done:
            self._renewal = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        locks = self._locks
        try:
            renewed = await locks._renew(keys=self._names[:1], args=[self._token, locks._lease_ms])
        except Exception:
            renewed = 1  # a transient failure: try again; the save checks the owner anyway
        if renewed and not self._done:
            self._timer = asyncio.get_running_loop().call_later(
                locks._lease / 3, self._start_renewal
            )

    def _finish(self) -> None:
        if self._done:
            raise RuntimeError(f"the lease of session {self._key!r} already ended")
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _end(self, operation: str, script: AsyncScript, args: list[Any]) -> None:
        self._finish()
        try:
            with RedisErrors(operation, self._key):
                done = await script(keys=self._names, args=args)
        except StorageError:
            await self._release_quietly()
            raise
        if not done:
            raise LeaseLostError(
                f"the lock of session {self._key!r} expired or was taken over before the "
                f"{operation}; nothing was written. Raise lock_lease if handlers run longer, "
                "or check for a blocked event loop",
                key=self._key,
            )

    async def write(self, value: Any) -> None:
        """Write ``value`` and release the lock in one round trip; ``LeaseLostError`` if lost."""
        data = dumps(self._key, value)
        locks = self._locks
        await self._end("write", locks._save, [self._token, locks._lease_ms, data, locks._ttl_ms])

    async def delete(self) -> None:
        """Delete the session and release the lock in one round trip; same guarantee."""
        locks = self._locks
        await self._end("delete", locks._remove, [self._token, locks._lease_ms])

    async def release(self) -> None:
        """Release without writing. Idempotent; silent when the lease was already lost."""
        if self._done:
            return
        self._finish()
        await self._release_quietly()

    async def _release_quietly(self) -> None:
        # A lock that cannot be released (server unreachable) frees itself when its lease
        # expires; raising here would only hide the error that ended the update.
        locks = self._locks
        try:
            with RedisErrors("unlock", self._key):
                await locks._release(keys=self._names, args=[self._token, locks._lease_ms])
        except StorageError:
            return
