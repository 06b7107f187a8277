"""The storage's shape is decided once, when a session is built (engine.plan)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from botsessions import MemorySessionStorage, session
from botsessions.engine.plan import Shape
from botsessions.storage import NOT_JSON_BYTES, JSONBytesStorage
from botsessions.testing.recording import RecordingStorage
from tests.session_support import FakeContext, run


async def bump(ctx: FakeContext) -> None:
    ctx.session["count"] += 1


def shape_of(mw: Any) -> Shape:
    shape: Shape = mw.manager.plans[0].access.shape
    return shape


class LoggingMemory(MemorySessionStorage[Any]):
    """A subclass that overrides ``write`` only: its override must see every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, Any]] = []

    def write(self, key: str, value: Any) -> None:
        self.writes.append((key, value))
        super().write(key, value)


class BytesCache:
    """A third-party storage implementing the JSON-bytes protocol."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.calls: list[str] = []

    def read(self, key: str) -> Any:
        self.calls.append("read")
        return None

    def write(self, key: str, value: Any) -> None:
        self.calls.append("write")

    def delete(self, key: str) -> None:
        self.calls.append("delete")
        self.data.pop(key, None)

    def read_json_bytes(self, key: str) -> bytes | None:
        self.calls.append("read_json_bytes")
        return self.data.get(key)

    def write_json_bytes(self, key: str, data: bytes) -> None:
        self.calls.append("write_json_bytes")
        self.data[key] = data


class TestJSONBytesFastPath:
    def test_memory_storage_implements_the_protocol(self) -> None:
        assert isinstance(MemorySessionStorage(), JSONBytesStorage)
        assert shape_of(session(initial=dict)) is Shape.MEMORY_BYTES

    async def test_a_subclass_overriding_write_is_not_bypassed(self) -> None:
        storage = LoggingMemory()
        mw = session(initial=lambda: {"count": 0}, storage=storage)
        assert shape_of(mw) is Shape.SYNC
        await run(mw, FakeContext(), bump)
        await run(mw, FakeContext(), bump)
        assert storage.writes == [("42", {"count": 1}), ("42", {"count": 2})]

    async def test_a_third_party_storage_with_the_protocol_gets_the_fast_path(self) -> None:
        storage = BytesCache()
        mw = session(initial=lambda: {"count": 0}, storage=storage)
        assert shape_of(mw) is Shape.MEMORY_BYTES
        await run(mw, FakeContext(), bump)
        await run(mw, FakeContext(), bump)
        assert storage.data == {"42": b'{"count":2}'}
        assert storage.calls == ["read_json_bytes", "write_json_bytes"] * 2

    async def test_unchanged_bytes_are_not_written(self) -> None:
        storage = BytesCache()
        storage.data["42"] = b'{"count":1}'
        mw = session(initial=lambda: {"count": 0}, storage=storage)

        async def same(ctx: FakeContext) -> None:
            ctx.session["count"] += 1
            ctx.session["count"] -= 1

        await run(mw, FakeContext(), same)
        assert storage.calls == ["read_json_bytes"]

    async def test_a_session_kept_in_another_form_is_read_with_read(self) -> None:
        storage = MemorySessionStorage[Any]()
        storage.write("42", {"count": 1, "when": (1, 2)})  # a tuple: kept as a deep copy
        assert storage.read_json_bytes("42") is NOT_JSON_BYTES
        seen: list[Any] = []

        async def look(ctx: FakeContext) -> None:
            seen.append(ctx.session)

        await run(session(storage=storage), FakeContext(), look)
        assert seen == [{"count": 1, "when": [1, 2]}]

    def test_a_recording_wrapper_is_driven_through_read_and_write(self) -> None:
        mw = session(initial=dict, storage=RecordingStorage(MemorySessionStorage()))
        assert shape_of(mw) is not Shape.MEMORY_BYTES


@pytest.mark.parametrize(
    "code",
    [
        "import botsessions._session, botsessions.engine",
        "from botsessions import session, lazy_session; session(initial=dict); "
        "lazy_session(initial=lambda: {'a': 1}); session(type='multi', chat={'initial': dict})",
    ],
)
def test_untyped_sessions_do_not_import_pydantic(code: str) -> None:
    check = f"{code}\nimport sys\nassert 'pydantic' not in sys.modules, 'pydantic loaded'"
    subprocess.run([sys.executable, "-c", check], check=True)


def test_a_typed_session_imports_pydantic() -> None:
    code = (
        "import dataclasses, sys\nfrom botsessions import session\n"
        "@dataclasses.dataclass\nclass Data:\n    n: int = 0\n"
        "session(initial=Data)\nassert 'pydantic' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
