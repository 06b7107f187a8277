"""Storage URLs: every accepted form, and a clear error for everything else."""

from __future__ import annotations

import pytest

from botsessions._cli._urls import StorageURL, StorageURLError, parse_storage_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/lib/bot.db", StorageURL("sqlite", "/var/lib/bot.db", {})),
        ("sqlite:bot.db?table=s2", StorageURL("sqlite", "bot.db", {"table": "s2"})),
        ("file:///srv/sessions", StorageURL("file", "/srv/sessions", {})),
        ("file:sessions", StorageURL("file", "sessions", {})),
        ("memory:", StorageURL("memory", "", {})),
        (
            "redis://h:6380/2?prefix=bot:&socket_timeout=5",
            StorageURL("redis", "redis://h:6380/2?socket_timeout=5", {"prefix": "bot:"}),
        ),
        (
            "postgresql://u:p@h/db?table=t&sslmode=disable",
            StorageURL("postgres", "postgresql://u:p@h/db?sslmode=disable", {"table": "t"}),
        ),
        ("postgres://h/db", StorageURL("postgres", "postgres://h/db", {})),
    ],
)
def test_accepted_forms(url: str, expected: StorageURL) -> None:
    assert parse_storage_url(url) == expected


def test_the_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTSESSIONS_STORAGE", "file:x")
    assert parse_storage_url(None) == StorageURL("file", "x", {})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nothing", "no scheme"),
        ("mongodb://h", "unknown scheme"),
        ("sqlite:", "needs a path"),
        ("sqlite://host/x.db", "have no host"),
        ("sqlite:x.db?prefix=a", "unknown option 'prefix'"),
        ("redis:h", "write it as redis://"),
        ("memory:x", "takes no path"),
    ],
)
def test_refused_forms_say_why_and_list_the_accepted_ones(url: str, reason: str) -> None:
    with pytest.raises(StorageURLError) as caught:
        parse_storage_url(url)
    assert reason in str(caught.value)
    assert "accepted storage URLs" in str(caught.value)
