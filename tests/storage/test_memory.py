"""MemorySessionStorage: isolated copies and a TTL counted from the last write."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from botsessions import MemorySessionStorage


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1_000_000.0
        monkeypatch.setattr("time.time", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@dataclasses.dataclass
class Point:
    x: int


class TestMemorySessionStorage:
    def test_reads_what_was_written_and_forgets_deleted_keys(self) -> None:
        storage = MemorySessionStorage[Any]()
        assert storage.read("a") is None
        storage.write("a", {"n": 1})
        assert storage.read("a") == {"n": 1}
        assert storage.has("a")
        storage.delete("a")
        storage.delete("a")
        assert storage.read("a") is None
        assert not storage.has("a")

    def test_mutating_after_write_or_read_never_changes_what_is_stored(self) -> None:
        storage = MemorySessionStorage[Any]()
        value = {"items": [1]}
        storage.write("a", value)
        value["items"].append(2)
        read = storage.read("a")
        assert read is not None
        read["items"].append(3)
        assert storage.read("a") == {"items": [1]}

    @pytest.mark.parametrize(
        "value",
        [
            (1, 2),
            {"when": datetime.datetime(2024, 1, 1)},
            Point(1),
            {"nan": float("nan")},
            {1: "int key"},
            10**30,
        ],
    )
    def test_non_json_values_come_back_with_their_types(self, value: Any) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("a", value)
        read = storage.read("a")
        assert type(read) is type(value)
        assert repr(read) == repr(value)

    def test_read_all_methods_list_every_session(self) -> None:
        storage = MemorySessionStorage[int]()
        storage.write("a", 1)
        storage.write("b", 2)
        assert sorted(storage.read_all_keys()) == ["a", "b"]
        assert sorted(storage.read_all_values()) == [1, 2]
        assert sorted(storage.read_all_entries()) == [("a", 1), ("b", 2)]

    def test_expired_sessions_are_invisible_to_every_method(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=10)
        storage.write("a", 1)
        clock.now += 5
        storage.write("b", 2)
        clock.now += 6  # "a" is 11 s old, "b" 6 s
        assert storage.read("a") is None
        assert not storage.has("a")
        assert storage.read_all_keys() == ["b"]
        assert storage.read_all_values() == [2]
        assert storage.read_all_entries() == [("b", 2)]

    def test_the_ttl_counts_from_the_last_write(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=datetime.timedelta(seconds=10))
        storage.write("a", 1)
        clock.now += 8
        assert storage.read("a") == 1  # reads do not extend
        storage.write("a", 2)
        clock.now += 8
        assert storage.read("a") == 2
        clock.now += 3
        assert storage.read("a") is None

    def test_expired_sessions_are_reclaimed_without_being_read(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=1.5)
        for i in range(1000):
            storage.write(f"old{i}", i)
        clock.now += 2
        for i in range(1000):
            storage.write(f"new{i}", i)
        assert len(storage._data) == 1000  # every old entry was swept by later writes
        assert storage.has("new0")

    @pytest.mark.parametrize("ttl", [0, -1, float("nan")])
    def test_a_ttl_must_be_positive(self, ttl: float) -> None:
        with pytest.raises(ValueError, match="positive"):
            MemorySessionStorage(ttl=ttl)

    @pytest.mark.parametrize("ttl", ["10", True])
    def test_a_ttl_must_be_seconds(self, ttl: Any) -> None:
        with pytest.raises(TypeError, match="seconds"):
            MemorySessionStorage(ttl=ttl)

    def test_an_infinite_ttl_means_no_expiry(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=float("inf"))
        storage.write("a", 1)
        clock.now += 10**9
        assert storage.read("a") == 1
