"""botsessions._exports: PEP 562 lazy names for a package."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from botsessions._exports import lazy_exports


@pytest.fixture
def package() -> Iterator[types.ModuleType]:
    module = types.ModuleType("lazy_exports_probe")
    module.eager = 1  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_a_lazy_name_loads_its_module_and_is_kept(package: types.ModuleType) -> None:
    getattr_, _ = lazy_exports(package.__name__, {"dumps": "json"})
    import json

    assert getattr_("dumps") is json.dumps
    assert vars(package)["dumps"] is json.dumps


def test_an_unknown_name_raises_attribute_error(package: types.ModuleType) -> None:
    getattr_, _ = lazy_exports(package.__name__, {"dumps": "json"})
    with pytest.raises(AttributeError, match="module 'lazy_exports_probe' has no attribute 'x'"):
        getattr_("x")


def test_dir_lists_globals_and_lazy_names_or_the_listed_ones(package: types.ModuleType) -> None:
    _, dir_all = lazy_exports(package.__name__, {"dumps": "json"})
    assert {"eager", "dumps"} <= set(dir_all())
    _, dir_listed = lazy_exports(package.__name__, {"dumps": "json"}, listed=["dumps", "eager"])
    assert dir_listed() == ["dumps", "eager"]
