import inspect

import pytest

import botsessions

SUBPACKAGES = {
    "annotations",
    "bot",
    "engine",
    "storage",
    "keys",
    "integrations",
    "telemetry",
    "testing",
}
TYPING = {"TYPE_CHECKING"}


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(botsessions) if not name.startswith("_")} - SUBPACKAGES - TYPING
    assert botsessions.__all__ == sorted(botsessions.__all__)
    assert set(botsessions.__all__) == public


def test_every_exported_name_resolves() -> None:
    for name in botsessions.__all__:
        assert getattr(botsessions, name) is not None, name


def test_every_exported_class_and_function_comes_from_botsessions() -> None:
    for name in botsessions.__all__:
        obj = getattr(botsessions, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith("botsessions"), name


def test_an_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        botsessions.no_such_name  # noqa: B018
