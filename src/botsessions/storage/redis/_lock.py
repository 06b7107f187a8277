"""The Redis session lock: a lease with an owner token, taken and released by Lua scripts.

One update costs two round trips, the same as an unlocked read + write:

- ``ACQUIRE``: take the free lock (``SET token PX lease``) and ``GET`` the session, or join
  the line of waiters.
- ``SAVE`` / ``REMOVE`` / ``RELEASE``: only if the lock still holds our token, write (or
  delete) the session and release the lock, atomically. Otherwise the lease was lost (it
  expired, another owner took it) and nothing is written. ``keep=True`` writes and renews
  the lease instead of releasing it.

Waiters are served first come, first served (see ``_scripts``): a release hands the
lock to the oldest waiter, which is woken by ``BLPOP`` of its own wake-up list holding the
lock and the value. Each wait is bounded (by the remaining lease of the holder and by one
second) and then re-checks, so a crashed holder or a lost wake-up costs at most that.

Cancellation: redis-py can swallow a cancellation that lands while a command runs (the
cancelled call comes back with its reply). After each command of the lock paths, a task
whose cancellation count went up meanwhile gives back what the command took (the lock, its
place in line) and raises ``CancelledError``, so a cancelled ``acquire`` never returns a
lease nor leaves the lock held.

A holder renews its lease every ``lease / 3`` seconds through a ``call_later`` timer, which
costs nothing for the usual update that ends sooner.

The bookkeeping keys (lock, queue, wake-up lists) sit under the storage prefix followed by
the byte ``0xff``, which UTF-8 text never contains: no session key, whatever text it comes
from, can overwrite or block a lock, and enumeration skips them because their names are not
text. Session values stay at ``prefix + key``, where grammY's adapters look for them.

On a Redis Cluster the bookkeeping keys start with a ``{hash tag}`` that maps to the slot of
the session value (see ``_slots``), so every script touches one slot.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from botsessions._errors import CorruptDataError, LockTimeoutError, StorageError
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lease import BaseLease, log_lock_timeout
from botsessions.storage.redis._errors import RedisErrors
from botsessions.storage.redis._scripts import ACQUIRE, LEAVE, RELEASE, REMOVE, RENEW, SAVE
from botsessions.storage.redis._slots import key_slot, slot_tag

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

__all__ = ["BOOKKEEPING", "RedisLease", "RedisLocks", "bookkeeping_base"]

BOOKKEEPING = b"\xffbotsessions."
"""Lock keys are ``prefix + BOOKKEEPING + b"lock:" + key`` (and ``wait:``), as bytes."""


def bookkeeping_base(prefix: bytes, key: bytes, *, cluster: bool) -> bytes:
    """Where the lock keys of ``key`` start: ``base + b"lock:" + key``, ``base + b"wait:" + key``.

    On a cluster the base begins with the hash tag of the session value's slot.
    """
    base = prefix + BOOKKEEPING
    return slot_tag(key_slot(prefix + key)) + base if cluster else base


def _cancel_requests() -> int:
    """How many cancellations of the running task are pending (``Task.cancelling``)."""
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


_MAX_WAIT_STEP = 1.0  # seconds: bound of one BLPOP, in case a wake-up is lost
# Seconds of waiting the queue key outlives: every round of a waiter (at most
# _MAX_WAIT_STEP apart) renews it, so a queue whose waiters all died goes away soon.
_QUEUE_HOLD = 60.0


class RedisLocks:
    """Per-storage lock settings and registered scripts; builds one ``RedisLease`` per lock.

    ``wait`` is ``math.inf`` to wait for a busy lock as long as it takes.
    """

    __slots__ = (
        "_acquire",
        "_client",
        "_cluster",
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
        self,
        client: Redis | RedisCluster,
        prefix: str,
        *,
        wait: float,
        lease: float,
        ttl_ms: int | None,
        cluster: bool = False,
    ) -> None:
        self._client = client
        self._cluster = cluster
        self._prefix = prefix.encode()
        self._wait = wait
        self._lease = lease
        self._lease_ms = str(max(1, round(lease * 1000)))
        self._queue_ttl = str(round((min(wait, _QUEUE_HOLD) + lease) * 1000) + 1000)
        self._ttl_ms = "" if ttl_ms is None else str(ttl_ms)
        self._acquire = client.register_script(ACQUIRE)
        self._save = client.register_script(SAVE)
        self._remove = client.register_script(REMOVE)
        self._release = client.register_script(RELEASE)
        self._leave = client.register_script(LEAVE)
        self._renew = client.register_script(RENEW)

    async def acquire(self, key: str, *, read: bool) -> RedisLease:
        """Take the lock of ``key`` (reading its value in the same round trip when ``read``)."""
        with RedisErrors("lock", key):
            raw = key.encode()
        token = secrets.token_hex(16)
        base = bookkeeping_base(self._prefix, raw, cluster=self._cluster)
        queue = base + b"wait:" + raw
        names = [base + b"lock:" + raw, self._prefix + raw, queue, queue + b":" + token.encode()]
        args = [token, self._lease_ms, "1" if read else "0", "0", self._queue_ttl]
        deadline = time.monotonic() + self._wait
        cancels = _cancel_requests()
        while True:
            try:
                with RedisErrors("lock", key):
                    reply: list[Any] = await self._acquire(keys=names, args=args)
            except asyncio.CancelledError:
                # The script may have run: leave the line, or free the lock it took.
                await self._leave_quietly(key, names, token)
                raise
            if _cancel_requests() > cancels:  # a cancellation the driver swallowed
                await self._leave_quietly(key, names, token)
                raise asyncio.CancelledError
            if reply[0] == 1:
                return await self._leased(key, names, token, reply[1] if len(reply) > 1 else None)
            args[3] = "1"  # queued: later rounds keep our place in line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._leave_quietly(key, names, token)
                log_lock_timeout("RedisStorage", self._wait)
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
            if _cancel_requests() > cancels:
                await self._leave_quietly(key, names, token)  # also frees a lock handed over
                raise asyncio.CancelledError
            if popped is not None:  # handed over: b"1" + value, or b"0" when there is none
                payload = popped[1]
                data = payload[1:] if payload[:1] == b"1" else None
                return await self._leased(key, names, token, data if read else None)

    async def _leased(self, key: str, names: list[bytes], token: str, data: Any) -> RedisLease:
        lease = RedisLease(self, key, names, token)
        if data is not None:
            try:
                lease.value = loads(key, data)
            except CorruptDataError:
                await lease.release()
                raise
        return lease

    async def _leave_quietly(self, key: str, names: list[bytes], token: str) -> None:
        # A waiter that gives up leaves the line (and passes the lock on if it was handed
        # over meanwhile); if Redis is unreachable, a lock handed to us frees within a lease.
        try:
            with RedisErrors("lock wait", key):
                await self._leave(keys=names, args=[token, self._lease_ms])
        except StorageError:
            return


class RedisLease(BaseLease):
    """One held Redis lock: ``value`` read under it; ends with write, delete or release.

    ``write``/``delete`` save (or delete) and release in one script call, which checks the
    owner token first: a lease that expired and was taken over raises ``LeaseLostError``.
    """

    __slots__ = ("_locks", "_names", "_renewal", "_timer", "_token")

    def __init__(self, locks: RedisLocks, key: str, names: list[bytes], token: str) -> None:
        super().__init__(key, None)
        self._locks = locks
        self._names = names
        self._token = token
        self._renewal: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._schedule_renewal()

    def _schedule_renewal(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._locks._lease / 3, self._start_renewal)

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
            self._schedule_renewal()

    # -- BaseLease hooks ---------------------------------------------------------------------

    def _encode(self, value: Any) -> bytes:
        return dumps(self._key, value)

    async def _save(self, data: bytes, *, keep: bool) -> bool:
        locks = self._locks
        args: list[str | bytes] = [self._token, locks._lease_ms, data, locks._ttl_ms]
        args.append("1" if keep else "0")
        cancels = _cancel_requests()
        with RedisErrors("write", self._key):
            saved = bool(await locks._save(keys=self._names[:3], args=args))
        if cancels < _cancel_requests():
            raise asyncio.CancelledError  # the lease ends and its lock is released (keep)
        return saved

    async def _remove(self, *, keep: bool) -> bool:
        locks = self._locks
        args = [self._token, locks._lease_ms, "1" if keep else "0"]
        cancels = _cancel_requests()
        with RedisErrors("delete", self._key):
            removed = bool(await locks._remove(keys=self._names[:3], args=args))
        if cancels < _cancel_requests():
            raise asyncio.CancelledError
        return removed

    async def _unlock(self) -> None:
        # A lock that cannot be released (server unreachable) frees itself when its lease
        # expires; raising here would only hide the error that ended the update.
        locks = self._locks
        try:
            with RedisErrors("unlock", self._key):
                await locks._release(keys=self._names[:3], args=[self._token, locks._lease_ms])
        except StorageError:
            return

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _kept(self) -> None:
        # The script renewed the lease: the next renewal moves too.
        self._stop()
        self._schedule_renewal()

    def _lost_message(self, operation: str) -> str:
        return (
            f"the lock of session {self._key!r} expired or was taken over before the "
            f"{operation}; nothing was written. Raise lock_lease if handlers run longer, "
            "or check for a blocked event loop"
        )
