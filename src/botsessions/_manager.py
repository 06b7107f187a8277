"""SessionManager: validated options -> engine specs -> one context manager per update.

Framework glue uses only this::

    manager = build_manager(lazy=False, initial=lambda: {"count": 0})
    async with manager.update(ctx) as handle:
        ctx._bind_session(handle.slot, handle.key)
        await next()

Entering computes the key(s), takes the locks (in-process first, then the storage's
lease when it has one) and, for strict sessions, reads. Leaving writes what changed, or
nothing when the handler raised, and always releases every lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botsessions._multi import MultiUpdate, fragment_class
from botsessions._options import to_options
from botsessions._single import SingleUpdate
from botsessions._spec import PropertySpec, make_spec

__all__ = ["SessionManager", "build_manager"]


class SessionManager:
    """The built session: makes the per-update context manager (``update(ctx)``)."""

    __slots__ = (
        "fragments",
        "lazy",
        "leases",
        "lock_timeout",
        "multi",
        "order",
        "spec",
        "specs",
        "sync_reads",
    )

    def __init__(self, specs: list[PropertySpec], *, multi: bool, lazy: bool) -> None:
        self.specs = specs
        self.multi = multi
        self.lazy = lazy
        self.spec = specs[0] if specs and not multi else None
        timeouts = [s.lock_timeout for s in specs if s.lock_timeout is not None]
        self.lock_timeout = min(timeouts) if timeouts else None
        # Every fragment is read synchronously (memory storages): no awaiting to read.
        self.sync_reads = all(s.read_blob is not None for s in specs)
        # Some fragment locks its key in storage too (its lease may be handed on).
        self.leases = any(s.lease is not None and s.locks is not None for s in specs)
        # The lock order of the fragments, when it does not depend on their keys: every
        # fragment has its own lock family (its own storage), so (serial, key) orders by
        # serial alone. ``None``: some fragments share a family; sort per update.
        families = [s.locks for s in specs if s.locks is not None]
        distinct = len({id(f) for f in families}) == len(families)
        self.order: tuple[int, ...] | None = (
            tuple(sorted(range(len(specs)), key=lambda i: _serial(specs[i]))) if distinct else None
        )
        self.fragments = fragment_class([s.name for s in specs])  # type: ignore[misc]

    def update(self, ctx: Any) -> SingleUpdate | MultiUpdate:
        """The context manager that loads before and saves after one update's handler."""
        if self.multi:
            return MultiUpdate(self, ctx)
        return SingleUpdate(self.spec, ctx)  # type: ignore[arg-type]

    def update_factory(self) -> Callable[[Any], SingleUpdate | MultiUpdate]:
        """``update`` with the mode decided once (what the middleware calls per update)."""
        if self.multi:
            return functools.partial(MultiUpdate, self)
        return functools.partial(SingleUpdate, self.spec)  # type: ignore[arg-type]


def _serial(spec: PropertySpec) -> int:
    return -1 if spec.locks is None else spec.locks.serial


def build_manager(*, lazy: bool, **options: Any) -> SessionManager:
    """Validate ``session()`` / ``lazy_session()`` options once and build the engine.

    Raises:
        ValueError: unknown ``type``, or ``type="multi"`` with ``lazy=True``.
        TypeError: an unknown option, or an option of the wrong type.
    """
    kind = options.pop("type", "single")
    if kind not in ("single", "multi"):
        raise ValueError(f"type must be 'single' or 'multi', got {kind!r}")
    if kind == "multi":
        if lazy:
            raise ValueError(
                "Cannot use lazy multi sessions: lazy_session() supports type='single' only; "
                "use session(type='multi', ...) or one lazy_session() per property"
            )
        specs = []
        for name, value in options.items():
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(
                    f"fragment name {name!r} must be an identifier not starting with '_'"
                )
            fragment = to_options(value, where=f"fragment {name!r}")
            specs.append(make_spec(fragment, lazy=False, fragment=name))
        return SessionManager(specs, multi=True, lazy=False)
    where = "lazy_session()" if lazy else "session()"
    single = to_options(options, where=where)
    return SessionManager([make_spec(single, lazy=lazy)], multi=False, lazy=lazy)
