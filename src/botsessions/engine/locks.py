"""KeyedLock: one FIFO mutex per session key, costing nothing for keys nobody holds.

Bookkeeping lives only while a key is held: an uncontended acquire is one dict insert
and its release one dict delete (no ``asyncio.Lock``, no future). A waiter queue is
created only when a second update asks for a held key, and disappears with the last
waiter, so a bot that has seen a million chats holds no million locks.

Ownership is handed from the releasing holder straight to the oldest waiter, so a late
arrival can never overtake queued updates (no barging, no starvation). A holder may hand
a payload along with the key (``hand_over``): the storage lease it still holds, so the
next update of the session needs no round trip to lock and read. A payload is never
lost: a waiter cancelled as one reaches it passes it to the next waiter, or, when none
is left, frees the key and ends the payload (``Payload.drop``).

Deadlock rules:

* Keys are taken in a fixed global order (``acquire_all`` sorts them), so updates that
  need several keys (multi sessions) cannot wait on each other in a cycle.
* If the task that holds a key asks for it again (a handler awaited another update of
  the same session), waiting would never end: ``LockError`` is raised at once.

Owners: a holder is recorded with an *owner*, the object that can tell whether the holder
runs in the task now asking for the same key. That question comes up only when someone
would wait, so an owner need not know its task up front: asking asyncio for the current
task costs about 0.25 µs on Python 3.11, a large part of an uncontended update. An
``asyncio.Task`` is an owner (it runs here when it is the current task), and so is any
``LazyOwner``: the engine's update objects, which answer from the handler coroutine they
are awaiting (a coroutine is running only on the stack of the running task).
* ``wait`` bounds any other wait and raises ``LockTimeoutError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from botsessions._errors import LockError, LockTimeoutError

__all__ = [
    "KeyedLock",
    "LazyOwner",
    "Owner",
    "Payload",
    "acquire_all",
    "give_back",
    "release_all",
    "take_free",
    "update_runs_here",
]

_serials = itertools.count()


class Payload(Protocol):
    """What a holder can hand to the next holder along with a key (a held storage lease)."""

    async def drop(self) -> None:
        """End it: nobody is left to take it over. Must not raise ``Exception``."""


@runtime_checkable
class LazyOwner(Protocol):
    """An owner that finds out its task only when asked (see the module docstring)."""

    def runs_here(self) -> bool:
        """Whether the holder runs in the task that is running now."""
        ...


Owner: TypeAlias = "asyncio.Task[Any] | LazyOwner | None"
"""Who holds a key: a task, a ``LazyOwner``, or ``None`` (never the asking task)."""


def runs_here(owner: Owner) -> bool:
    """Whether ``owner`` is the running task (so waiting for it would never end)."""
    if owner is None:
        return False
    if isinstance(owner, asyncio.Task):  # a plain class check: a protocol check costs ~50 µs
        return owner is asyncio.current_task()
    return owner.runs_here()


def update_runs_here(handler: Coroutine[Any, Any, Any] | None, task: Owner) -> bool:
    """``LazyOwner.runs_here`` of an update: its handler coroutine is running (a coroutine
    runs only on the stack of the running task); without one, ``task`` is running."""
    if handler is not None:
        return inspect.getcoroutinestate(handler) == inspect.CORO_RUNNING
    return runs_here(task)


_Entry = tuple["asyncio.Future[Payload | None]", Owner]


class KeyedLock:
    """A family of mutexes, one per string key.

    ``owners`` maps each held key to its holder and ``queues`` each key with waiters to
    them, oldest first. They are read and written here, and by the engine's fast path
    (``engine.single``), which takes a free key and frees one nobody waits for without a
    call; anything else goes through the methods.
    """

    __slots__ = ("__weakref__", "owners", "queues", "serial")

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}
        self.queues: dict[str, deque[_Entry]] = {}
        self.serial = next(_serials)  # its place in the global lock order

    def __len__(self) -> int:
        """How many keys are held right now (the size of the bookkeeping)."""
        return len(self.owners)

    def locked(self, key: str) -> bool:
        """Whether ``key`` is held."""
        return key in self.owners

    def waiting(self, key: str) -> int:
        """How many acquirers are queued for ``key``."""
        queue = self.queues.get(key)
        return len(queue) if queue else 0

    def try_acquire(self, key: str, owner: Owner) -> bool:
        """Take ``key`` if free, without waiting."""
        if key in self.owners:
            return False
        self.owners[key] = owner
        return True

    def refuse_reentry(self, key: str) -> None:
        """Raise ``LockError`` when the running task holds ``key`` (see ``acquire``)."""
        if key in self.owners and runs_here(self.owners[key]):
            raise LockError(
                f"session key {key!r} is already held by this task: a handler awaited "
                "another update of the same session, which would wait for itself forever; "
                "run it in its own task (asyncio.create_task) instead",
                key=key,
            )

    async def acquire(self, key: str, owner: Owner, wait: float | None = None) -> Payload | None:
        """Take ``key``, waiting in FIFO order while another task holds it.

        Returns the payload the previous holder handed over with the key (``hand_over``),
        else ``None``. The new holder owns it: it must use it, or pass it on or drop it.

        Raises:
            LockError: the running task already holds ``key`` (waiting would deadlock).
            LockTimeoutError: ``wait`` seconds passed first; nothing is held then.
            asyncio.CancelledError: cancelled while waiting; nothing is held then.
        """
        owners = self.owners
        if key not in owners:
            owners[key] = owner
            return None
        self.refuse_reentry(key)
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = deque()
        waiter: asyncio.Future[Payload | None] = asyncio.get_running_loop().create_future()
        entry = (waiter, owner)
        queue.append(entry)
        try:
            if wait is None:
                payload = await waiter
            else:
                async with asyncio.timeout(wait):
                    payload = await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Ownership arrived together with the cancellation: pass it on.
                await give_back(self, key, waiter.result())
            else:
                self._forget(key, entry)
            if isinstance(exc, TimeoutError):
                raise LockTimeoutError(
                    f"session key {key!r} stayed locked by another update for more than "
                    f"{wait} s (raise lock_timeout, or look for a handler that waits "
                    "on another update of the same session)",
                    key=key,
                ) from exc
            raise
        return payload

    def release(self, key: str) -> None:
        """Release ``key``: the oldest waiter becomes the holder, or the key is forgotten."""
        if key in self.queues and self.hand_over(key, None):
            return
        del self.owners[key]

    def hand_over(self, key: str, payload: Payload | None) -> bool:
        """Make the oldest waiter for ``key`` its holder, handing it ``payload`` (if any) too.

        Returns ``False`` when nobody waits: the caller still holds ``key`` (and the payload).
        """
        queue = self.queues.get(key)
        while queue:
            waiter, owner = queue.popleft()
            if not waiter.done():
                if not queue:
                    del self.queues[key]
                self.owners[key] = owner
                waiter.set_result(payload)
                return True
        if queue is not None:
            del self.queues[key]
        return False

    def _forget(self, key: str, entry: _Entry) -> None:
        queue = self.queues.get(key)
        if queue is None:
            return
        with contextlib.suppress(ValueError):  # already handed over and skipped
            queue.remove(entry)
        if not queue:
            del self.queues[key]


async def give_back(lock: KeyedLock, key: str, payload: Payload | None) -> None:
    """Give up a held ``key``: hand it to the next waiter with ``payload``, or release it
    and drop ``payload`` when nobody waits."""
    if payload is None:
        lock.release(key)
    elif not lock.hand_over(key, payload):
        lock.release(key)
        await payload.drop()


async def acquire_all(
    pairs: Sequence[tuple[KeyedLock, str]],
    owner: Owner,
    wait: float | None,
) -> list[Payload | None] | None:
    """Take every ``(lock, key)`` pair; ``pairs`` must be sorted and free of duplicates.

    Returns the payloads handed over with the pairs (aligned with ``pairs``), or ``None``
    when there was none. On any failure (timeout, cancellation) every pair taken so far is
    given back (``give_back``) with its payload.
    """
    payloads: list[Payload | None] = []
    try:
        for lock, key in pairs:
            payloads.append(
                None if lock.try_acquire(key, owner) else await lock.acquire(key, owner, wait)
            )
    except BaseException:
        taken = zip(pairs[: len(payloads)], payloads, strict=True)
        for (lock, key), payload in reversed(list(taken)):
            await give_back(lock, key, payload)
        raise
    return payloads if any(p is not None for p in payloads) else None


def take_free(pairs: Sequence[tuple[KeyedLock, str]], owner: Owner) -> int:
    """Take pairs in order without waiting, up to the first held one; how many were taken.

    ``acquire_all(pairs[taken:], ...)`` then takes the rest, in the same order.
    """
    taken = 0
    for lock, key in pairs:
        if not lock.try_acquire(key, owner):
            break
        taken += 1
    return taken


def release_all(pairs: Sequence[tuple[KeyedLock, str]]) -> None:
    """Release pairs taken by ``acquire_all`` (reverse order)."""
    for lock, key in reversed(pairs):
        lock.release(key)


def lock_order(pair: tuple[KeyedLock, str]) -> tuple[int, str]:
    """The global order in which pairs are taken."""
    return pair[0].serial, pair[1]
