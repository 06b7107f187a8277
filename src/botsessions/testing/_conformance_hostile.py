"""The conformance cases for what no storage can keep: refused loudly, nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any, ClassVar

import pytest

from botsessions.testing._conformance_harness import (
    ConformanceHarness,
    Make,
    await_,
    with_storages,
)
from botsessions.testing._conformance_values import UNSTORABLE_KEYS, UNSTORABLE_VALUES

__all__ = ["UnstorableCases"]


class UnstorableCases(ConformanceHarness):
    """Mixed into ``StorageConformance``: values and keys every storage must refuse.

    ``refuses_unstorable = False`` skips these cases, for a storage that knowingly keeps
    such values (a ``json.dumps`` adapter writes ``NaN`` tokens that other JSON readers
    reject).
    """

    refuses_unstorable: ClassVar[bool] = True

    @pytest.mark.parametrize("name", list(UNSTORABLE_VALUES))
    @with_storages("make_storage")
    async def test_values_no_storage_can_keep_are_refused_naming_the_key(
        self, make: Make, name: str
    ) -> None:
        storage = await self._refuses(make, "values", "chat-7", UNSTORABLE_VALUES[name], TypeError)
        assert await await_(storage.read("chat-7")) is None

    @pytest.mark.parametrize("key", UNSTORABLE_KEYS, ids=ascii)
    @with_storages("make_storage")
    async def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, make: Make, key: str
    ) -> None:
        storage = await self._refuses(make, "keys", key, {"v": 1}, ValueError, "not valid Unicode")
        keys = getattr(storage, "read_all_keys", None)
        if callable(keys):
            listed = await await_(keys())
            if isinstance(listed, AsyncIterable):
                listed = [k async for k in listed]
            assert list(listed) == []

    async def _refuses(
        self,
        make: Make,
        what: str,
        key: str,
        value: object,
        error: type[Exception],
        match: str | None = None,
    ) -> Any:
        """Write ``value`` under ``key`` on a new storage, expecting ``error`` that names the
        key (skipped unless the storage refuses unstorable ``what``); the storage is returned."""
        if not self.refuses_unstorable:
            pytest.skip(f"the storage does not declare that it refuses unstorable {what}")
        storage = await make()
        with pytest.raises(error, match=match) as refused:
            await await_(storage.write(key, value))
        assert repr(key) in str(refused.value), "the error does not name the key"
        return storage
