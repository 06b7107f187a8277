"""enhance_storage(): add expiry and versioned migrations to any storage.

Values are stored in grammY's wrapper ``{"__d": data, "v": version, "e": expiry_ms}``
(absent fields left out), so sessions written by either library read in the other.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from inspect import isawaitable
from typing import Any, cast

from botsessions._errors import CorruptDataError, LeaseLostError, MigrationError
from botsessions._handoff import keeps
from botsessions._options import duration
from botsessions.storage._protocol import KeepingLease, SessionLease, StorageView, iterate

__all__ = ["enhance_storage"]

Migration = Callable[[Any], Any]

_KEEP, _DELETE, _STAMP = 0, 1, 2  # what reading a stored value asks of the storage


def enhance_storage(
    *,
    storage: Any,
    migrations: Mapping[float, Migration] | None = None,
    ttl: float | timedelta | None = None,
) -> Any:
    """Wrap ``storage`` so that sessions expire and old data is migrated when read.

    Args:
        storage: any ``StorageAdapter`` (sync or async). Its ``has`` / ``read_all_*`` stay
            available on the wrapper, yielding unwrapped, migrated, unexpired values; its
            lock capability (``LockingStorage``) is kept as well.
        migrations: ``{version: fn}``; versions are numbers, applied in numeric order
            (``1 < 1.5 < 2 < 10 < 10.1``). Stored data older than a version (or without
            a version at all: data written before migrations existed) runs every newer
            function, sync or ``async``, each getting the previous result. New data is
            stored with the latest version. Migrated data is persisted when the session
            is next written.
        ttl: seconds (int, float or ``timedelta``) a session lives after its last write.
            Expired data reads as ``None`` and is deleted. Data stored without an expiry
            gets one on its first read.

    Raises:
        ValueError: ``migrations`` is empty ("No migrations given!"), a version is not a
            finite number or appears twice, or ``ttl`` is not positive.
        TypeError: ``storage`` lacks read/write/delete, or a migration is not callable.
    """
    view = StorageView(storage)
    steps = _steps(migrations)
    ttl_ms = None if (seconds := duration(ttl, what="ttl")) is None else seconds * 1000.0
    cls = _LockingEnhancedStorage if view.lease is not None else _EnhancedStorage
    return cls(view, steps, ttl_ms)


def _steps(migrations: Mapping[Any, Migration] | None) -> list[tuple[float, Migration]] | None:
    if migrations is None:
        return None
    if not isinstance(migrations, Mapping):
        raise TypeError(f"migrations must be a dict {{version: function}}, got {migrations!r}")
    if not migrations:
        raise ValueError("No migrations given!")
    steps: dict[float, tuple[float, Migration]] = {}
    for version, fn in migrations.items():
        number = _version(version)
        if not callable(fn):
            raise TypeError(f"migration {version!r} must be a function (data) -> data")
        if number in steps:
            raise ValueError(f"migration version {version!r} is given twice")
        steps[number] = (version if isinstance(version, (int, float)) else number, fn)
    return [steps[n] for n in sorted(steps)]


def _version(version: Any) -> float:
    if isinstance(version, bool) or not isinstance(version, (int, float, str)):
        raise TypeError(f"migration versions must be numbers, got {version!r}")
    try:
        number = float(version)
    except ValueError:
        raise ValueError(f"migration versions must be numbers, got {version!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"migration version {version!r} is not a finite number")
    return number


class _EnhancedStorage:
    """The wrapper returned by ``enhance_storage`` (async methods)."""

    __slots__ = ("_inner", "_latest", "_steps", "_ttl_ms")

    def __init__(
        self, inner: StorageView, steps: list[tuple[float, Migration]] | None, ttl_ms: float | None
    ) -> None:
        self._inner = inner
        self._steps = steps
        self._latest = steps[-1][0] if steps else None
        self._ttl_ms = ttl_ms

    def __repr__(self) -> str:
        return f"enhance_storage(storage={self._inner.storage!r})"

    async def read(self, key: str) -> Any:
        """The unwrapped, migrated value; ``None`` when missing or expired (then deleted)."""
        value, action, stamped = await self._open(key, await self._inner.read(key))
        if action == _DELETE:
            await self._inner.delete(key)
        elif action == _STAMP:
            await self._inner.write(key, stamped)
        return value

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` wrapped with the latest version and a fresh expiry."""
        await self._inner.write(key, self._wrap(value))

    async def delete(self, key: str) -> None:
        await self._inner.delete(key)

    async def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        raw = await self._inner.read(key)
        return raw is not None and not self._expired(raw)

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        """``(key, value)`` for every unexpired session, unwrapped and migrated."""
        storage = self._inner.storage
        if hasattr(storage, "read_all_entries"):
            entries = await iterate(await _maybe(storage.read_all_entries()))
        elif hasattr(storage, "read_all_keys"):
            keys = await iterate(await _maybe(storage.read_all_keys()))
            entries = [(key, await self._inner.read(key)) for key in keys]
        else:
            raise TypeError(f"{storage!r} has neither read_all_entries() nor read_all_keys()")
        for key, raw in entries:
            value, action, _ = await self._open(key, raw)
            if action != _DELETE and value is not None:
                yield key, value

    async def read_all_keys(self) -> AsyncIterator[str]:
        """Every key with an unexpired session."""
        async for key, _ in self.read_all_entries():
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        """Every unexpired session, unwrapped and migrated."""
        async for _, value in self.read_all_entries():
            yield value

    # -- the wrapper format ----------------------------------------------------------

    def _wrap(self, value: Any) -> dict[str, Any]:
        wrapper: dict[str, Any] = {"__d": value}
        if self._latest is not None:
            wrapper["v"] = self._latest
        if self._ttl_ms is not None:
            wrapper["e"] = int(time.time() * 1000.0 + self._ttl_ms)
        return wrapper

    def _expired(self, raw: Any) -> bool:
        if isinstance(raw, dict) and "__d" in raw:
            expiry = raw.get("e")
            return expiry is not None and expiry < time.time() * 1000.0
        return False

    async def _open(self, key: str, raw: Any) -> tuple[Any, int, Any]:
        """Unwrap one stored value: ``(value, what to do with the stored copy, stamp)``."""
        if raw is None:
            return None, _KEEP, None
        if isinstance(raw, dict) and "__d" in raw:
            data, version, expiry = raw["__d"], raw.get("v"), raw.get("e")
        else:
            data, version, expiry = raw, None, None  # written before enhance_storage
        if expiry is not None and expiry < time.time() * 1000.0:
            return None, _DELETE, None
        stamped = None
        if expiry is None and self._ttl_ms is not None:
            stamped = {"__d": data, "e": int(time.time() * 1000.0 + self._ttl_ms)}
            if version is not None:
                stamped["v"] = version
        if self._steps is not None:
            data = await self._migrate(key, data, version)
        return data, (_KEEP if stamped is None else _STAMP), stamped

    async def _migrate(self, key: str, data: Any, version: Any) -> Any:
        if version is None:
            current = -math.inf  # before the first migration
        elif isinstance(version, (int, float)) and not isinstance(version, bool):
            current = float(version)
        else:
            raise CorruptDataError(
                f"session {key!r} has version {version!r}, which is not a number", key=key
            )
        for number, fn in self._steps or ():
            if number <= current:
                continue
            try:
                data = fn(data)
                if isawaitable(data):
                    data = await data
            except Exception as exc:
                raise MigrationError(
                    f"migration {number!r} failed for session key {key!r}: "
                    f"{type(exc).__name__}: {exc} (nothing was stored)",
                    key=key,
                    version=number,
                ) from exc
        return data


class _LockingEnhancedStorage(_EnhancedStorage):
    """``enhance_storage`` over a ``LockingStorage``: the lock capability is kept."""

    __slots__ = ()

    async def acquire(self, key: str, *, read: bool) -> SessionLease:
        inner: SessionLease = await self._inner.lease(key, read=read)  # type: ignore[misc]
        # The wrapper can keep the lock exactly when the wrapped lease can.
        cls = _KeepingEnhancedLease if keeps(inner) else _EnhancedLease
        if not read:
            return cls(self, inner, None, _KEEP, None)
        try:
            value, action, stamped = await self._open(key, inner.value)
        except BaseException:
            await inner.release()
            raise
        return cls(self, inner, value, action, stamped)


class _EnhancedLease:
    """A lease of the wrapped storage that wraps on write and unwraps on read."""

    __slots__ = ("_action", "_inner", "_owner", "_stamped", "value")

    def __init__(
        self, owner: _EnhancedStorage, inner: SessionLease, value: Any, action: int, stamped: Any
    ) -> None:
        self._owner = owner
        self._inner = inner
        self.value = value
        self._action = action
        self._stamped = stamped

    async def write(self, value: Any) -> None:
        await self._inner.write(self._owner._wrap(value))

    async def delete(self) -> None:
        await self._inner.delete()

    async def release(self) -> None:
        # Expired data is deleted (and legacy data stamped) as the lock is released.
        try:
            if self._action == _DELETE:
                await self._inner.delete()
            elif self._action == _STAMP:
                await self._inner.write(self._stamped)
            else:
                await self._inner.release()
        except LeaseLostError:
            pass  # release is silent when the lease is already gone


class _KeepingEnhancedLease(_EnhancedLease):
    """``_EnhancedLease`` over a lease that can keep the lock: forwards ``keep``."""

    __slots__ = ()

    async def write(self, value: Any, *, keep: bool = False) -> None:
        inner = cast(KeepingLease, self._inner)  # keeps(inner) chose this class
        await inner.write(self._owner._wrap(value), keep=keep)
        self.value = value
        self._action = _KEEP  # the stored value is fresh: nothing left to delete or stamp

    async def delete(self, *, keep: bool = False) -> None:
        await cast(KeepingLease, self._inner).delete(keep=keep)
        self.value = None
        self._action = _KEEP


async def _maybe(result: Any) -> Any:
    return await result if isawaitable(result) else result
