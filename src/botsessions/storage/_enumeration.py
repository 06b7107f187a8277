"""``read_all_keys/values/entries`` on top of one batched scan (Redis, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

__all__ = ["BatchedEnumeration"]


class BatchedEnumeration:
    """Mixin: the three enumeration methods, from ``_batches(values=...)``.

    ``_batches`` yields lists of ``(key, value)`` pairs (values are ``None`` when
    ``values`` is false), fetching one batch per round trip; nothing is held open between
    batches, so sessions written meanwhile may or may not be listed.
    """

    __slots__ = ()

    def _batches(self, *, values: bool) -> AsyncIterator[list[tuple[str, Any]]]:
        raise NotImplementedError

    async def read_all_keys(self) -> AsyncIterator[str]:
        """Every stored session key (fetched in batches)."""
        async for batch in self._batches(values=False):
            for key, _ in batch:
                yield key

    async def read_all_values(self) -> AsyncIterator[Any]:
        """Every stored session value (fetched in batches)."""
        async for batch in self._batches(values=True):
            for _, value in batch:
                yield value

    async def read_all_entries(self) -> AsyncIterator[tuple[str, Any]]:
        """Every stored ``(key, value)`` pair (fetched in batches)."""
        async for batch in self._batches(values=True):
            for entry in batch:
                yield entry
