"""The session codec: plain JSON sessions are checked, typed sessions round-trip losslessly."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict

from botsessions._errors import CorruptDataError
from botsessions.engine.codec import codec_for


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Address:
    city: str
    since: date


ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@dataclasses.dataclass
class Profile:
    aware: datetime = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=3)))
    naive: datetime = datetime(2024, 5, 1, 12, 30, 15, 123456)
    day: date = date(2024, 2, 29)
    price: Decimal = Decimal("10.50")
    id: uuid.UUID = ID
    color: Color = Color.BLUE
    tags: set[str] = dataclasses.field(default_factory=lambda: {"a", "b"})
    frozen: frozenset[int] = frozenset({1, 2})
    raw: bytes = b"\x00\xff binary"
    pair: tuple[int, str] = (1, "x")
    home: Address = dataclasses.field(default_factory=lambda: Address("Oslo", date(2020, 1, 1)))
    past: list[Address] = dataclasses.field(default_factory=list)


class Settings(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    when: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    amount: Decimal = Decimal("0.1")
    seen: set[int] = {3, 1}
    blob: bytes = b"\xfe"
    profile: Profile = Profile()


class Counter(TypedDict):
    count: int
    last: datetime


def through_storage(data: Any) -> Any:
    """What any JSON storage gives back."""
    return orjson.loads(orjson.dumps(data))


class TestPlainSessions:
    @pytest.mark.parametrize(
        "value",
        [
            {"count": 1, "name": "Ann", "nested": {"list": [1, 2.5, None, True, "s"]}},
            [1, "two"],
            "text",
            0,
            {"big": 2**100},
        ],
    )
    def test_json_values_encode_and_decode_unchanged(self, value: Any) -> None:
        codec = codec_for(dict)
        encoded = codec.encode(value)
        assert encoded == value
        assert codec.decode(encoded, "k") == value

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (
                {"when": datetime(2024, 1, 1)},
                'session["when"]: datetime is not JSON; declare a typed session',
            ),
            ({"a": [{"b": (1, 2)}]}, 'session["a"][0]["b"]: tuple is not JSON; use a list'),
            ({"id": uuid.uuid4()}, 'session["id"]: UUID is not JSON'),
            ({"c": Color.RED}, 'session["c"]: Color is not JSON'),
            ({"s": {1}}, 'session["s"]: set is not JSON'),
            ({"b": b"x"}, 'session["b"]: bytes is not JSON'),
            ({"d": Decimal(1)}, 'session["d"]: Decimal is not JSON'),
            ({"x": float("nan")}, 'session["x"]: nan is not JSON'),
            ({"x": [float("inf")]}, 'session["x"][0]: inf is not JSON'),
            ({1: "a"}, "session: key 1 (int) is not JSON; keys must be str"),
            ({"p": Address("Oslo", date(2020, 1, 1))}, 'session["p"]: Address is not JSON'),
            (datetime(2024, 1, 1), "session: datetime is not JSON"),
        ],
    )
    def test_values_json_cannot_round_trip_are_refused_naming_the_path(
        self, value: Any, message: str
    ) -> None:
        with pytest.raises(TypeError) as caught:
            codec_for(None).encode(value)
        assert str(caught.value).startswith(message)

    @pytest.mark.parametrize(
        "value",
        [
            {"t": (1, 2)},
            {"id": uuid.uuid4()},
            {"c": Color.RED},
            {"x": float("nan")},
            {"x": float("inf")},
        ],
    )
    def test_flat_values_json_cannot_round_trip_are_refused_as_bytes_too(
        self, value: dict[str, Any]
    ) -> None:
        with pytest.raises(TypeError, match=rf'^session\["{next(iter(value))}"\]: '):
            codec_for(None).encode_bytes(value)

    @pytest.mark.parametrize("method", ["encode", "encode_bytes", "decode"])
    def test_a_cyclic_session_is_refused_naming_where_it_refers_back(self, method: str) -> None:
        value: dict[str, Any] = {"user": {"friends": [1]}}
        value["user"]["friends"].append(value)
        with pytest.raises(TypeError, match=r'^session\["user"\]\["friends"\]\[1\]: .*cyclic'):
            getattr(codec_for(None), method)(value)

    @pytest.mark.parametrize("levels", [255, 10_000])
    @pytest.mark.parametrize("method", ["encode", "encode_bytes", "decode"])
    def test_a_session_nested_too_deep_is_refused_not_a_recursion_error(
        self, method: str, levels: int
    ) -> None:
        value: Any = {}
        for _ in range(levels - 2):
            value = [value]
        value = {"root": value}
        with pytest.raises(TypeError, match=r'^session\["root"\]\[0\].*: nests more than 254'):
            getattr(codec_for(None), method)(value)

    def test_254_nested_containers_and_shared_objects_are_fine(self) -> None:
        value: Any = {}
        for _ in range(253):
            value = [value]
        shared = [10**30]  # a big int: the exact walk copies, not orjson
        codec = codec_for(None)
        assert codec.encode(value) == value
        assert codec.encode({"a": shared, "b": shared, "deep": value[0]}) == {
            "a": shared,
            "b": shared,
            "deep": value[0],
        }

    def test_int_and_str_enums_are_stored_as_their_plain_value(self) -> None:
        # They compare equal to their value, so the JSON check lets them through.
        assert type(codec_for(None).encode({"l": Level.LOW})["l"]) is int

    def test_encoding_shares_no_object_with_the_session(self) -> None:
        items, inner = [1], {"a": 1}
        encoded = codec_for(dict).encode({"list": items, "dict": inner})
        items.append(2)
        inner["b"] = 2
        assert encoded == {"list": [1], "dict": {"a": 1}}

    def test_decoding_shares_no_object_with_the_stored_form(self) -> None:
        stored = {"list": [1], "big": [2**70]}
        session = codec_for(dict).decode(stored, "k")
        session["list"].append(2)
        session["big"].append(3)
        assert stored == {"list": [1], "big": [2**70]}

    @pytest.mark.parametrize("initial", [None, dict, list, lambda: {"n": 0}, Profile()])
    def test_functions_builtins_and_instances_give_the_plain_codec(self, initial: Any) -> None:
        with pytest.raises(TypeError, match="declare a typed session"):
            codec_for(initial).encode({"d": date(2024, 1, 1)})


class TestTypedSessions:
    @pytest.mark.parametrize(
        ("schema", "value"),
        [
            (Profile, Profile()),
            (Profile, Profile(past=[Address("Rome", date(1999, 12, 31))], tags=set())),
            (Settings, Settings()),
            (Counter, Counter(count=3, last=datetime(2024, 1, 1, 8, 0))),
            (dict[str, datetime], {"a": datetime(2024, 1, 1, tzinfo=UTC)}),
            (list[tuple[Decimal, uuid.UUID]], [(Decimal("1.000"), uuid.uuid4())]),
        ],
    )
    def test_values_round_trip_losslessly_through_json(self, schema: Any, value: Any) -> None:
        codec = codec_for(schema=schema)
        stored = through_storage(codec.encode(value))
        decoded = codec.decode(stored, "k")
        assert decoded == value
        assert type(decoded) is type(value)

    def test_a_class_passed_as_initial_is_the_schema(self) -> None:
        codec = codec_for(Profile)
        decoded = codec.decode(through_storage(codec.encode(Profile())), "k")
        assert isinstance(decoded, Profile)
        assert decoded.aware.utcoffset() == timedelta(hours=3)
        assert decoded.naive.tzinfo is None
        assert str(decoded.price) == "10.50"
        assert decoded.raw == b"\x00\xff binary"
        assert decoded.pair == (1, "x")
        assert decoded.frozen == frozenset({1, 2})
        assert isinstance(decoded.frozen, frozenset)

    def test_the_stored_form_is_plain_readable_json(self) -> None:
        encoded = codec_for(Profile).encode(Profile())
        assert encoded["aware"] == "2024-05-01T12:30:00+03:00"
        assert encoded["price"] == "10.50"
        assert encoded["color"] == "blue"
        assert encoded["home"] == {"city": "Oslo", "since": "2020-01-01"}
        assert sorted(encoded["tags"]) == ["a", "b"]

    def test_stored_data_that_does_not_validate_is_corrupt_data_naming_the_key(self) -> None:
        with pytest.raises(CorruptDataError) as caught:
            codec_for(Profile).decode({"aware": "not a date"}, "chat-42")
        assert caught.value.key == "chat-42"
        assert "'chat-42'" in str(caught.value)
        assert "Profile" in str(caught.value)

    def test_a_value_of_the_wrong_type_is_refused_at_write_time(self) -> None:
        with pytest.raises(TypeError, match="cannot store dict as Profile"):
            codec_for(Profile).encode({"aware": 1})

    def test_non_utf8_bytes_in_a_model_without_base64_say_how_to_fix_it(self) -> None:
        class Raw(BaseModel):
            data: bytes

        with pytest.raises(TypeError, match="ser_json_bytes='base64'"):
            codec_for(Raw).encode(Raw(data=b"\xff"))

    def test_decoding_shares_no_object_with_the_stored_form(self) -> None:
        @dataclasses.dataclass
        class Loose:
            extra: Any = None

        stored = {"extra": {"list": [1]}}
        decoded = codec_for(Loose).decode(stored, "k")
        decoded.extra["list"].append(2)
        assert stored == {"extra": {"list": [1]}}

    def test_a_type_pydantic_cannot_handle_is_refused_when_the_codec_is_built(self) -> None:
        class Opaque:
            pass

        with pytest.raises(TypeError, match="Cannot use Opaque as a session schema"):
            codec_for(schema=Opaque)
