"""The Redis session lock: a lease with an owner token, taken and released by Lua scripts.

One update costs two round trips, the same as an unlocked read + write:

- ``ACQUIRE``: take the free lock (``SET token NX PX lease``) and ``GET`` the session, or
  join the line of waiters.
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

Renewal: each ``RedisLocks`` keeps its held leases with the time of their last renewal, and
one timer per storage sweeps them every ``lease / 6`` seconds, renewing those held for
``lease / 6`` or more. A lease is thus renewed at most ``lease / 3`` after it was taken or
last renewed, and an update that ends sooner costs a dict entry, not a timer.

The fast path of an update (what it saves, per lock + read and per write + unlock; bench
``W2-redis``/``W2u-redis`` show it as round trips per update, ``W3`` as time over the
serial floor): each script is sent as one pre-packed ``EVALSHA`` (``_evalsha``: through
the client's own pool and retry policy, no ``Script`` object; a ``NOSCRIPT`` reply loads
the script and retries, as redis-py's ``Script`` does), with every argument already
bytes (key names built once per lease, settings once per storage), a token that is a
per-process random prefix plus a counter (no ``os.urandom`` per update), a reply of one
bulk string or integer (no array to parse), and the renewal sweep above instead of one
``call_later`` timer per lease.

The bookkeeping keys (lock, queue, wake-up lists) sit under the storage prefix followed by
the byte ``0xff``, which UTF-8 text never contains: no session key, whatever text it comes
from, can overwrite or block a lock, and enumeration skips them because their names are not
text. Session values stay at ``prefix + key``, where grammY's adapters look for them.

On a Redis Cluster the bookkeeping keys start with a ``{hash tag}`` that maps to the slot of
the session value (see ``_slots``), so every script touches one slot; ``execute_command``
of a ``RedisCluster`` routes ``EVALSHA`` by its keys, and ``SCRIPT LOAD`` reaches every
primary.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from botsessions._errors import CorruptDataError, LockTimeoutError, StorageError
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lease import BaseLease, log_lock_timeout
from botsessions.storage.redis._errors import RedisErrors
from botsessions.storage.redis._evalsha import LuaScript
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


class _Tokens:
    """Owner tokens unique across processes: a random prefix per process plus a counter.

    A forked child draws a new prefix, so parent and child never hand out the same token.
    """

    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(12).encode()
        self.counter = itertools.count(1)

    def next(self) -> bytes:
        return b"%s.%x" % (self.prefix, next(self.counter))


_tokens = _Tokens()
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere there is no fork
    os.register_at_fork(after_in_child=_tokens.reset)


def _cancel_requests() -> int:
    """How many cancellations of the running task are pending (``Task.cancelling``)."""
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


_MAX_WAIT_STEP = 1.0  # seconds: bound of one BLPOP, in case a wake-up is lost
# Seconds of waiting the queue key outlives: every round of a waiter (at most
# _MAX_WAIT_STEP apart) renews it, so a queue whose waiters all died goes away soon.
_QUEUE_HOLD = 60.0
_YES, _NO = b"1", b"0"


class RedisLocks:
    """Per-storage lock settings, scripts and held leases; builds one ``RedisLease`` per lock.

    ``wait`` is ``math.inf`` to wait for a busy lock as long as it takes.
    """

    __slots__ = (
        "_acquire",
        "_client",
        "_cluster",
        "_held",
        "_lease",
        "_lease_ms",
        "_leave",
        "_prefix",
        "_queue_ttl",
        "_release",
        "_remove",
        "_renew",
        "_renew_after",
        "_save",
        "_sweep",
        "_sweep_loop",
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
        self._lease_ms = str(max(1, round(lease * 1000))).encode()
        self._queue_ttl = str(round((min(wait, _QUEUE_HOLD) + lease) * 1000) + 1000).encode()
        self._ttl_ms = b"" if ttl_ms is None else str(ttl_ms).encode()
        # KEYS of ACQUIRE and LEAVE: lock, session, queue, own wake-up list; of SAVE,
        # REMOVE and RELEASE the first three; of RENEW the lock.
        self._acquire = LuaScript(client, ACQUIRE, numkeys=4)
        self._save = LuaScript(client, SAVE, numkeys=3)
        self._remove = LuaScript(client, REMOVE, numkeys=3)
        self._release = LuaScript(client, RELEASE, numkeys=3)
        self._leave = LuaScript(client, LEAVE, numkeys=4)
        self._renew = LuaScript(client, RENEW, numkeys=1)
        # Held leases -> loop time of their last renewal; swept by one timer (see top).
        self._held: dict[RedisLease, float] = {}
        self._renew_after = lease / 6
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self, key: str, *, read: bool) -> RedisLease:
        """Take the lock of ``key`` (reading its value in the same round trip when ``read``)."""
        with RedisErrors("lock", key):
            raw = key.encode()
        token = _tokens.next()
        base = bookkeeping_base(self._prefix, raw, cluster=self._cluster)
        queue = base + b"wait:" + raw
        names = (base + b"lock:" + raw, self._prefix + raw, queue, queue + b":" + token)
        read_flag = _YES if read else _NO
        deadline = time.monotonic() + self._wait
        cancels = _cancel_requests()
        queued = _NO
        while True:
            try:
                reply: Any = await self._acquire(
                    *names, token, self._lease_ms, read_flag, queued, self._queue_ttl
                )
            except asyncio.CancelledError:
                # The script may have run: leave the line, or free the lock it took.
                await self._leave_quietly(key, names, token)
                raise
            except Exception as exc:
                RedisErrors.reraise("lock", key, exc)
                raise
            if _cancel_requests() > cancels:  # a cancellation the driver swallowed
                await self._leave_quietly(key, names, token)
                raise asyncio.CancelledError
            if reply.__class__ is not int:  # locked: the value (or None), see ACQUIRE
                return await self._leased(key, names, token, reply)
            queued = _YES  # later rounds keep our place in line
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
            holder_left = reply / 1000 if reply > 0 else 0.001
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

    async def _leased(
        self, key: str, names: tuple[bytes, ...], token: bytes, data: bytes | None
    ) -> RedisLease:
        lease = RedisLease(self, key, names, token)
        self._hold(lease)
        if data is not None:
            try:
                lease.value = loads(key, data)
            except CorruptDataError:
                await lease.release()
                raise
        return lease

    async def _leave_quietly(self, key: str, names: tuple[bytes, ...], token: bytes) -> None:
        # A waiter that gives up leaves the line (and passes the lock on if it was handed
        # over meanwhile); if Redis is unreachable, a lock handed to us frees within a lease.
        try:
            with RedisErrors("lock wait", key):
                await self._leave(*names, token, self._lease_ms)
        except StorageError:
            return

    # -- renewal -----------------------------------------------------------------------------

    def _hold(self, lease: RedisLease) -> None:
        """Start renewing ``lease`` (just taken, or just renewed by a ``keep`` write)."""
        loop = asyncio.get_running_loop()
        self._held[lease] = loop.time()
        if self._sweep_loop is not loop:  # first lease, or a new event loop
            self._arm(loop)

    def _drop(self, lease: RedisLease) -> None:
        self._held.pop(lease, None)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep_loop = loop
        self._sweep = loop.call_later(self._renew_after, self._sweep_held)

    def _sweep_held(self) -> None:
        loop = self._sweep_loop
        self._sweep = self._sweep_loop = None
        if loop is None or not self._held:
            return  # the next lease arms the sweep again
        due = loop.time() - self._renew_after
        for lease, renewed in list(self._held.items()):
            if renewed <= due:
                self._held[lease] = loop.time()
                lease.start_renewal(loop)
        self._arm(loop)

    async def _renew_one(self, lease: RedisLease) -> None:
        try:
            renewed = await self._renew(lease._names[0], lease._token, self._lease_ms)
        except Exception:
            renewed = 1  # a transient failure: try again; the save checks the owner anyway
        if not renewed:
            self._drop(lease)  # lost: nothing left to renew


class RedisLease(BaseLease):
    """One held Redis lock: ``value`` read under it; ends with write, delete or release.

    ``write``/``delete`` save (or delete) and release in one script call, which checks the
    owner token first: a lease that expired and was taken over raises ``LeaseLostError``.
    """

    __slots__ = ("_locks", "_names", "_renewal", "_token")

    def __init__(self, locks: RedisLocks, key: str, names: tuple[bytes, ...], token: bytes) -> None:
        super().__init__(key, None)
        self._locks = locks
        self._names = names
        self._token = token
        self._renewal: asyncio.Task[None] | None = None

    def start_renewal(self, loop: asyncio.AbstractEventLoop) -> None:
        """Renew the lease now, in the background (called by the sweep of ``RedisLocks``)."""
        if not self._done:
            self._renewal = loop.create_task(self._locks._renew_one(self))

    # -- BaseLease hooks ---------------------------------------------------------------------

    def _encode(self, value: Any) -> bytes:
        return dumps(self._key, value)

    async def _save(self, data: bytes, *, keep: bool) -> bool:
        locks = self._locks
        lock, session, queue = self._names[:3]
        cancels = _cancel_requests()
        try:
            saved = await locks._save(
                lock,
                session,
                queue,
                self._token,
                locks._lease_ms,
                data,
                locks._ttl_ms,
                _YES if keep else _NO,
            )
        except Exception as exc:
            RedisErrors.reraise("write", self._key, exc)
            raise
        if cancels < _cancel_requests():
            raise asyncio.CancelledError  # the lease ends and its lock is released (keep)
        return bool(saved)

    async def _remove(self, *, keep: bool) -> bool:
        locks = self._locks
        lock, session, queue = self._names[:3]
        cancels = _cancel_requests()
        try:
            removed = await locks._remove(
                lock, session, queue, self._token, locks._lease_ms, _YES if keep else _NO
            )
        except Exception as exc:
            RedisErrors.reraise("delete", self._key, exc)
            raise
        if cancels < _cancel_requests():
            raise asyncio.CancelledError
        return bool(removed)

    async def _unlock(self) -> None:
        # A lock that cannot be released (server unreachable) frees itself when its lease
        # expires; raising here would only hide the error that ended the update.
        locks = self._locks
        lock, session, queue = self._names[:3]
        try:
            await locks._release(lock, session, queue, self._token, locks._lease_ms)
        except RedisErrors.errors:
            return

    def _stop(self) -> None:
        self._locks._drop(self)

    def _kept(self) -> None:
        # The script renewed the lease: the next renewal counts from now.
        self._locks._hold(self)

    def _lost_message(self, operation: str) -> str:
        return (
            f"the lock of session {self._key!r} expired or was taken over before the "
            f"{operation}; nothing was written. Raise lock_lease if handlers run longer, "
            "or check for a blocked event loop"
        )
