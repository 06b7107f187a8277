"""enhance_storage(): add expiry and versioned migrations to any storage.

Values are stored in grammY's wrapper ``{"__d": data, "v": version, "e": expiry_ms}``
(absent fields left out), so sessions written by either library read in the other.
The wrapper is a ``StorageWrapper``: over a storage with a lock it keeps the lock and
its lease handoff.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from inspect import isawaitable
from typing import Any, NamedTuple, cast

from botsessions._errors import CorruptDataError, LeaseLostError, MigrationError
from botsessions._options import duration
from botsessions.storage._locking import SessionLease
from botsessions.storage._wrapper import StorageWrapper, WrappedLease

__all__ = ["enhance_storage"]

Migration = Callable[[Any], Any]


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
            lock capability (``LockingStorage``) and lease handoff are kept as well.
        migrations: ``{version: fn}``; versions are numbers, applied in numeric order
            (``1 < 1.5 < 2 < 10 < 10.1``). Stored data older than a version (or without
            a version at all: data written before migrations existed) runs every newer
            function, sync or ``async``, each getting the previous result. New data is
            stored with the latest version. Migrated data is persisted when the session
            is next written. Data stored with a version newer than every migration (by a
            newer release of the bot) is read as it is and written back with its own
            version, never with an older one.
        ttl: seconds (int, float or ``timedelta``) a session lives after its last write.
            Expired data reads as ``None`` and is deleted. Data stored without an expiry
            gets one on its first read.

    Raises:
        ValueError: ``migrations`` is empty ("No migrations given!"), a version is not a
            finite number or appears twice, or ``ttl`` is not positive.
        TypeError: ``storage`` lacks read/write/delete, or a migration is not callable.

    Reading raises ``MigrationError`` when a migration raises or returns ``None``, and
    ``CorruptDataError`` when the stored version or expiry is not a number; in both
    cases the stored data is left as it was.
    """
    steps = _steps(migrations)
    ttl_ms = None if (seconds := duration(ttl, what="ttl")) is None else seconds * 1000.0
    return _EnhancedStorage(storage, steps, ttl_ms)


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Then(enum.Enum):
    """What reading a stored value asks of the storage."""

    KEEP = "keep"  # nothing: the stored copy is fine
    DELETE = "delete"  # it expired
    STAMP = "stamp"  # it has no expiry yet: store it again with one


class _Opened(NamedTuple):
    """One stored value, unwrapped."""

    value: Any
    then: _Then = _Then.KEEP
    stamped: Any = None  # the value to store for STAMP
    kept_version: Any = None  # a stored version newer than every migration, to write back


class _EnhancedStorage(StorageWrapper):
    """The wrapper returned by ``enhance_storage`` (async methods)."""

    __slots__ = ("_latest", "_newer", "_steps", "_ttl_ms")

    def __init__(
        self, storage: Any, steps: list[tuple[float, Migration]] | None, ttl_ms: float | None
    ) -> None:
        super().__init__(storage)
        self._steps = steps
        self._latest = steps[-1][0] if steps else None
        self._ttl_ms = ttl_ms
        # Keys read with a version newer than every migration, and that version: their next
        # write must keep it (a bot rolled back must not relabel newer data as older). Only
        # such keys are remembered, and each only until it is written or deleted.
        self._newer: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"enhance_storage(storage={self.storage!r})"

    async def read(self, key: str) -> Any:
        """The unwrapped, migrated value; ``None`` when missing or expired (then deleted)."""
        opened = await self._open(key, await self._read(key))
        if opened.kept_version is None:
            self._newer.pop(key, None)
        else:
            self._newer[key] = opened.kept_version
        if opened.then is _Then.DELETE:
            await self._delete(key)
        elif opened.then is _Then.STAMP:
            await self._write(key, opened.stamped)
        return opened.value

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` wrapped with the latest version (or the newer one it was read
        with) and a fresh expiry."""
        await self._write(key, self._wrap(value, self._newer.pop(key, None)))

    async def delete(self, key: str) -> None:
        """Delete the session."""
        self._newer.pop(key, None)
        await self._delete(key)

    async def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        raw = await self._read(key)
        return raw is not None and not self._expired(key, raw)

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        """``(key, value)`` for every unexpired session, unwrapped and migrated."""
        for key, raw in await self._stored_entries():
            opened = await self._open(key, raw)
            if opened.then is not _Then.DELETE and opened.value is not None:
                yield key, opened.value

    async def read_all_keys(self) -> AsyncIterator[str]:
        """Every key with an unexpired session."""
        async for key, _ in self.read_all_entries():
            yield key

    async def wrap_lease(self, key: str, lease: SessionLease) -> SessionLease:
        return _EnhancedLease(self, key, lease, await self._open(key, lease.value))

    # -- the wrapper format ----------------------------------------------------------

    def _wrap(self, value: Any, version: Any = None) -> dict[str, Any]:
        wrapper: dict[str, Any] = {"__d": value}
        if version is None:
            version = self._latest
        if version is not None:
            wrapper["v"] = version
        if self._ttl_ms is not None:
            wrapper["e"] = int(time.time() * 1000.0 + self._ttl_ms)
        return wrapper

    def _expired(self, key: str, raw: Any) -> bool:
        if isinstance(raw, dict) and "__d" in raw:
            expiry = _expiry(key, raw.get("e"))
            return expiry is not None and expiry < time.time() * 1000.0
        return False

    async def _open(self, key: str, raw: Any) -> _Opened:
        """Unwrap one stored value and say what to do with the stored copy."""
        if raw is None:
            return _Opened(None)
        if isinstance(raw, dict) and "__d" in raw:
            data, version, expiry = raw["__d"], raw.get("v"), _expiry(key, raw.get("e"))
        else:
            data, version, expiry = raw, None, None  # written before enhance_storage
        if expiry is not None and expiry < time.time() * 1000.0:
            return _Opened(None, _Then.DELETE)
        kept = self._kept_version(key, version)
        stamped = None
        if expiry is None and self._ttl_ms is not None:
            stamped = {"__d": data, "e": int(time.time() * 1000.0 + self._ttl_ms)}
            if version is not None:
                stamped["v"] = version
        if self._steps is not None:
            data = await self._migrate(key, data, version)
        return _Opened(data, _Then.KEEP if stamped is None else _Then.STAMP, stamped, kept)

    def _kept_version(self, key: str, version: Any) -> Any:
        """``version`` when it is newer than every migration (to write back), else ``None``.

        Raises:
            CorruptDataError: with migrations, the stored version is not a number.
        """
        if version is None:
            return None
        if not _is_number(version):
            if self._steps is None:
                return None  # without migrations the version is never looked at
            raise CorruptDataError(
                f"session {key!r} has version {version!r}, which is not a number; "
                "the data was left in place",
                key=key,
            )
        if self._latest is None or float(version) > float(self._latest):
            return version
        return None

    async def _migrate(self, key: str, data: Any, version: Any) -> Any:
        current = -math.inf if version is None else float(version)  # None: before the first
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
            if data is None:
                # Read as "no session", the update would start from initial() and then
                # overwrite the real data: refuse instead.
                raise MigrationError(
                    f"migration {number!r} returned None for session key {key!r}; a "
                    "migration must return the migrated data (is `return data` missing?). "
                    "Nothing was stored",
                    key=key,
                    version=number,
                )
        return data


def _expiry(key: str, expiry: Any) -> float | None:
    """The stored expiry (epoch ms), or ``None``; ``CorruptDataError`` if not a number."""
    if expiry is None:
        return None
    if _is_number(expiry):
        return float(expiry)
    raise CorruptDataError(
        f"session {key!r} has expiry {expiry!r} ('e'), which is not a number of epoch "
        "milliseconds; the data was left in place",
        key=key,
    )


class _EnhancedLease(WrappedLease):
    """A lease of the wrapped storage that wraps on write and unwraps on read."""

    __slots__ = ("_opened",)

    def __init__(
        self, owner: _EnhancedStorage, key: str, inner: SessionLease, opened: _Opened
    ) -> None:
        super().__init__(owner, key, inner, opened.value)
        self._opened = opened

    async def write(self, value: Any, *, keep: bool = False) -> None:
        owner = cast(_EnhancedStorage, self.owner)  # only _EnhancedStorage builds this lease
        await self._write_inner(owner._wrap(value, self._opened.kept_version), keep=keep)
        self.value = value
        # The stored value is fresh: nothing left to delete or stamp.
        self._opened = _Opened(value, kept_version=self._opened.kept_version)

    async def delete(self, *, keep: bool = False) -> None:
        await super().delete(keep=keep)
        self._opened = _Opened(None)

    async def release(self) -> None:
        # Expired data is deleted (and legacy data stamped) as the lock is released.
        try:
            if self._opened.then is _Then.DELETE:
                await self.inner.delete()
            elif self._opened.then is _Then.STAMP:
                await self.inner.write(self._opened.stamped)
            else:
                await self.inner.release()
        except LeaseLostError:
            pass  # release is silent when the lease is already gone
