"""MemorySessionStorage: isolated copies and a TTL counted from the last write."""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
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
            {1: "int key"},
            10**30,
            {"pair": (1, 2)},
            {"id": uuid.UUID(int=1)},
        ],
    )
    def test_non_json_values_come_back_with_their_types(self, value: Any) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("a", value)
        read = storage.read("a")
        assert type(read) is type(value)
        assert repr(read) == repr(value)

    # NaN used to be kept here; it is now refused like every other storage refuses it.
    @pytest.mark.parametrize(
        ("value", "where"),
        [
            ({"nan": float("nan")}, 'value["nan"] is nan'),
            ([1, {"x": float("inf")}], 'value[1]["x"] is inf'),
            ((1, -float("inf")), "value[1] is -inf"),
            ({"when": datetime.datetime(2024, 1, 1), "n": [float("nan")]}, 'value["n"][0] is nan'),
        ],
    )
    def test_nan_and_infinity_are_refused_naming_the_key_and_place(
        self, value: Any, where: str
    ) -> None:
        storage = MemorySessionStorage[Any]()
        with pytest.raises(TypeError, match=rf"session 'chat-1': {re.escape(where)}, which JSON"):
            storage.write("chat-1", value)
        assert storage.read("chat-1") is None

    @pytest.mark.parametrize("levels", [255, 10_000])
    def test_values_nested_too_deep_are_refused(self, levels: int) -> None:
        storage = MemorySessionStorage[Any]()
        value: Any = []
        for _ in range(levels - 1):
            value = [value]
        with pytest.raises(TypeError, match="session 'k': value nests more than 254 containers"):
            storage.write("k", value)
        assert storage.read("k") is None
        storage.write("k", value[0][0] if levels == 255 else [])  # 253 levels: fine
        assert storage.has("k")

    def test_254_nested_containers_are_kept(self) -> None:
        storage = MemorySessionStorage[Any]()
        value: Any = {}
        for _ in range(253):
            value = [value]
        storage.write("k", value)
        assert storage.read("k") == value

    # (Not through a tuple: orjson 3.13 does not count tuples against its depth limit and
    # overflows the C stack on such a cycle before any check of ours can run.)
    @pytest.mark.parametrize("kind", ["dict", "list"])
    def test_cyclic_values_are_refused(self, kind: str) -> None:
        storage = MemorySessionStorage[Any]()
        inner: list[Any] = []
        value: Any = {"inner": inner} if kind == "dict" else [inner]
        inner.append(value)
        with pytest.raises(TypeError, match=r"session 'k': .*\(or is cyclic\)"):
            storage.write("k", value)
        assert storage.read("k") is None

    @pytest.mark.parametrize("operation", ["read", "write", "has", "delete", "write_json_bytes"])
    def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, operation: str
    ) -> None:
        storage = MemorySessionStorage[Any]()
        arguments: dict[str, tuple[Any, ...]] = {"write": (1,), "write_json_bytes": (b"1",)}
        with pytest.raises(ValueError, match=r"session key 'a\\ud800' cannot be stored"):
            getattr(storage, operation)("a\ud800", *arguments.get(operation, ()))
        assert storage.read_all_keys() == []

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

    def test_a_rewrite_counts_as_the_newest_write(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=10)
        storage.write("a", 1)
        storage.write("b", 2)
        clock.now += 5
        storage.write("a", 3)
        assert storage.read_all_keys() == ["b", "a"]
        clock.now += 6  # "b" is 11 s old, "a" 6 s
        assert storage.read_all_entries() == [("a", 3)]

    def test_a_deleted_session_written_again_lives_from_the_new_write(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=10)
        storage.write("a", 1)
        storage.delete("a")
        assert storage.read("a") is None
        assert not storage.has("a")
        assert storage.read_all_keys() == []
        clock.now += 8
        storage.write("a", 2)
        clock.now += 8
        assert storage.read("a") == 2
        clock.now += 3
        assert storage.read("a") is None

    def test_sessions_deleted_and_written_again_are_all_reclaimed(self, clock: Clock) -> None:
        storage = MemorySessionStorage[int](ttl=1)
        for i in range(1000):
            for earlier in range(3):
                storage.write(f"k{i}", earlier)
                storage.delete(f"k{i}")
            storage.write(f"k{i}", i)
        clock.now += 2
        for i in range(1000):
            storage.write(f"new{i}", i)
        assert len(storage._data) == 1000  # every old entry was swept by later writes
        assert storage.read("k1") is None

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
