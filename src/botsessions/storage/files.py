"""FileStorage: one JSON file per session, written atomically."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import orjson

from botsessions._errors import CorruptDataError, StorageError
from botsessions._options import duration
from botsessions.storage._errors_map import unencodable_key
from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import dumps, loads
from botsessions.storage._lifecycle import Closeable

__all__ = ["FileStorage"]

_T = TypeVar("_T")
_SUFFIX = ".json"
_TEMP_PREFIX = ".tmp-"
# Longer encoded keys get a hashed file name: most file systems cap names at 255 bytes.
_MAX_ENCODED = 200
_BATCH = 100
_MAX_PURGE_INTERVAL = 300.0
_STALE_TEMP = 3600.0


def file_name(key: str) -> str:
    """The file name for ``key``: never a path, a reserved name or a clash with another key.

    ``k_<base32 of the UTF-8 key>.json`` (lowercase, unpadded; reversible and safe on
    case-insensitive file systems), or ``h_<sha256 hex>.json`` when that would be long.
    """
    raw = key.encode("utf-8", "surrogatepass")
    encoded = base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    if len(encoded) <= _MAX_ENCODED:
        return f"k_{encoded}{_SUFFIX}"
    return f"h_{hashlib.sha256(raw).hexdigest()}{_SUFFIX}"


def _key_from_name(name: str) -> str | None:
    """The key a ``k_`` file name encodes (``None`` for hashed names and foreign files)."""
    if not (name.startswith("k_") and name.endswith(_SUFFIX)):
        return None
    encoded = name[2 : -len(_SUFFIX)].upper()
    try:
        raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
        return raw.decode("utf-8", "surrogatepass")
    except ValueError:
        return None


def _checked_name(key: str) -> str:
    """``file_name(key)``, or ``ValueError`` for a key that is not valid Unicode text."""
    try:
        key.encode()
    except UnicodeEncodeError as exc:
        raise unencodable_key(key, exc) from None
    return file_name(key)


def _is_session_file(name: str) -> bool:
    return name.endswith(_SUFFIX) and name.startswith(("k_", "h_"))


def _record(key: str, value: Any, expires_at: float | None) -> bytes:
    """The file content ``{"key": ..., "value": ..., "expires_at": ...}``.

    The value is encoded on its own so that its errors name the place inside it.
    """
    return b"".join(
        (
            b'{"key":',
            orjson.dumps(key),
            b',"value":',
            dumps(key, value),
            b',"expires_at":',
            orjson.dumps(expires_at),
            b"}",
        )
    )


class FileStorage(Closeable):
    """Sessions as JSON files in one directory: simple, inspectable, single host.

    Each file holds ``{"key": ..., "value": ..., "expires_at": ...}``; its name is derived
    from the key (see ``file_name``), so no key can leave the directory or overwrite another
    key's file. Writes go to a temporary file in the same directory, are flushed to disk and
    then renamed over the old file: a crash leaves either the old or the new session, never a
    torn one. File I/O runs in worker threads.

    Args:
        directory: folder for the session files, created on the first write.
        ttl: seconds (or a ``timedelta``) a session lives after its last write; expired
            files are invisible to every method and deleted in periodic sweeps.
        fsync: flush each write (and the directory entry) to disk before returning. Turning
            it off is faster, and a killed process still never leaves a torn file, but an
            OS crash may lose recent writes.

    Raises:
        ValueError: ``ttl`` is not positive.

    Backend failures raise ``StorageError``; an empty, torn or foreign file raises
    ``CorruptDataError`` and is left in place (it never reads as "no session").
    """

    __slots__ = ("_dir", "_fsync", "_made_dir", "_next_purge", "_ttl")

    def __init__(
        self,
        directory: str | os.PathLike[str] = "sessions",
        *,
        ttl: float | timedelta | None = None,
        fsync: bool = True,
    ) -> None:
        self._dir = os.fspath(directory)
        self._ttl = duration(ttl, what="ttl")
        self._fsync = fsync
        super().__init__()
        self._made_dir = False
        self._next_purge = 0.0

    def __repr__(self) -> str:
        return f"FileStorage({self._dir!r}, ttl={self._ttl!r})"

    # -- StorageAdapter --------------------------------------------------------------------

    async def read(self, key: str) -> Any:
        """The session stored under ``key``, or ``None`` if there is none (or it expired)."""
        name = _checked_name(key)
        data = await self._run("read", key, self._read_file, name)
        return None if data is None else self._unpack(data, key, name)[1]

    async def write(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key``, atomically replacing its file."""
        name = _checked_name(key)
        expires_at = None if self._ttl is None else time.time() + self._ttl
        await self._run("write", key, self._write_file, name, _record(key, value, expires_at))

    async def delete(self, key: str) -> None:
        """Remove the session stored under ``key``; nothing happens if there is none."""
        await self._run("delete", key, self._delete_file, _checked_name(key))

    async def has(self, key: str) -> bool:
        """Whether an unexpired session is stored under ``key``."""
        return await self.read(key) is not None

    async def read_all_keys(self) -> AsyncIterator[str]:
        """Every stored key (decoded from the files' contents), in no particular order."""
        async for key, _ in self._entries():
            yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        """Every stored value, in no particular order."""
        async for _, value in self._entries():
            yield value

    def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        """Every stored ``(key, value)`` pair, in no particular order."""
        return self._entries()

    # -- ExpiringStorage ---------------------------------------------------------------------

    async def read_with_expiry(self, key: str) -> tuple[Any, float | None] | None:
        """The session under ``key`` and its expiry (epoch seconds), or ``None``."""
        name = _checked_name(key)
        data = await self._run("read", key, self._read_file, name)
        if data is None:
            return None
        _, value, expires_at = self._unpack_record(data, key, name)
        return None if value is None else (value, expires_at)

    def read_all_entries_with_expiry(self) -> AsyncIterator[ExpiringEntry]:
        """Every stored ``(key, value, expires_at)``, in no particular order."""
        return self._entries(expiry=True)

    async def write_entries_with_expiry(self, entries: Sequence[ExpiringEntry]) -> None:
        """Store every ``(key, value, expires_at)`` (one atomic file each), expiry as given."""
        now = time.time()
        files = [
            (_checked_name(key), _record(key, value, expires_at))
            for key, value, expires_at in entries
            if expires_at is None or expires_at > now
        ]
        key = entries[0][0] if len(entries) == 1 else None
        await self._run("write", key, self._write_files, files)

    # -- internals ---------------------------------------------------------------------------

    def _unpack(self, data: bytes, key: str | None, name: str) -> tuple[str, Any]:
        """``(key, value)`` of a file's content; ``value`` is ``None`` once expired."""
        stored_key, value, _ = self._unpack_record(data, key, name)
        return stored_key, value

    def _unpack_record(self, data: bytes, key: str | None, name: str) -> ExpiringEntry:
        """``(key, value, expires_at)`` of a file's content; ``value`` is ``None`` once expired."""
        where = key if key is not None else _key_from_name(name)
        parsed = loads(where if where is not None else name, data)
        if not (isinstance(parsed, dict) and isinstance(parsed.get("key"), str)):
            raise CorruptDataError(
                f"Session file {os.path.join(self._dir, name)!r} is not a FileStorage "
                "record; it was left in place",
                key=where,
            )
        stored_key: str = parsed["key"]
        if (key is not None and stored_key != key) or file_name(stored_key) != name:
            raise CorruptDataError(
                f"Session file {os.path.join(self._dir, name)!r} holds key {stored_key!r}, "
                "which does not belong to this file name; it was left in place",
                key=where,
            )
        expires_at = parsed.get("expires_at")
        if expires_at is not None and (
            isinstance(expires_at, bool) or not isinstance(expires_at, int | float)
        ):
            raise CorruptDataError(
                f"Session file {os.path.join(self._dir, name)!r} has expires_at="
                f"{expires_at!r}, not a number; it was left in place",
                key=where,
            )
        if expires_at is not None and expires_at <= time.time():
            return stored_key, None, expires_at
        return stored_key, parsed.get("value"), expires_at

    async def _entries(self, *, expiry: bool = False) -> AsyncIterator[Any]:
        names = await self._run("list", None, self._list_names)
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            contents = await self._run("list", None, self._read_files, batch)
            for name, data in zip(batch, contents, strict=True):
                if data is None:
                    continue  # deleted since the listing
                key, value, expires_at = self._unpack_record(data, None, name)
                if value is not None:
                    yield (key, value, expires_at) if expiry else (key, value)

    async def _run(self, op: str, key: str | None, fn: Callable[..., _T], *args: Any) -> _T:
        self._check_open()
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            what = f"session {key!r}" if key is not None else "sessions"
            raise StorageError(
                f"FileStorage could not {op} {what} in {self._dir!r}: {exc}", key=key
            ) from exc

    # The methods below run in worker threads.

    def _read_file(self, name: str) -> bytes | None:
        try:
            with open(os.path.join(self._dir, name), "rb") as file:
                return file.read()
        except FileNotFoundError:
            return None

    def _read_files(self, names: list[str]) -> list[bytes | None]:
        return [self._read_file(name) for name in names]

    def _write_files(self, files: list[tuple[str, bytes]]) -> None:
        for name, data in files:
            self._write_file(name, data)

    def _list_names(self) -> list[str]:
        try:
            return [name for name in os.listdir(self._dir) if _is_session_file(name)]
        except FileNotFoundError:
            return []

    def _write_file(self, name: str, data: bytes) -> None:
        if not self._made_dir:
            os.makedirs(self._dir, exist_ok=True)
            self._made_dir = True
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self._dir)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                if self._fsync:
                    os.fsync(file.fileno())
            os.replace(temp, os.path.join(self._dir, name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._sync_dir()
        if self._ttl is not None and time.time() >= self._next_purge:
            self._purge(self._ttl)

    def _delete_file(self, name: str) -> None:
        try:
            os.unlink(os.path.join(self._dir, name))
        except FileNotFoundError:
            return
        self._sync_dir()

    def _sync_dir(self) -> None:
        if not self._fsync or not hasattr(os, "O_DIRECTORY"):
            return
        fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _purge(self, ttl: float) -> None:
        """Delete expired session files and temporary files left by killed writers."""
        now = time.time()
        self._next_purge = now + min(ttl, _MAX_PURGE_INTERVAL)
        with os.scandir(self._dir) as entries:
            for entry in entries:
                with contextlib.suppress(OSError, CorruptDataError):
                    mtime = entry.stat().st_mtime
                    if entry.name.startswith(_TEMP_PREFIX) and mtime < now - _STALE_TEMP:
                        os.unlink(entry.path)
                    # A file written less than ttl ago cannot have expired: skip reading it.
                    elif _is_session_file(entry.name) and mtime + ttl <= now:
                        self._expire(entry.name)

    def _expire(self, name: str) -> None:
        data = self._read_file(name)
        if data is None or self._unpack(data, None, name)[1] is not None:
            return
        # Claim the file by renaming it, then check again: a write that landed after the
        # first look is put back instead of being deleted.
        path = os.path.join(self._dir, name)
        claimed = os.path.join(self._dir, f"{_TEMP_PREFIX}{uuid.uuid4().hex}")
        os.rename(path, claimed)
        try:
            with open(claimed, "rb") as file:
                fresh = self._unpack(file.read(), None, name)[1] is not None
            if fresh:
                with contextlib.suppress(FileExistsError):
                    os.link(claimed, path)
        finally:
            os.unlink(claimed)
