"""FSMStorage: aiogram's FSM storage interface over any botsessions storage.

One ``StorageKey`` is one record, ``{"state": str | None, "data": {...}}``, stored under
``key_builder.build(key)`` (no ``part`` suffix: state and data live together). So:

* a record whose state is ``None`` and whose data is empty is deleted (``clear()`` leaves
  no row behind), and reading a missing record gives ``None`` and ``{}``;
* every write is a read-modify-write of the record, serialized per key: in this process
  by a FIFO lock, and across processes by the storage's lease when it locks (Redis,
  PostgreSQL). ``update_data`` is therefore atomic, unlike aiogram's default;
* a write that changes nothing is skipped;
* under ``SessionIsolation`` over the same storage object, the record is read once when
  the lock is taken and every write goes through the held lease
  (``_aiogram_isolation``).

Values must be what the storage accepts (JSON data for every storage but memory, which
also keeps other values as deep copies), as with aiogram's ``RedisStorage``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, overload

import orjson

from botsessions._errors import CorruptDataError, LockError
from botsessions.engine.locks import KeyedLock
from botsessions.integrations._aiogram_api import (
    BaseStorage,
    DataNotDictLikeError,
    KeyBuilder,
    State,
    StateType,
    StorageKey,
    key_builder_or_default,
)
from botsessions.integrations._aiogram_isolation import HeldLease, SessionIsolation, held_lease
from botsessions.storage._locking import LockingStorage
from botsessions.storage._wrapper import StorageWrapper, maybe_await, require_storage

__all__ = ["FSMStorage", "SessionIsolation"]

_Record = tuple[str | None, dict[str, Any]]
# Refuse what orjson would silently turn into something else (see storage.memory).
_EXACT = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_EXACT |= orjson.OPT_PASSTHROUGH_SUBCLASS


class FSMStorage(BaseStorage):
    """An aiogram FSM storage (``BaseStorage``) backed by a botsessions storage.

    ::

        store = SQLiteStorage("bot.db")
        dp = Dispatcher(storage=FSMStorage(store), events_isolation=SessionIsolation(store))

    Works with ``FSMContext``, scenes and aiogram_dialog unchanged. Scenes and
    aiogram_dialog keep records under other *destinies*, which aiogram's
    ``DefaultKeyBuilder`` refuses unless it is built with ``with_destiny=True``.

    Args:
        storage: any botsessions storage: ``MemorySessionStorage``, ``SQLiteStorage``,
            ``FileStorage``, ``RedisStorage``, ``PostgresStorage``, one wrapped by
            ``enhance_storage`` (TTL, migrations), or your own adapter, sync or async.
        key_builder: how a ``StorageKey`` becomes the storage key; aiogram's
            ``DefaultKeyBuilder()`` when ``None``. Its ``prefix``, ``with_bot_id``,
            ``with_business_connection_id`` and ``with_destiny`` options apply.

    Raises:
        TypeError: ``storage`` lacks ``read``/``write``/``delete``, or ``key_builder`` is
            not an aiogram ``KeyBuilder``.

    Reading a stored value that is not an FSM record raises ``CorruptDataError`` naming
    the key; the value is left as it is. ``close()`` closes nothing: the storage is
    yours, close it yourself (several FSM storages and sessions may share it).
    """

    def __init__(self, storage: Any, *, key_builder: KeyBuilder | None = None) -> None:
        require_storage(storage)
        self._backend = storage
        self.key_builder: KeyBuilder = key_builder_or_default(key_builder)
        self._leased = isinstance(storage, LockingStorage)
        self._locks = KeyedLock()
        # The storage's shape, decided once: every call below awaits these three.
        self._read, self._write, self._delete = _async_methods(storage)

    def __repr__(self) -> str:
        return f"FSMStorage({self._backend!r})"

    @property
    def storage(self) -> Any:
        """The botsessions storage the records live in."""
        return self._backend

    # -- aiogram's BaseStorage -----------------------------------------------------------

    async def get_state(self, key: StorageKey) -> str | None:
        """The state of ``key`` (``None`` when there is none)."""
        return (await self._get(self.key_builder.build(key), private=False))[0]

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """A copy of the data of ``key`` (``{}`` when there is none)."""
        return (await self._get(self.key_builder.build(key)))[1]

    @overload
    async def get_value(self, storage_key: StorageKey, dict_key: str) -> Any | None: ...

    @overload
    async def get_value(self, storage_key: StorageKey, dict_key: str, default: Any) -> Any: ...

    async def get_value(
        self, storage_key: StorageKey, dict_key: str, default: Any | None = None
    ) -> Any | None:
        """One value of the data of ``storage_key``, or ``default``."""
        return (await self._get(self.key_builder.build(storage_key)))[1].get(dict_key, default)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Set the state of ``key`` (a ``State`` is stored as its ``.state`` string)."""
        value = state.state if isinstance(state, State) else state
        await self._change(self.key_builder.build(key), lambda _, data: (value, data))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace the data of ``key``; ``{}`` with no state deletes the record.

        Raises:
            DataNotDictLikeError: ``data`` is not a dict (as aiogram's own storages).
        """
        if not isinstance(data, dict):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__}"
            )
        new = dict(data)
        await self._change(self.key_builder.build(key), lambda state, _: (state, new))

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``data`` into the data of ``key`` atomically; returns the new data."""
        updates = dict(data)

        def merge(state: str | None, current: dict[str, Any]) -> _Record:
            return state, {**current, **updates}

        new = (await self._change(self.key_builder.build(key), merge))[1]
        return _clone(new) if self._leased else copy.deepcopy(new)

    async def close(self) -> None:
        """Nothing to close: the storage belongs to the caller, who closes it."""

    # -- records -------------------------------------------------------------------------

    async def _get(self, name: str, *, private: bool = True) -> _Record:
        """The record ``name``; its data is the caller's to change unless ``private=False``."""
        held = self._held(name)
        if held is None:
            return _decode(name, await self._read(name))  # a fresh read is the caller's
        async with held.mutex:
            state, data = _decode(name, held.lease.value)
        return (state, _clone(data)) if private else (state, data)

    async def _change(
        self, name: str, change: Callable[[str | None, dict[str, Any]], _Record]
    ) -> _Record:
        """Apply ``change`` to the record ``name`` under its lock; the record as written.

        ``change`` builds a new record and never mutates the one it is given; the record
        returned may be shared with the held lease, so callers copy before handing it out.
        """
        held = self._held(name)
        if held is not None:
            async with held.mutex:
                return await self._change_held(held, change)
        locks = self._locks
        if not locks.try_acquire(name, None):
            await locks.acquire(name, None)
        try:
            if self._leased:
                return await self._change_leased(name, change)
            old = _decode(name, await self._read(name))
            new = change(*old)
            if new != old:
                if _is_empty(new):
                    await self._delete(name)
                else:
                    await self._write(name, _encode(new))
            return new
        finally:
            locks.release(name)

    async def _change_leased(
        self, name: str, change: Callable[[str | None, dict[str, Any]], _Record]
    ) -> _Record:
        lease = await self._backend.acquire(name, read=True)
        try:
            old = _decode(name, lease.value)
            new = change(*old)
        except BaseException:
            await lease.release()
            raise
        if new == old:
            await lease.release()
        elif _is_empty(new):
            await lease.delete()
        else:
            await lease.write(_encode(new))
        return new

    async def _change_held(
        self, held: HeldLease, change: Callable[[str | None, dict[str, Any]], _Record]
    ) -> _Record:
        old = _decode(held.name, held.lease.value)
        new = change(*old)
        if new == old:
            return new
        # The lease keeps what it writes as its value: a private copy, so that objects
        # the caller passed in and changes later cannot change it.
        new = new[0], _clone(new[1])
        try:
            flushing = held.flushing
            if flushing is not None:  # the isolation waits for the flush at the update's end
                if _is_empty(new):
                    await flushing.delete(keep=True, flush=False)
                else:
                    await flushing.write(_encode(new), keep=True, flush=False)
                held.flush_mark = flushing.flush_mark
            elif _is_empty(new):
                await held.lease.delete(keep=True)
            else:
                await held.lease.write(_encode(new), keep=True)
        except BaseException:
            held.broken = True  # never hand on a lease whose last write is in doubt
            raise
        return new

    def _held(self, name: str) -> HeldLease | None:
        """The lease an enclosing ``SessionIsolation`` holds on ``name``, if it is ours."""
        held = held_lease(name)
        if held is None or not self._leased:
            return None
        if held.storage is not self._backend:
            if _innermost(held.storage) is _innermost(self._backend):
                raise LockError(
                    f"FSM record {name!r} is locked by a SessionIsolation over another "
                    f"storage object ({held.storage!r}) in this update, so this FSMStorage "
                    "would wait for its own update's lock; give FSMStorage and "
                    "SessionIsolation the same storage object (the same wrapper, too)",
                    key=name,
                )
            return None
        if held.broken:
            return None
        return held


def _innermost(storage: Any) -> Any:
    """The storage at the bottom of a chain of ``StorageWrapper`` (whose lock it uses)."""
    while isinstance(storage, StorageWrapper):
        storage = storage.storage
    return storage


def _async_methods(
    storage: Any,
) -> tuple[
    Callable[[str], Awaitable[Any]],
    Callable[[str, Any], Awaitable[Any]],
    Callable[[str], Awaitable[Any]],
]:
    methods = (storage.read, storage.write, storage.delete)
    if all(inspect.iscoroutinefunction(method) for method in methods):
        return methods

    async def read(key: str) -> Any:
        return await maybe_await(storage.read(key))

    async def write(key: str, value: Any) -> None:
        await maybe_await(storage.write(key, value))

    async def delete(key: str) -> None:
        await maybe_await(storage.delete(key))

    return read, write, delete


def _clone(data: dict[str, Any]) -> dict[str, Any]:
    """A private copy of data bound for a JSON storage: what reading it back would give."""
    try:
        clone: dict[str, Any] = orjson.loads(orjson.dumps(data, option=_EXACT))
    except TypeError:  # not JSON (a custom locking storage may keep other values)
        return copy.deepcopy(data)
    return clone


def _decode(name: str, value: Any) -> _Record:
    if value is None:
        return None, {}
    if isinstance(value, dict) and value.keys() == {"state", "data"}:
        state, data = value["state"], value["data"]
        if (state is None or isinstance(state, str)) and isinstance(data, dict):
            return state, data
    raise CorruptDataError(
        f"the value stored under FSM key {name!r} is not an FSM record "
        f"{{'state': str | None, 'data': dict}}: got {_describe(value)}; it was left in "
        "place (delete it, or fix the key builder if another program owns this key)",
        key=name,
    )


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _encode(record: _Record) -> dict[str, Any]:
    return {"state": record[0], "data": record[1]}


def _is_empty(record: _Record) -> bool:
    return record[0] is None and not record[1]
