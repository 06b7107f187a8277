"""SessionOptions and their validation; everything is checked once, when a session is built."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

__all__ = ["SessionOptions", "duration", "to_options"]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """The options of one session (or of one fragment of a multi session).

    Pass them as keywords to ``session()`` / ``lazy_session()``, or as the value of a
    fragment in ``session(type="multi", name=SessionOptions(...))`` (a dict of the same
    keys works too).

    Args:
        initial: zero-argument callable giving a fresh value when storage has none. A
            class works: a dataclass or pydantic model is called with no arguments (give
            every field a default); a ``TypedDict`` gives ``{}``. ``None``: the session is
            ``None`` until assigned.
        prefix: prepended to every key that is not ``None``.
        get_session_key: ``(ctx) -> str | None``, plain or ``async``. Default: the chat id
            as a string (``None`` for updates without a chat). See ``botsessions.keys``.
        storage: a ``StorageAdapter``. Default: a new ``MemorySessionStorage``.
        schema: the type of the session value (dataclass, pydantic model, TypedDict) when
            ``initial`` is a lambda; values are then stored as JSON and decoded back into it.
        locking: serialize updates that share a session key (``True``, the default), using
            the storage's own lock too when it offers one. ``False`` gives grammY's
            behaviour: concurrent updates of one key may overwrite each other.
        lock_timeout: seconds an update may wait for its session key before failing with
            ``LockTimeoutError``; ``None`` (default) waits as long as it takes.
    """

    initial: Callable[[], Any] | type | None = None
    prefix: str = ""
    get_session_key: Callable[[Any], Any] | None = None
    storage: Any = None
    schema: Any = None
    locking: bool = True
    lock_timeout: float | None = None

    def __post_init__(self) -> None:
        _validate(self)


_NAMES = frozenset(f.name for f in fields(SessionOptions))


def to_options(value: object, *, where: str) -> SessionOptions:
    """Normalize a fragment's ``SessionOptions`` or dict (``where`` names it in errors)."""
    if isinstance(value, SessionOptions):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in _NAMES)
        if unknown:
            raise TypeError(
                f"{where}: unknown option(s) {', '.join(unknown)}; "
                f"valid options are {', '.join(sorted(_NAMES))}"
            )
        return SessionOptions(**value)
    raise TypeError(
        f"{where} must be SessionOptions or a dict of options, got {type(value).__name__}; "
        "with type='multi' every keyword other than type names a fragment"
    )


def _validate(options: SessionOptions) -> None:
    initial = options.initial
    if initial is not None:
        if not callable(initial):
            raise TypeError(
                f"initial must be a zero-argument callable (or a class), got {initial!r}; "
                "write initial=lambda: {...}"
            )
        _check_no_required_args(initial)
    if not isinstance(options.prefix, str):
        raise TypeError(f"prefix must be a str, got {options.prefix!r}")
    if options.get_session_key is not None and not callable(options.get_session_key):
        raise TypeError(
            f"get_session_key must be a callable (ctx) -> str | None, "
            f"got {options.get_session_key!r}"
        )
    if not isinstance(options.locking, bool):
        raise TypeError(f"locking must be True or False, got {options.locking!r}")
    timeout = options.lock_timeout
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"lock_timeout must be a number of seconds or None, got {timeout!r}")
        if math.isnan(timeout) or timeout <= 0:
            raise ValueError(f"lock_timeout must be positive, got {timeout!r}")
    storage = options.storage
    if storage is not None:
        missing = [
            m for m in ("read", "write", "delete") if not callable(getattr(storage, m, None))
        ]
        if missing:
            raise TypeError(
                f"storage {storage!r} lacks {', '.join(missing)}(); a storage needs "
                "read(key), write(key, value) and delete(key)"
            )


def _check_no_required_args(initial: Callable[..., Any]) -> None:
    if not isinstance(initial, type):
        return
    try:
        signature = inspect.signature(initial)
    except (TypeError, ValueError):
        return
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        raise TypeError(
            f"initial={initial.__name__} cannot be called without arguments (no default for "
            f"{', '.join(required)}); give those fields defaults, or pass "
            f"initial=lambda: {initial.__name__}(...) together with schema={initial.__name__}"
        )


def duration(
    value: float | timedelta | None, *, what: str, maximum: float | None = None
) -> float | None:
    """A duration option as a positive number of seconds; ``None`` means "never" / "no limit".

    Every option that takes a duration (``ttl`` of every storage and of
    ``enhance_storage``, lock settings, ``lock_timeout``) goes through here, so they all
    accept the same inputs: seconds (int or float), a ``datetime.timedelta``, ``None``,
    and ``float("inf")``, which means the same as ``None``.

    Args:
        value: the option as given.
        what: the option's name, for the error message.
        maximum: the largest finite number of seconds the caller can honour (a backend's
            integer range); larger finite values are refused here, not on first use.

    Raises:
        TypeError: ``value`` is not a number, a ``timedelta`` or ``None``.
        ValueError: ``value`` is zero, negative, NaN, or above ``maximum``.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float is as good as "never"
            return None
    else:
        raise TypeError(
            f"{what} must be a number of seconds or a datetime.timedelta (or None), got {value!r}"
        )
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive number of seconds (or None), got {value!r}")
    if math.isinf(seconds):
        return None
    if maximum is not None and seconds > maximum:
        raise ValueError(
            f"{what}={value!r} is more than this storage can keep ({maximum:g} s); "
            "use a smaller value, or None for no limit"
        )
    return seconds
