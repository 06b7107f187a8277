"""Validation of the options shared by the server-backed storages (TTL, lock timings)."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["seconds", "ttl_milliseconds"]


def seconds(name: str, value: float | timedelta) -> float:
    """Return ``value`` in seconds; ``ValueError``/``TypeError`` unless it is positive."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or a timedelta, got {value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


def ttl_milliseconds(ttl: float | timedelta | None) -> int | None:
    """``ttl`` (seconds or timedelta, counted from the last write) in whole milliseconds."""
    if ttl is None:
        return None
    return max(1, round(seconds("ttl", ttl) * 1000))
