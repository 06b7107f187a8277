"""Importing botsessions costs what the engine costs.

Each check runs in a fresh interpreter (modules already loaded by the test session
would hide what an import pulls in) and reports which of the heavy packages ended up in
``sys.modules``: bot frameworks, the HTTP client stack, database drivers and pydantic.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("aiogram", "aiohttp", "h11", "telegram", "pydantic", "redis", "asyncpg")

PROBE = """
import json, sys
{code}
heavy = {heavy!r}
print(json.dumps(sorted(
    name for name in heavy
    if any(m == name or m.startswith(name + ".") for m in sys.modules)
)))
"""


def loaded_after(code: str) -> set[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{code!r} failed:\n{result.stderr[-3000:]}"
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import botsessions",
        "import botsessions.storage",
        "import botsessions.keys",
        "from botsessions import MemorySessionStorage, enhance_storage, lazy_session, session",
        "from botsessions.storage import FileStorage, SQLiteStorage",
        "from botsessions.storage import PostgresStorage, RedisStorage",
    ],
)
def test_the_core_imports_no_framework_http_stack_driver_or_pydantic(code: str) -> None:
    assert loaded_after(code) == set()


@pytest.mark.parametrize(
    "code",
    [
        "from botsessions.testing import FailingStorage, RecordingStorage, SlowStorage",
        "from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage",
        "from botsessions.testing.faults import FailingStorage, SlowStorage",
    ],
)
def test_the_storage_test_kit_imports_no_framework_http_stack_or_pydantic(code: str) -> None:
    assert loaded_after(code) == set()


def test_a_session_with_plain_dict_data_needs_no_pydantic() -> None:
    code = (
        "from botsessions import session, lazy_session\n"
        "session(initial=lambda: {'count': 0})\n"
        "lazy_session(initial=lambda: {'score': 0})\n"
    )
    assert loaded_after(code) == set()


def test_the_bot_layer_needs_no_bot_framework_and_no_pydantic() -> None:
    code = (
        "from botsessions import Bot, Composer, Context, session\n"
        "bot = Bot('1:x', bot_info={'id': 1, 'is_bot': True, 'first_name': 'B',"
        " 'username': 'b_bot'})\n"
        "bot.use(session(initial=lambda: {'count': 0}))\n"
    )
    assert loaded_after(code) & {"aiogram", "telegram", "pydantic"} == set()


def test_the_ptb_integration_loads_telegram_but_not_aiogram() -> None:
    loaded = loaded_after("import botsessions.integrations.ptb")
    assert "telegram" in loaded
    assert "aiogram" not in loaded
