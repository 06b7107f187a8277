"""The values and keys the storage conformance suite writes, and its strict comparison."""

from __future__ import annotations

from typing import Any

__all__ = ["JSON_VALUES", "KEYS", "UNSTORABLE_KEYS", "UNSTORABLE_VALUES", "assert_same_json"]

#: Values every storage must return exactly as written (types included).
JSON_VALUES: dict[str, Any] = {
    "flat dict": {"count": 1, "name": "Alice"},
    "nested": {"user": {"tags": ["a", {"b": [1, 2, {"c": None}]}], "ok": True}},
    "unicode": {"text": "héllo wörld ключ 日本語 🎉👍🏽", "ключ 🎉": "значение"},
    "escapes": {"quote": '"\\/\n\t\r\b\f', "ctrl": "\x01\x1f\x7f", "bidi": "\u202e"},
    "64-bit ints": {"max": 2**63 - 1, "min": -(2**63), "u64": 2**64 - 1, "js max": 2**53 + 1},
    "floats": {"pi": 3.141592653589793, "tiny": 5e-324, "max": 1.7976931348623157e308},
    "float with zero fraction": {"one": 1.0, "minus": -2.0},
    "bools and null": {"t": True, "f": False, "n": None},
    "empty containers": {"dict": {}, "list": [], "str": ""},
    "list root": [1, "two", 3.5, None, [], {}],
    "string root": "just a string",
    "empty string root": "",
    "zero root": 0,
    "false root": False,
    "empty dict root": {},
    "empty list root": [],
    "large": {"items": [{"id": i, "text": "x" * 100} for i in range(5000)]},
    "long string": "y" * 1_000_000,
}

#: Keys every storage must keep apart and give back unchanged.
KEYS: list[str] = [
    "",
    "0",
    "-1001234567890",
    "user:42/chat:-100",
    "../escape",
    "a/b\\c",
    ".",
    "CON",
    "ключ",
    "🎉",
    "K" * 1000,
]


def _nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return {"deep": value}


def _cyclic() -> Any:
    value: dict[str, Any] = {"items": [1]}
    value["items"].append(value)
    return value


#: Values no storage can keep, which every storage must refuse with ``TypeError`` naming
#: the key, storing nothing: JSON has no NaN or infinity, and every built-in storage
#: nests at most 254 containers (a cyclic value never ends).
UNSTORABLE_VALUES: dict[str, Any] = {
    "NaN": {"x": float("nan")},
    "infinity": {"x": [1, float("inf")]},
    "minus infinity root": float("-inf"),
    "255 nested containers": _nested(254),
    "10,000 nested containers": _nested(9_999),
    "cyclic": _cyclic(),
}

#: Keys that are not valid Unicode text (lone surrogates): writing one must raise
#: ``ValueError`` naming it, never a raw ``UnicodeEncodeError``.
UNSTORABLE_KEYS: list[str] = ["lone \ud800 surrogate", "\udfff", "ok\udc80"]


def assert_same_json(actual: Any, expected: Any, path: str = "value") -> None:
    """Assert equality that also tells ``1``, ``1.0`` and ``True`` apart, at every depth."""
    assert type(actual) is type(expected), f"{path}: {actual!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), f"{path}: keys differ"
        for k, item in expected.items():
            assert_same_json(actual[k], item, f"{path}[{k!r}]")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: lengths differ"
        for i, item in enumerate(expected):
            assert_same_json(actual[i], item, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
