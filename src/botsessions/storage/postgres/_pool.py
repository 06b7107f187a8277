"""Pool connections for session locks and plain operations: bounded, reserved, shared.

A held session lock keeps one pooled connection checked out for the whole update (the
advisory lock lives on it). Left alone, updates could take every connection of the pool
and then wait, inside their handlers, for a connection only they can give back. Four rules
rule that out:

* **Every wait is bounded.** A lease waits at most ``lock_wait`` for its connection, a
  plain operation (read, write, delete, has, a page of an enumeration, a purge) at most
  ``pool_timeout``. Running out raises ``PoolTimeout``, which ``PostgresErrors`` turns into
  ``LockTimeoutError`` or ``StorageError`` naming the key, the pool size and what to do.
* **A reserve.** Of a pool of N >= 2 connections, leases hold at most N - 1 at a time (a
  semaphore taken before the pool is asked), so plain operations of code that holds no lock
  always find a connection soon: each is one statement and gives its connection back at
  once.
* **Plain operations of a lock holder borrow its connection.** Code that runs in the
  context of a held lease of this storage (the handler, or a task it started) runs its plain
  operations on that lease's connection and needs no second one; with a pool of 1 a handler
  can still read. Statements on a connection run one at a time (``asyncio.Lock``), since a
  connection runs one statement at a time. A borrowed connection that is left inside a
  transaction is closed (its locks go with it, and the lease's write is then refused) rather
  than letting the lease's save run inside someone else's transaction.
* **An update never waits for a second connection.** When no lease slot is free, a lease
  taken by the task that took an earlier, still untouched one (the fragments of a multi
  session, locked one after the other) is taken on that lease's connection instead of
  waiting: advisory locks are per connection and one connection can hold many. Otherwise
  updates holding one connection each and waiting for a second could block each other
  until ``lock_wait``. Never twice the same lock (advisory locks are re-entrant per
  connection, which would defeat the lock), and never once a lease on the connection ended
  or was kept for a handoff, so leases of different updates never share.

The connection goes back to the pool when its last lease ends, and never while a borrowed
statement still runs on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from botsessions.storage.postgres._errors import PoolTimeout

if TYPE_CHECKING:
    from asyncpg import Pool
    from asyncpg.pool import PoolConnectionProxy

__all__ = ["ConnectionGate", "LockConnection", "is_closed", "terminate"]

# The lock connections visible to the running code: set when a lease takes a connection, in
# the context of the task that takes it, so its handler and the tasks that handler starts
# see it. Entries whose connection went back to the pool are dropped on the next set.
_held: ContextVar[tuple[LockConnection, ...]] = ContextVar("botsessions_pg_locks", default=())


def is_closed(conn: PoolConnectionProxy) -> bool:
    """Whether ``conn`` is closed (a proxy asyncpg detached counts as closed)."""
    try:
        return conn.is_closed()
    except Exception:  # asyncpg detaches the proxy of a connection the server closed
        return True


def terminate(conn: PoolConnectionProxy) -> None:
    """Close ``conn`` at once; every advisory lock it holds is freed by the server."""
    try:
        conn.terminate()
    except Exception:  # already detached: the connection is gone, and its locks with it
        return


class LockConnection:
    """A pooled connection checked out for one or more leases of one update.

    ``lock`` serializes every statement on it (the leases' and borrowed ones); ``leases``
    counts the leases on it, ``lock_ids`` their advisory locks.
    """

    __slots__ = ("conn", "gate", "leases", "lock", "lock_ids", "owner", "released", "shareable")

    def __init__(
        self,
        gate: ConnectionGate,
        conn: PoolConnectionProxy,
        owner: asyncio.Task[Any] | None,
        lock_id: int,
    ) -> None:
        self.gate = gate
        self.conn = conn
        self.owner = owner
        self.lock = asyncio.Lock()
        self.lock_ids = {lock_id}
        self.leases = 1
        self.shareable = True
        self.released = False

    def __repr__(self) -> str:
        return f"<LockConnection leases={self.leases} released={self.released}>"

    def usable(self) -> bool:
        """Still checked out for a lease, and open."""
        return self.leases > 0 and not self.released and not is_closed(self.conn)


class ConnectionGate:
    """Hands out the connections of one storage's pool, with the rules of this module.

    The plain-operation methods mirror ``asyncpg.Pool``'s (``fetchval``, ``fetchrow``,
    ``fetch``, ``execute``, ``acquire``), each bounded by ``pool_timeout``; leases get their
    connection from ``lease_connection`` and give it back with ``lease_ended``.
    """

    __slots__ = ("_lease_slots", "_pool", "_pool_timeout", "lease_limit", "size")

    def __init__(self, pool: Pool, *, pool_timeout: float | None) -> None:
        self._pool = pool
        self._pool_timeout = pool_timeout
        self.size: int = pool.get_max_size()
        # A pool of one cannot keep a reserve: its leases' holders borrow their connection.
        self.lease_limit = self.size - 1 if self.size > 1 else 1
        self._lease_slots = asyncio.Semaphore(self.lease_limit)

    def __repr__(self) -> str:
        return f"<ConnectionGate size={self.size} lease_limit={self.lease_limit}>"

    # -- plain operations ------------------------------------------------------------------

    async def fetchval(self, query: str, *args: Any) -> Any:
        """``Connection.fetchval`` on a borrowed or pooled connection."""
        return await self._run("fetchval", query, args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """``Connection.fetchrow`` on a borrowed or pooled connection."""
        return await self._run("fetchrow", query, args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """``Connection.fetch`` on a borrowed or pooled connection."""
        rows: list[Any] = await self._run("fetch", query, args)
        return rows

    async def execute(self, query: str, *args: Any) -> str:
        """``Connection.execute`` on a borrowed or pooled connection."""
        status: str = await self._run("execute", query, args)
        return status

    async def _run(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        conn, shared = await self._checkout()
        try:
            return await getattr(conn, method)(query, *args)
        finally:
            await self._checkin(conn, shared)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[PoolConnectionProxy]:
        """A connection for several statements (a transaction), borrowed or pooled."""
        conn, shared = await self._checkout()
        try:
            yield conn
        finally:
            await self._checkin(conn, shared)

    async def _checkout(self) -> tuple[PoolConnectionProxy, LockConnection | None]:
        for shared in _held.get():
            if shared.gate is self and shared.usable():
                await shared.lock.acquire()
                if shared.usable():
                    return shared.conn, shared
                shared.lock.release()
                break
        scope = asyncio.timeout(self._pool_timeout)
        try:
            async with scope:
                conn: PoolConnectionProxy = await self._pool.acquire()
        except TimeoutError:
            if scope.expired():
                raise PoolTimeout(self._plain_exhausted(), lease=False) from None
            raise
        return conn, None

    async def _checkin(self, conn: PoolConnectionProxy, shared: LockConnection | None) -> None:
        if shared is None:
            await self._pool.release(conn)
            return
        if not is_closed(conn) and conn.is_in_transaction():
            terminate(conn)  # a lease's save must never run inside this transaction
        shared.lock.release()
        if shared.leases == 0:  # its last lease ended while this statement ran
            await self._give_back(shared)

    # -- leases ----------------------------------------------------------------------------

    async def lease_connection(self, lock_id: int, wait: float | None) -> LockConnection:
        """The connection for a new lease of ``lock_id``: shared, or taken within ``wait``.

        Raises:
            PoolTimeout: no connection became free within ``wait`` seconds.
        """
        owner = asyncio.current_task()
        held = _held.get()
        slots = self._lease_slots
        for shared in held if slots.locked() else ():
            if (
                shared.gate is self
                and shared.owner is owner
                and shared.shareable
                and lock_id not in shared.lock_ids
                and shared.usable()
            ):
                shared.leases += 1
                shared.lock_ids.add(lock_id)
                return shared
        scope = asyncio.timeout(wait)
        try:
            async with scope:
                await slots.acquire()
                try:
                    conn: PoolConnectionProxy = await self._pool.acquire()
                except BaseException:
                    slots.release()
                    raise
        except TimeoutError:
            if scope.expired():
                raise PoolTimeout(self._lease_exhausted(wait), lease=True) from None
            raise
        shared = LockConnection(self, conn, owner, lock_id)
        _held.set((*(s for s in held if s.leases > 0 and not s.released), shared))
        return shared

    async def run_on(self, shared: LockConnection, query: str, *args: Any) -> bool:
        """Run ``query`` on a lease's connection once the statements before it are done.

        Returns ``False`` without running it when the connection went back to the pool
        (or closed) first. The connection goes back to the pool afterwards if its last
        lease ended while the statement ran.
        """
        await shared.lock.acquire()
        try:
            if not shared.usable():
                return False
            await shared.conn.fetchval(query, *args)
            return True
        finally:
            shared.lock.release()
            if shared.leases == 0:
                await self._give_back(shared)

    async def lease_ended(self, shared: LockConnection, lock_id: int) -> None:
        """One lease on ``shared`` ended: the connection goes back with the last one."""
        shared.shareable = False
        shared.lock_ids.discard(lock_id)
        shared.leases -= 1
        if shared.leases == 0 and not shared.lock.locked():
            await self._give_back(shared)  # else the statement running on it gives it back

    async def _give_back(self, shared: LockConnection) -> None:
        if shared.released:
            return
        shared.released = True
        try:
            await self._pool.release(shared.conn)  # asyncpg shields it from cancellation
        finally:
            self._lease_slots.release()

    # -- messages --------------------------------------------------------------------------

    def _reserve(self) -> str:
        if self.size == 1:
            return "a pool of 1 keeps no connection for other operations"
        return f"the other {self.size - self.lease_limit} is kept for other operations"

    def _advice(self, option: str) -> str:
        return (
            "Raise the pool size (max_size=, or the max_size of the pool you passed), "
            f"handle fewer updates at once, or raise {option}"
        )

    def _lease_exhausted(self, wait: float | None) -> str:
        return (
            f"no pool connection became free within lock_wait ({wait} s): the pool of "
            f"{self.size} connections is exhausted by updates holding session locks (at "
            f"most {self.lease_limit} hold one at a time; {self._reserve()}). "
            f"Nothing was written. {self._advice('lock_wait')}"
        )

    def _plain_exhausted(self) -> str:
        return (
            f"no pool connection became free within pool_timeout ({self._pool_timeout} s):"
            f" the pool of {self.size} connections is exhausted by updates holding session "
            f"locks and other operations ({self._reserve()}). {self._advice('pool_timeout')}"
        )
