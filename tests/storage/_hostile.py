"""Hostile inputs the storage tests share (issue 18: foreign data, hostile keys and values)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

#: Keys that are not valid Unicode text: no backend can store them.
UNENCODABLE_KEYS = ["\udc80", "chat\ud800", "\udfff-42"]

#: A session value with NaN or infinity somewhere: JSON cannot hold them.
NOT_FINITE = [{"x": float("nan")}, [1.0, float("inf")], {"a": {"b": [float("-inf")]}}]


def nested(depth: int) -> Any:
    """A value of ``depth`` nested containers (lists and dicts in turn)."""
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


async def assert_unencodable_keys_refused(storage: Any, *, locking: bool = False) -> None:
    """Every operation on each of ``UNENCODABLE_KEYS`` raises ``ValueError`` naming the key."""
    for key in UNENCODABLE_KEYS:
        calls = [
            functools.partial(storage.read, key),
            functools.partial(storage.write, key, 1),
            functools.partial(storage.delete, key),
            functools.partial(storage.has, key),
        ]
        if locking:
            calls.append(functools.partial(storage.acquire, key, read=True))
        for call in calls:
            with pytest.raises(ValueError, match="not valid Unicode") as caught:
                await call()
            assert repr(key) in str(caught.value)
