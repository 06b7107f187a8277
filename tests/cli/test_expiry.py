"""``ExpiringStorage`` on every built-in persistent storage (what export/import rely on)."""

from __future__ import annotations

import time

from botsessions.storage import ExpiringStorage, MemorySessionStorage
from tests.cli.conftest import Backend


async def test_entries_are_written_and_read_with_their_expiry(backend: Backend) -> None:
    storage = backend.storage
    assert isinstance(storage, ExpiringStorage)
    soon = time.time() + 600
    await storage.write_entries_with_expiry([("a", {"n": 2**80}, soon), ("b", ["ü"], None)])
    found = await storage.read_with_expiry("a")
    assert found is not None
    assert found[0] == {"n": 2**80}
    assert found[1] is not None
    assert abs(found[1] - soon) < 0.01
    assert await storage.read_with_expiry("b") == (["ü"], None)
    listed = {key: (value, at) async for key, value, at in storage.read_all_entries_with_expiry()}
    assert listed["b"] == (["ü"], None)
    assert listed["a"][1] is not None
    assert abs(listed["a"][1] - soon) < 0.01


async def test_an_entry_that_already_expired_is_not_written(backend: Backend) -> None:
    storage = backend.storage
    await storage.write("gone", 1)
    await storage.write_entries_with_expiry([("gone", 2, time.time() - 1), ("kept", 3, None)])
    assert await storage.read("gone") == 1  # untouched
    assert await storage.read("kept") == 3
    assert await storage.read_with_expiry("missing") is None


async def test_an_explicit_expiry_replaces_a_previous_one(backend: Backend) -> None:
    storage = backend.storage
    await storage.write_entries_with_expiry([("k", 1, time.time() + 60)])
    await storage.write_entries_with_expiry([("k", 2, None)])
    assert await storage.read_with_expiry("k") == (2, None)


def test_memory_storage_does_not_claim_expiry_support() -> None:
    assert not isinstance(MemorySessionStorage(), ExpiringStorage)
