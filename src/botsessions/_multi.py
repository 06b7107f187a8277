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

    def enter(self) -> Awaitable[None] | None:
        """``SingleUpdate.enter`` for multi sessions: ``None`` when every key was computed
        synchronously, every lock was free and every fragment was read synchronously
        (memory storages), else an awaitable that finishes entering."""
        ctx = self._ctx
        self._ctx = None
        owner = current_task()
        keys: list[Awaitable[None]] | None = None
        for prop in self._props:
            prop.owner = owner
            pending = prop.key_now(ctx)
            if pending is not None:
                if keys is None:
                    keys = []
                keys.append(pending)
        if keys is not None:
            return self._enter_after_keys(keys, owner)
        return self._lock_and_read(owner)

    def leave(self) -> Awaitable[None] | None:
        """``SingleUpdate.leave`` for multi sessions: ``None`` when every fragment was
        saved synchronously, else an awaitable that finishes saving."""
        if self._manager.leases:
            return self._save_from(0, None, None)
        error: BaseException | None = None
        for index, prop in enumerate(self._ending):
            try:
                pending = prop.save_now()
            except BaseException as failure:  # no lease and no pending work: nothing to end
                if error is None:
                    error = failure
                continue
            if pending is not None:
                return self._save_from(index, pending, error)
        release_all(self._pairs)
        if error is not None:
            raise error
        return None

    def fail(self) -> Awaitable[None]:
        """``SingleUpdate.fail`` for multi sessions."""
        return self.__aexit__(BaseException, None, None)

    async def __aenter__(self) -> MultiUpdate:
        pending = self.enter()
        if pending is not None:
            await pending
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            pending = self.leave()
            if pending is not None:
                await pending
            return
        props = self._ending
        try:
            for prop in props:
                await (_after(prop, prop.abort()) if prop.locked else prop.abort())
        finally:
            await self._unlock(props)

    # -- entering --------------------------------------------------------------------

    async def _enter_after_keys(self, keys: list[Awaitable[None]], owner: Any) -> None:
        for key in keys:
            await key
        pending = self._lock_and_read(owner)
        if pending is not None:
            await pending

    def _lock_and_read(self, owner: Any) -> Awaitable[None] | None:
        manager = self._manager
        props = self._props
        if manager.order is not None:  # one lock family per fragment: the order is fixed
            ordered = [p for p in (props[i] for i in manager.order) if p.key is not None]
            pairs = [(locks, p.key) for p in ordered if (locks := p.spec.locks) is not None]
        else:
            ordered = sorted((p for p in props if p.key is not None), key=_prop_order)
            pairs = sorted(
                {(locks, p.key) for p in ordered if (locks := p.spec.locks) is not None},
                key=lock_order,
            )
        taken = take_free(pairs, owner)
        if taken < len(pairs) or manager.leases or not manager.sync_reads:
            return self._wait_and_read(ordered, pairs, taken, owner)
        self._pairs = pairs
        try:
            for prop in ordered:
                prop.read_blob_now()
                prop.state = LOADED
        except BaseException:
            release_all(self._pairs)
            raise
        return None

    async def _wait_and_read(
        self,
        ordered: list[PropertySession],
        pairs: list[tuple[KeyedLock, str]],
        taken: int,
        owner: Any,
    ) -> None:
        manager = self._manager
        handed = None
        if taken < len(pairs):
            try:
                handed = await acquire_all(pairs[taken:], owner, manager.lock_timeout)
            except BaseException:
                release_all(pairs[:taken])
                raise
        self._pairs = pairs
        if manager.leases:
            # A fragment with a storage lease owns its key's in-process lock, so that it
            # can hand both to the next update of that key (``_handoff``), and fragments
            # end in lock order (see ``_after``).
            self._pairs = _own_leased_keys(ordered, pairs, taken, handed)
            self._ending = ordered
        try:
            if manager.leases:
                _check_shared_leases(ordered)
            if manager.sync_reads:
                for prop in ordered:
                    prop.read_blob_now()
                    prop.state = LOADED
            else:
                await _read_all(ordered)
        except BaseException:
            try:
                for prop in ordered:
                    await prop.abort()
            finally:
                await self._unlock(ordered)
            raise

    # -- leaving ---------------------------------------------------------------------

    async def _save_from(
        self, index: int, pending: Awaitable[None] | None, error: BaseException | None
    ) -> None:
        """Save the fragments from ``index`` on (``pending``: what saving that one still
        has to do, if it was started); every lease ends, the first error is raised."""
        props = self._ending
        try:
            for prop in props[index:]:
                try:
                    if pending is None:
                        pending = prop.save_now()
                    if pending is not None:
                        await (_after(prop, pending) if prop.locked else pending)
                except BaseException as failure:  # other fragments still end their leases
                    if error is None:
                        error = failure
                    await prop.abort()
                pending = None
            if error is not None:
                raise error
        finally:
            await self._unlock(props)

    async def _unlock(self, props: list[PropertySession]) -> None:
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
