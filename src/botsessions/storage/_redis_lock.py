"""The Redis session lock: a lease with an owner token, taken and released by Lua scripts.

One update costs two round trips, the same as an unlocked read + write:

- ``ACQUIRE``: take the free lock (``SET token PX lease``) and ``GET`` the session, or join
  the line of waiters.
- ``SAVE`` / ``REMOVE`` / ``RELEASE``: only if the lock still holds our token, write (or
  delete) the session and release the lock, atomically. Otherwise the lease was lost (it
  expired, another owner took it) and nothing is written. ``keep=True`` writes and renews
  the lease instead of releasing it.

Waiters are served first come, first served (see ``_redis_scripts``): a release hands the
lock to the oldest waiter, which is woken by ``BLPOP`` of its own wake-up list holding the
lock and the value. Each wait is bounded (by the remaining lease of the holder and by one
second) and then re-checks, so a crashed holder or a lost wake-up costs at most that.

A holder renews its lease every ``lease / 3`` seconds through a ``call_later`` timer, which
costs nothing for the usual update that ends sooner.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from botsessions._errors import CorruptDataError, LeaseLostError, LockTimeoutError, StorageError
from botsessions.storage._jsonvalue import dumps, loads
from botsessions.storage._redis_errors import RedisErrors
from botsessions.storage._redis_scripts import ACQUIRE, LEAVE, RELEASE, REMOVE, RENEW, SAVE

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["LOCK_NAMESPACE", "RedisLease", "RedisLocks"]

LOCK_NAMESPACE = "botsessions."
"""Lock bookkeeping keys live at ``prefix + "botsessions.{lock,wait}:" + key``."""

_MAX_WAIT_STEP = 1.0  # seconds: bound of one BLPOP, in case a wake-up is lost


class RedisLocks:
    """Per-storage lock settings and registered scripts; builds one ``RedisLease`` per lock."""

    __slots__ = (
        "_acquire",
        "_client",
        "_lease",
        "_lease_ms",
        "_leave",
        "_prefix",
        "_queue_ttl",
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
        self._queue_ttl = str(round((wait + lease) * 1000) + 1000)
        self._ttl_ms = "" if ttl_ms is None else str(ttl_ms)
        self._acquire = client.register_script(ACQUIRE)
        self._save = client.register_script(SAVE)
        self._remove = client.register_script(REMOVE)
        self._release = client.register_script(RELEASE)
        self._leave = client.register_script(LEAVE)
        self._renew = client.register_script(RENEW)

    async def acquire(self, key: str, *, read: bool) -> RedisLease:
        """Take the lock of ``key`` (reading its value in the same round trip when ``read``)."""
        prefix = self._prefix
        queue = f"{prefix}{LOCK_NAMESPACE}wait:{key}"
        token = secrets.token_hex(16)
        names = [f"{prefix}{LOCK_NAMESPACE}lock:{key}", prefix + key, queue, f"{queue}:{token}"]
        args = [token, self._lease_ms, "1" if read else "0", "0", self._queue_ttl]
        deadline = time.monotonic() + self._wait
        while True:
            with RedisErrors("lock", key):
                reply: list[Any] = await self._acquire(keys=names, args=args)
            if reply[0] == 1:
                return await self._leased(key, names, token, reply[1] if len(reply) > 1 else None)
            args[3] = "1"  # queued: later rounds keep our place in line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._leave_quietly(key, names, token)
                raise LockTimeoutError(
                    f"session {key!r} stayed locked by another update for lock_wait="
                    f"{self._wait:g} s; nothing was written. A handler may be stuck, or "
                    "raise lock_wait",
                    key=key,
                )
            holder_left = reply[1] / 1000 if reply[1] > 0 else 0.001
            step = max(0.001, min(remaining, holder_left, _MAX_WAIT_STEP))
            try:
                with RedisErrors("lock wait", key):
                    # redis-py 7 and 8 type blpop differently; both return an awaitable here.
                    popped = await cast(
                        "Awaitable[list[bytes] | None]",
                        self._client.blpop([names[3]], timeout=step),
                    )
            except BaseException:
                await self._leave_quietly(key, names, token)
                raise
            if popped is not None:  # handed over: b"1" + value, or b"0" when there is none
                payload = popped[1]
                data = payload[1:] if payload[:1] == b"1" else None
                return await self._leased(key, names, token, data if read else None)

    async def _leased(self, key: str, names: list[str], token: str, data: Any) -> RedisLease:
        lease = RedisLease(self, key, names, token, None)
        if data is not None:
            try:
                lease.value = loads(key, data)
            except CorruptDataError:
                await lease.release()
                raise
        return lease

    async def _leave_quietly(self, key: str, names: list[str], token: str) -> None:
        # A waiter that gives up leaves the line (and passes the lock on if it was handed
        # over meanwhile); if Redis is unreachable, a lock handed to us frees within a lease.
        try:
            with RedisErrors("lock wait", key):
                await self._leave(keys=names, args=[token, self._lease_ms])
        except StorageError:
            return


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

    async def _end(
        self, operation: str, script: AsyncScript, args: list[Any], *, keep: bool
    ) -> None:
        if keep:
            if self._done:
                raise RuntimeError(f"the lease of session {self._key!r} already ended")
        else:
            self._finish()
        try:
            with RedisErrors(operation, self._key):
                done = await script(keys=self._names[:3], args=args)
        except StorageError:
            if keep:
                self._finish()
            await self._release_quietly()
            raise
        if not done:
            if keep:
                self._finish()
            raise LeaseLostError(
                f"the lock of session {self._key!r} expired or was taken over before the "
                f"{operation}; nothing was written. Raise lock_lease if handlers run longer, "
                "or check for a blocked event loop",
                key=self._key,
            )
        if keep and not self._done:  # renewed by the script: the next renewal moves too
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(
                self._locks._lease / 3, self._start_renewal
            )

    async def write(self, value: Any, *, keep: bool = False) -> None:
        """Write ``value`` and release the lock in one round trip; ``LeaseLostError`` if lost.

        With ``keep=True`` the lock is not released: the write is checked against the lease
        the same way, the lease is renewed in the same round trip, and ``value`` becomes
        this lease's ``value``, so a next update of the session in this process can go on
        under the same lease without reading. The lease must still be ended later.
        """
        data = dumps(self._key, value)
        locks = self._locks
        args = [self._token, locks._lease_ms, data, locks._ttl_ms, "1" if keep else "0"]
        await self._end("write", locks._save, args, keep=keep)
        self.value = value

    async def delete(self, *, keep: bool = False) -> None:
        """Delete the session and release the lock in one round trip; same guarantee.

        With ``keep=True`` the lock is kept and renewed, and ``value`` becomes ``None``.
        """
        locks = self._locks
        args = [self._token, locks._lease_ms, "1" if keep else "0"]
        await self._end("delete", locks._remove, args, keep=keep)
        self.value = None

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
                await locks._release(keys=self._names[:3], args=[self._token, locks._lease_ms])
        except StorageError:
            return
