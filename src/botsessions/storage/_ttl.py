"""Validation of the ``ttl`` option shared by the built-in storages."""

from __future__ import annotations

import math
from datetime import timedelta

__all__ = ["ttl_seconds"]


def ttl_seconds(ttl: float | timedelta | None, *, what: str = "ttl") -> float | None:
    """``ttl`` as a positive number of seconds, or ``None`` for "never expires".

    ``None`` and an infinite duration both mean the sessions never expire.

    Args:
        ttl: seconds (int or float), a ``timedelta``, or ``None``.
        what: the option's name, for the error message.

    Raises:
        TypeError: ``ttl`` is not a number, a ``timedelta`` or ``None``.
        ValueError: ``ttl`` is zero, negative or NaN.
    """
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise TypeError(
            f"{what} must be a number of seconds or a datetime.timedelta (or None), got {ttl!r}"
        )
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive number of seconds (or None), got {ttl!r}")
    return None if math.isinf(seconds) else seconds
