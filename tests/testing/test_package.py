"""``botsessions.testing``: a light storage kit, and the heavier helpers loaded on first use."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import botsessions.testing

LAZY = {
    "ChatUser": "botsessions.testing.bot_api",
    "Group": "botsessions.testing.bot_api",
    "LocalBotAPI": "botsessions.testing.bot_api",
    "LockingConformance": "botsessions.testing.locking",
    "StorageConformance": "botsessions.testing.conformance",
    "TerminalChat": "botsessions.testing.terminal",
}
SUBMODULES = {"bot_api", "conformance", "faults", "locking", "recording", "terminal"}


def loaded_after(code: str) -> list[str]:
    """The heavy top-level packages present in ``sys.modules`` after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        "heavy = ('aiohttp', 'aiogram', 'pytest', 'telegram')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


class TestLightImport:
    def test_importing_the_package_loads_no_http_stack_framework_or_pytest(self) -> None:
        assert loaded_after("import botsessions.testing") == []

    def test_the_storage_kit_is_usable_without_loading_them(self) -> None:
        code = (
            "from botsessions.testing import FailingStorage, RecordingStorage, SlowStorage\n"
            "from botsessions import MemorySessionStorage\n"
            "RecordingStorage(MemorySessionStorage())"
        )
        assert loaded_after(code) == []

    def test_the_bot_api_server_loads_aiohttp_on_first_use(self) -> None:
        assert loaded_after("from botsessions.testing import LocalBotAPI") == ["aiohttp"]


class TestPublicNames:
    def test_all_is_sorted_and_lists_every_public_object_and_lazy_name(self) -> None:
        ours = {
            name
            for name, value in vars(botsessions.testing).items()
            if not name.startswith("_")
            and name not in SUBMODULES
            and getattr(value, "__module__", "").startswith("botsessions.")
        }
        assert botsessions.testing.__all__ == sorted(botsessions.testing.__all__)
        assert ours <= set(botsessions.testing.__all__)
        assert set(LAZY) <= set(botsessions.testing.__all__)

    def test_dir_shows_the_public_names_before_they_are_loaded(self) -> None:
        assert dir(botsessions.testing) == botsessions.testing.__all__

    @pytest.mark.parametrize("name", sorted(LAZY))
    def test_each_lazy_name_resolves_to_its_defining_module_object(self, name: str) -> None:
        value = getattr(botsessions.testing, name)
        assert value is getattr(importlib.import_module(LAZY[name]), name)
        assert value.__module__.startswith("botsessions.testing.")

    def test_an_unknown_attribute_raises_attribute_error_naming_it(self) -> None:
        with pytest.raises(AttributeError, match="no_such_helper"):
            botsessions.testing.no_such_helper  # noqa: B018
