import botsessions


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(botsessions) if not name.startswith("_")}
    public -= {"bot", "storage", "keys", "integrations", "testing"}  # subpackages
    assert botsessions.__all__ == sorted(botsessions.__all__)
    assert set(botsessions.__all__) == public


def test_every_exported_name_comes_from_botsessions() -> None:
    for name in botsessions.__all__:
        module = getattr(getattr(botsessions, name), "__module__", "")
        assert module.startswith("botsessions"), name
