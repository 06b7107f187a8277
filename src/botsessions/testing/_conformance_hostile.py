"""The conformance cases for what no storage can keep: refused loudly, nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import ClassVar

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
        self._skip_unless_refusing("values")
        storage = await make()
        with pytest.raises(TypeError) as refused:
            await await_(storage.write("chat-7", UNSTORABLE_VALUES[name]))
        assert "'chat-7'" in str(refused.value), "the error does not name the key"
        assert await await_(storage.read("chat-7")) is None

    @pytest.mark.parametrize("key", UNSTORABLE_KEYS, ids=ascii)
    @with_storages("make_storage")
    async def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, make: Make, key: str
    ) -> None:
        self._skip_unless_refusing("keys")
        storage = await make()
        with pytest.raises(ValueError, match="not valid Unicode") as refused:
            await await_(storage.write(key, {"v": 1}))
        assert repr(key) in str(refused.value), "the error does not name the key"
        keys = getattr(storage, "read_all_keys", None)
        if callable(keys):
            listed = await await_(keys())
            if isinstance(listed, AsyncIterable):
                listed = [k async for k in listed]
            assert list(listed) == []

    def _skip_unless_refusing(self, what: str) -> None:
        if not self.refuses_unstorable:
            pytest.skip(f"the storage does not declare that it refuses unstorable {what}")
