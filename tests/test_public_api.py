import inspect

import botsessions

SUBPACKAGES = {"bot", "storage", "keys", "integrations", "testing"}


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(botsessions) if not name.startswith("_")} - SUBPACKAGES
    assert botsessions.__all__ == sorted(botsessions.__all__)
    assert set(botsessions.__all__) == public


def test_every_exported_class_and_function_comes_from_botsessions() -> None:
    for name in botsessions.__all__:
        obj = getattr(botsessions, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith("botsessions"), name
