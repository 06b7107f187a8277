"""RecordingStorage records each call and forwards it."""

from __future__ import annotations

import pytest

from botsessions import MemorySessionStorage
from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage


async def test_calls_are_recorded_in_order_and_counted() -> None:
    storage = RecordingStorage()
    value = {"n": 1}
    await storage.write("a", value)
    value["n"] = 2  # the record keeps what was written
    assert await storage.read("a") == {"n": 1}
    assert await storage.has("a")
    await storage.delete("a")
    assert [k async for k in storage.read_all_keys()] == []
    assert storage.calls == [
        ("write", "a", {"n": 1}),
        ("read", "a"),
        ("has", "a"),
        ("delete", "a"),
        ("read_all_keys",),
    ]
    assert (storage.reads, storage.writes, storage.deletes) == (1, 1, 1)
    storage.clear()
    assert storage.calls == []


def test_the_sync_variant_needs_a_sync_storage() -> None:
    storage = SyncRecordingStorage(MemorySessionStorage())
    storage.write("a", 1)
    assert storage.read("a") == 1
    assert storage.calls == [("write", "a", 1), ("read", "a")]
    with pytest.raises(TypeError, match="not synchronous"):
        SyncRecordingStorage(RecordingStorage())
