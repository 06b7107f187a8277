"""Validation of the ``ttl`` option shared by the built-in storages."""

from __future__ import annotations

import math
from datetime import timedelta


def ttl_seconds(ttl: float | timedelta | None) -> float | None:
    """``ttl`` as a positive number of seconds, or ``None`` for "never expires".

    Raises:
        TypeError: ``ttl`` is not a number, a ``timedelta`` or ``None``.
        ValueError: ``ttl`` is not a finite positive duration.
    """
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise TypeError(f"ttl must be seconds (int or float), a timedelta or None, not {ttl!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"ttl must be a positive, finite duration, not {ttl!r}")
    return seconds
