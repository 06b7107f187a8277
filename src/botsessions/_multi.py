"""MultiUpdate: one update of a multi session, every fragment locked in a fixed order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from botsessions._engine import LOADED, NO_KEY, PropertySession
from botsessions._locks import (
    KeyedLock,
    acquire_all,
    current_task,
    lock_order,
    release_all,
    take_free,
)

if TYPE_CHECKING:
    from botsessions._manager import SessionManager

__all__ = ["MultiUpdate", "fragment_class"]


class _Fragments:
    """``ctx.session`` of a multi session: one attribute per fragment."""

    __slots__ = ("_props",)
    _names: tuple[str, ...] = ()
    _props: list[PropertySession]

    def __init__(self, props: list[PropertySession]) -> None:
        object.__setattr__(self, "_props", props)

    def __repr__(self) -> str:
        return f"<session fragments: {', '.join(self._names)}>"


def fragment_class(names: list[str]) -> type[_Fragments]:
    """The ``ctx.session`` class of a multi session: a property per fragment name."""

    def accessor(index: int) -> property:
        def get(self: _Fragments) -> Any:
            return self._props[index].get()

        def set_(self: _Fragments, value: Any) -> None:
            self._props[index].set(value)

        return property(get, set_, doc=f"The {names[index]!r} fragment.")

    namespace: dict[str, Any] = {"__slots__": (), "_names": tuple(names)}
    for index, name in enumerate(names):
        namespace[name] = accessor(index)
    return type("SessionFragments", (_Fragments,), namespace)


class MultiUpdate:
    """One update of a multi session: every fragment, locked in a fixed order."""

    __slots__ = ("_container", "_ctx", "_ending", "_manager", "_pairs", "_props")

    def __init__(self, manager: SessionManager, ctx: Any) -> None:
        self._manager = manager
        self._ctx = ctx
        self._props = [PropertySession(spec) for spec in manager.specs]
        self._pairs: list[tuple[KeyedLock, str]] = []
        self._ending = self._props  # the order in which fragments end
        self._container: _Fragments = manager.fragments(self._props)

    key = None
    """Multi sessions have one key per fragment (``ctx.session_key`` is ``None``)."""

    @property
    def slot(self) -> MultiUpdate:
        return self

    def get(self) -> _Fragments:
        return self._container

    def set(self, value: Any) -> None:
        if value is not None:
            raise TypeError(
                "ctx.session of a multi session cannot be replaced; assign its fragments "
                "(ctx.session.<fragment> = ...) or assign None to delete every fragment"
            )
        for prop in self._props:
            if prop.state == NO_KEY:
                prop.set(None)  # raises SessionKeyError before anything changes
        for prop in self._props:
            prop.set(None)

    def enter(self) -> Awaitable[Any]:
        """``SingleUpdate.enter`` for multi sessions (always an awaitable)."""
        return self.__aenter__()

    def leave(self) -> Awaitable[None]:
        """``SingleUpdate.leave`` for multi sessions (always an awaitable)."""
        return self.__aexit__(None, None, None)

    def fail(self) -> Awaitable[None]:
        """``SingleUpdate.fail`` for multi sessions."""
        return self.__aexit__(BaseException, None, None)

    async def __aenter__(self) -> MultiUpdate:
        ctx = self._ctx
        self._ctx = None
        owner = current_task()
        props = self._props
        for prop in props:
            pending = prop.key_now(ctx)
            if pending is not None:
                await pending
            prop.owner = owner
        keyed = [p for p in props if p.key is not None]
        pairs = sorted(
            {(p.spec.locks, p.key) for p in keyed if p.spec.locks is not None}, key=lock_order
        )
        taken = take_free(pairs, owner)
        handed = None
        if taken < len(pairs):
            try:
                handed = await acquire_all(pairs[taken:], owner, self._manager.lock_timeout)
            except BaseException:
                release_all(pairs[:taken])
                raise
        self._pairs = pairs
        if self._manager.leases:
            # A fragment with a storage lease owns its key's in-process lock, so that it
            # can hand both to the next update of that key (``_handoff``).
            self._pairs = _own_leased_keys(keyed, pairs, taken, handed)
        try:
            _check_shared_leases(keyed)
            ordered = sorted(keyed, key=_prop_order)
            if self._manager.leases:
                self._ending = ordered  # lock order: see _end_all
            if self._manager.sync_reads:
                for prop in ordered:
                    prop.read_blob_now()
                    prop.state = LOADED
            else:
                await _read_all(ordered)
        except BaseException:
            try:
                for prop in keyed:
                    await prop.abort()
            finally:
                for prop in keyed:
                    prop.unlock()
                release_all(self._pairs)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        props = self._ending
        try:
            if exc_type is not None:
                for prop in props:
                    await (_after(prop, prop.abort()) if prop.locked else prop.abort())
                return
            error: BaseException | None = None
            for prop in props:
                try:
                    pending = prop.save_now()
                    if pending is not None:
                        await (_after(prop, pending) if prop.locked else pending)
                except BaseException as failure:  # other fragments still end their leases
                    if error is None:
                        error = failure
                    await prop.abort()
            if error is not None:
                raise error
        finally:
            try:
                for prop in props:
                    if prop.lease is not None:  # interrupted before its turn
                        await prop.abort()
            finally:
                for prop in props:
                    prop.unlock()  # a no-op for a fragment whose key went on with its lease
                release_all(self._pairs)


async def _after(prop: PropertySession, ending: Awaitable[None]) -> None:
    """Await the end of ``prop``; after a handoff, let the update that took the key run.

    Fragments end in lock order. The update that just got this key wants the following
    keys next (updates of one multi session usually share them): one turn of the event
    loop lets it queue for them, so they are handed over too instead of released.
    """
    locked = prop.locked
    await ending
    if locked and not prop.locked:
        await asyncio.sleep(0)


async def _read_all(props: list[PropertySession]) -> None:
    """Read every fragment: storage leases one by one in lock order (they are locks too,
    and a fixed order is what rules out deadlocks between processes), synchronous reads
    inline, and the remaining asynchronous reads concurrently."""
    concurrent: list[PropertySession] = []
    for prop in props:
        spec = prop.spec
        if spec.lease is None and spec.read_blob is None and spec.sync_read is None:
            concurrent.append(prop)
        else:
            await prop.read()
    if len(concurrent) == 1:
        await concurrent[0].read()
    elif concurrent:
        # Every read ends before an error is raised: none is left running after the update.
        results = await asyncio.gather(*(p.read() for p in concurrent), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    for prop in props:
        prop.state = LOADED


def _own_leased_keys(
    props: list[PropertySession],
    pairs: list[tuple[KeyedLock, str]],
    taken: int,
    handed: list[Any] | None,
) -> list[tuple[KeyedLock, str]]:
    """Give each fragment with a storage lease its key's in-process lock (and the lease
    handed over with it, if any); the pairs left for the update itself to release."""
    by_pair = dict(zip(pairs[taken:], handed, strict=True)) if handed is not None else {}
    own: set[tuple[KeyedLock, str]] = set()
    for prop in props:
        locks = prop.spec.locks
        if prop.spec.lease is not None and locks is not None:
            pair = (locks, prop.key)
            if pair in own:
                continue  # two fragments, one key: refused by _check_shared_leases
            own.add(pair)
            prop.locked = True
            held = by_pair.get(pair)
            if held is not None:
                prop.take(held)
    return [pair for pair in pairs if pair not in own]


def _prop_order(prop: PropertySession) -> tuple[int, str]:
    locks = prop.spec.locks
    return (locks.serial if locks is not None else -1, prop.key)


def _check_shared_leases(props: list[PropertySession]) -> None:
    seen: dict[tuple[int, str | None], str | None] = {}
    for prop in props:
        if prop.spec.lease is None:
            continue
        ident = (id(prop.spec.storage), prop.key)
        if ident in seen:
            raise ValueError(
                f"session fragments {seen[ident]!r} and {prop.spec.name!r} resolve to the same "
                f"key {prop.key!r} in the same locking storage; give them different prefixes"
            )
        seen[ident] = prop.spec.name
