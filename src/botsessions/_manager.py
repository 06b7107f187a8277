"""SessionManager: validated options -> engine specs -> one context manager per update.

Framework glue uses only this::

    manager = build_manager(lazy=False, initial=lambda: {"count": 0})
    async with manager.update(ctx) as handle:
        ctx._bind_session(handle.slot, handle.key)
        await next()

Entering computes the key(s), takes the locks (in-process first, then the storage's
lease when it has one) and, for strict sessions, reads. Leaving writes what changed, or
nothing when the handler raised, and always releases every lock.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from collections.abc import Callable
from inspect import isawaitable
from types import TracebackType
from typing import Any

from botsessions._codec import codec_for
from botsessions._engine import (
    _PLAIN,
    ACCESSED,
    LOADED,
    NO_KEY,
    UNLOADED,
    PropertySession,
    PropertySpec,
    coerce_key,
    key_function,
)
from botsessions._locks import KeyedLock, acquire_all, lock_order, release_all
from botsessions._options import SessionOptions, to_options
from botsessions.storage._protocol import StorageView
from botsessions.storage.memory import MemorySessionStorage

__all__ = ["SessionManager", "build_manager"]

_registries: weakref.WeakKeyDictionary[Any, KeyedLock] = weakref.WeakKeyDictionary()
_current_task: Callable[[], Any] = asyncio.current_task
if getattr(asyncio.current_task, "__module__", "") == "asyncio.tasks":  # pure Python (3.11)
    _tasks_by_loop = getattr(asyncio.tasks, "_current_tasks", None)
    if isinstance(_tasks_by_loop, dict):
        _running_loop = asyncio.get_running_loop
        _by_loop: dict[Any, Any] = _tasks_by_loop

        def _current_task() -> Any:
            # Same answer as asyncio.current_task(), without its Python frame per update.
            return _by_loop.get(_running_loop())


def _locks_for(storage: Any) -> KeyedLock:
    """One lock family per storage object, shared by every session built on it."""
    try:
        locks = _registries.get(storage)
        if locks is None:
            locks = _registries[storage] = KeyedLock()
        return locks
    except TypeError:  # not weak-referenceable or not hashable: locks for this session only
        return KeyedLock()


def _key_error(op: str, options: SessionOptions, *, lazy: bool, fragment: str | None) -> str:
    what = (
        f"session fragment {fragment!r}" if fragment else f"{'lazy ' if lazy else ''}session data"
    )
    fn = options.get_session_key
    if fn is None:
        reason = (
            "it does not belong to a chat (the default get_session_key uses ctx.chat_id); "
            "pass get_session_key=... to key such updates differently"
        )
    else:
        reason = f"the custom get_session_key function {_name(fn)} returned None"
    return f"Cannot {op} {what}: the session key is undefined for this update, because {reason}"


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def make_spec(options: SessionOptions, *, lazy: bool, fragment: str | None = None) -> PropertySpec:
    """Precompute everything one property needs per update."""
    storage = options.storage if options.storage is not None else MemorySessionStorage()
    view = StorageView(storage, locking=options.locking)
    codec = codec_for(options.initial, schema=options.schema)
    spec = PropertySpec()
    spec.name = fragment
    spec.lazy = lazy
    spec.storage = storage
    spec.view = view
    spec.read = view.read
    spec.sync_read = view.sync_read
    spec.sync_write = view.sync_write
    spec.sync_delete = view.sync_delete
    spec.lease = view.lease
    spec.read_blob = view.read_blob
    spec.write_blob = view.write_blob
    spec.plain = (
        view.lease is None
        and view.sync_read is not None
        and view.sync_write is not None
        and view.sync_delete is not None
    )
    spec.locks = _locks_for(storage) if options.locking else None
    spec.lock_timeout = options.lock_timeout
    spec.encode = codec.encode
    spec.decode = codec.decode
    spec.encode_blob = codec.encode_blob
    spec.decode_blob = codec.decode_blob
    spec.initial = options.initial
    spec.prefix = options.prefix
    fn = options.get_session_key
    spec.get_key = key_function(fn)
    spec.key_is_async = fn is not None and inspect.iscoroutinefunction(fn)
    spec.key_name = _name(fn) if fn is not None else "default"
    spec.access_error = _key_error("access", options, lazy=lazy, fragment=fragment)
    spec.assign_error = _key_error("assign", options, lazy=lazy, fragment=fragment)
    return spec


class SingleUpdate(PropertySession):
    """One update of a single (strict or lazy) session: context manager, handle and slot.

    The common case (a synchronous storage without a lease, a session that was read and
    maybe changed) runs inline here; everything else goes through ``PropertySession``.
    """

    __slots__ = ("_ctx",)

    def __init__(self, spec: PropertySpec, ctx: Any) -> None:
        # Inlined PropertySession.__init__: this runs once per update.
        self.spec = spec
        self._ctx = ctx
        self.key = None  # type: ignore[assignment]  # a str unless state is NO_KEY
        self.state = NO_KEY
        self.raw = None
        self.blob = None
        self.value = None
        self.lease = None
        self.locked = False
        self.early = False
        self.task = None
        self.owner = None

    @property
    def slot(self) -> PropertySession:
        """What ``ctx.session`` forwards to."""
        return self

    async def __aenter__(self) -> SingleUpdate:
        spec = self.spec
        ctx = self._ctx
        self._ctx = None
        key = await spec.get_key(ctx) if spec.key_is_async else spec.get_key(ctx)
        if key.__class__ is not str and key is not None:
            key = await coerce_key(key, spec)
        if key is None:
            return self  # NO_KEY: no lock, no storage call
        if spec.prefix:
            key = spec.prefix + key
        self.key = key
        owner = self.owner = _current_task()
        if spec.lazy:
            self.state = UNLOADED
            return self
        locks = spec.locks
        if locks is not None:
            if not locks.try_acquire(key, owner):
                await locks.acquire(key, owner, spec.lock_timeout)
            self.locked = True
        try:
            if spec.read_blob is not None:
                self.read_blob_now()
            elif spec.plain:
                raw = spec.sync_read(key)  # type: ignore[misc]  # plain: not None
                if raw is not None and raw.__class__ not in _PLAIN and isawaitable(raw):
                    raw = await raw
                self.raw = raw
            else:
                await self.read()
        except BaseException:
            self.unlock()
            raise
        self.state = LOADED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            state = self.state
            if exc_type is not None:
                await self.abort()  # no catch-and-save: a failed handler writes nothing
            elif state == LOADED and self.lease is None:
                pass  # never accessed: nothing to write, no lease to end
            elif state == ACCESSED and self.spec.write_blob is not None:
                value = self.value
                if value is not None:
                    spec = self.spec
                    blob = spec.encode_blob(value)
                    if blob is None:
                        await self.finish()  # encode decides: a path-naming error, or a big int
                    elif blob != self.blob:
                        spec.write_blob(self.key, blob)  # type: ignore[misc]  # checked above
            elif state == ACCESSED and self.spec.plain:
                value = self.value
                if value is not None:
                    spec = self.spec
                    encoded = spec.encode(value)
                    raw = self.raw
                    if raw is None or encoded != raw:
                        result = spec.sync_write(self.key, encoded)  # type: ignore[misc]
                        if result is not None:
                            await result
            elif state > NO_KEY:
                await self.finish()
        finally:
            if self.locked:
                self.locked = False
                self.spec.locks.release(self.key)  # type: ignore[union-attr]  # locked


class _Fragments:
    """``ctx.session`` of a multi session: one attribute per fragment."""

    __slots__ = ("_props",)
    _names: tuple[str, ...] = ()
    _props: list[PropertySession]

    def __init__(self, props: list[PropertySession]) -> None:
        object.__setattr__(self, "_props", props)

    def __repr__(self) -> str:
        return f"<session fragments: {', '.join(self._names)}>"


def _fragment_class(names: list[str]) -> type[_Fragments]:
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

    __slots__ = ("_container", "_ctx", "_manager", "_pairs", "_props")

    def __init__(self, manager: SessionManager, ctx: Any) -> None:
        self._manager = manager
        self._ctx = ctx
        self._props = [PropertySession(spec) for spec in manager.specs]
        self._pairs: list[tuple[KeyedLock, str]] = []
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

    async def __aenter__(self) -> MultiUpdate:
        ctx = self._ctx
        self._ctx = None
        owner = _current_task()
        props = self._props
        for prop in props:
            await prop.resolve_key(ctx)
            prop.owner = owner
        keyed = [p for p in props if p.key is not None]
        pairs = sorted(
            {(p.spec.locks, p.key) for p in keyed if p.spec.locks is not None}, key=lock_order
        )
        await acquire_all(pairs, owner, self._manager.lock_timeout)
        self._pairs = pairs
        try:
            _check_shared_leases(keyed)
            for prop in sorted(keyed, key=_prop_order):
                await prop.read()
                prop.state = LOADED
        except BaseException:
            for prop in keyed:
                await prop.abort()
            release_all(pairs)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                for prop in self._props:
                    await prop.abort()
                return
            error: BaseException | None = None
            for prop in self._props:
                try:
                    await prop.finish()
                except BaseException as failure:  # other fragments still end their leases
                    if error is None:
                        error = failure
                    await prop.abort()
            if error is not None:
                raise error
        finally:
            release_all(self._pairs)


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


class SessionManager:
    """The built session: makes the per-update context manager (``update(ctx)``)."""

    __slots__ = ("fragments", "lazy", "lock_timeout", "multi", "spec", "specs")

    def __init__(self, specs: list[PropertySpec], *, multi: bool, lazy: bool) -> None:
        self.specs = specs
        self.multi = multi
        self.lazy = lazy
        self.spec = specs[0] if specs and not multi else None
        timeouts = [s.lock_timeout for s in specs if s.lock_timeout is not None]
        self.lock_timeout = min(timeouts) if timeouts else None
        self.fragments = _fragment_class([s.name for s in specs])  # type: ignore[misc]

    def update(self, ctx: Any) -> SingleUpdate | MultiUpdate:
        """The context manager that loads before and saves after one update's handler."""
        if self.multi:
            return MultiUpdate(self, ctx)
        return SingleUpdate(self.spec, ctx)  # type: ignore[arg-type]

    def update_factory(self) -> Callable[[Any], SingleUpdate | MultiUpdate]:
        """``update`` with the mode decided once (what the middleware calls per update)."""
        if self.multi:
            return functools.partial(MultiUpdate, self)
        return functools.partial(SingleUpdate, self.spec)  # type: ignore[arg-type]


def build_manager(*, lazy: bool, **options: Any) -> SessionManager:
    """Validate ``session()`` / ``lazy_session()`` options once and build the engine.

    Raises:
        ValueError: unknown ``type``, or ``type="multi"`` with ``lazy=True``.
        TypeError: an unknown option, or an option of the wrong type.
    """
    kind = options.pop("type", "single")
    if kind not in ("single", "multi"):
        raise ValueError(f"type must be 'single' or 'multi', got {kind!r}")
    if kind == "multi":
        if lazy:
            raise ValueError(
                "Cannot use lazy multi sessions: lazy_session() supports type='single' only; "
                "use session(type='multi', ...) or one lazy_session() per property"
            )
        specs = []
        for name, value in options.items():
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(
                    f"fragment name {name!r} must be an identifier not starting with '_'"
                )
            fragment = to_options(value, where=f"fragment {name!r}")
            specs.append(make_spec(fragment, lazy=False, fragment=name))
        return SessionManager(specs, multi=True, lazy=False)
    where = "lazy_session()" if lazy else "session()"
    single = to_options(options, where=where)
    return SessionManager([make_spec(single, lazy=lazy)], multi=False, lazy=lazy)
