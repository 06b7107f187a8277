"""What the SQL server storages share: size checks, keyset pages and background purges."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import Context
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from botsessions.storage._enumeration import BatchedEnumeration
from botsessions.storage._lifecycle import Closeable

__all__ = [
    "PURGE_LIMIT",
    "Statements",
    "TableStorage",
    "check_sizes",
    "check_table",
    "keyset_pages",
    "url_or_pool",
]

PURGE_EVERY = 60.0  # seconds between opportunistic purges of expired rows
PURGE_LIMIT = 1000  # rows deleted per opportunistic purge

Row = TypeVar("Row", bound=Sequence[Any])
Ready = TypeVar("Ready")
P = TypeVar("P")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")


def check_table(table: str) -> None:
    """Raise ``ValueError`` unless ``table`` is a plain identifier, safe to quote into SQL."""
    if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
        raise ValueError(
            f"table must be a plain identifier (letters, digits, underscores, at most "
            f"48 characters, not starting with a digit), got {table!r}"
        )


def check_sizes(*, min_size: int, max_size: int, batch_size: int) -> None:
    """Raise ``ValueError`` unless the pool sizes and the batch size are sane positive ints."""
    for name, number in (
        ("min_size", min_size),
        ("max_size", max_size),
        ("batch_size", batch_size),
    ):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"{name} must be a positive int, got {number!r}")
    if min_size > max_size:
        raise ValueError(f"min_size ({min_size}) must not exceed max_size ({max_size})")


def url_or_pool(given: object, pool_type: type[P], *, what: str) -> tuple[str | None, P | None]:
    """``(url, None)`` for a connection string, ``(None, pool)`` for a ready pool.

    Raises:
        TypeError: ``given`` is neither (``what`` names the argument and the pool type).
    """
    if isinstance(given, str):
        return given, None
    if isinstance(given, pool_type):
        return None, given
    raise TypeError(f"{what}, got {type(given)!r}")


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements every table storage runs against its table (subclasses add more).

    Only the checked table name is placed into SQL text; keys, values and times are
    always parameters.
    """

    create_table: str
    read: str
    write: str
    delete: str
    has: str
    first_page: str
    page: str
    purge: str
    acquire: str
    save: str
    remove: str
    unlock: str

    @classmethod
    def build(cls, table: str) -> Self:
        """Statements for ``table``; ``ValueError`` unless it is a plain identifier."""
        check_table(table)
        return cls.for_table(table)

    @classmethod
    def for_table(cls, table: str) -> Self:
        """Statements for ``table``, already checked (each storage writes its own SQL)."""
        raise NotImplementedError


async def keyset_pages(
    fetch: Callable[[Row | None], Awaitable[Sequence[Row]]], size: int
) -> AsyncIterator[Sequence[Row]]:
    """Pages of rows in key order: ``fetch(None)`` first, then ``fetch(last row)``.

    Stops after an empty or short page, so no query is spent to learn that nothing is left.
    """
    rows = await fetch(None)
    while rows:
        yield rows
        if len(rows) < size:
            return
        rows = await fetch(rows[-1])


class TableStorage(Closeable, BatchedEnumeration, Generic[Ready]):
    """Base of the storages keeping sessions as table rows that expire.

    A subclass implements ``_open()`` (connect and create the table, once, giving what
    its operations use: ``ready = self._ready or await self._setup()``), ``_close_pool()``
    and ``purge_expired()``. Writes with a ``ttl`` call ``_purge_if_due()``, which starts a
    purge in the background about once a minute; ``close()`` lets running purges end.
    """

    __slots__ = ("_batch", "_next_purge", "_purges", "_ready", "_setup_lock", "_table", "_ttl")

    def __init__(
        self, *, table: str, ttl: float | None, batch_size: int, min_size: int, max_size: int
    ) -> None:
        """``min_size`` and ``max_size`` bound the pool the storage builds from a URL.

        Raises:
            ValueError: from ``check_sizes``.
        """
        check_sizes(min_size=min_size, max_size=max_size, batch_size=batch_size)
        super().__init__()
        self._table = table
        self._ttl = ttl
        self._batch = batch_size
        self._ready: Ready | None = None
        self._setup_lock = asyncio.Lock()
        self._next_purge = time.monotonic() + PURGE_EVERY
        self._purges: set[asyncio.Task[int]] = set()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} table={self._table!r} ttl={self._ttl!r} {self._state.value}>"

    async def _setup(self) -> Ready:
        async with self._setup_lock:
            self._check_open()
            if self._ready is None:
                self._ready = await self._open()
            return self._ready

    async def _open(self) -> Ready:
        raise NotImplementedError

    async def _close_pool(self) -> None:
        raise NotImplementedError

    async def purge_expired(self, limit: int = PURGE_LIMIT) -> int:
        """Delete up to ``limit`` expired rows now; return how many were deleted."""
        raise NotImplementedError

    def _purge_if_due(self) -> None:
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY
            # A fresh context: the purge must not borrow the connection of the writer's lease.
            task = asyncio.get_running_loop().create_task(self._purge_quietly(), context=Context())
            self._purges.add(task)
            task.add_done_callback(self._purges.discard)

    async def _purge_quietly(self) -> int:
        try:
            return await self.purge_expired()
        except Exception:  # best effort: the next write tries again; reads never see expired rows
            return 0

    async def _release(self) -> None:
        self._ready = None
        if self._purges:
            await asyncio.gather(*self._purges, return_exceptions=True)
        await self._close_pool()
