"""How a lazy session loads: on first access, once, racing with assignments.

``LazyLoading`` is the lazy half of ``_engine.PropertySession`` (a mixin of it): the
``UNLOADED`` -> ``LOADING`` -> ``ACCESSED`` / ``FAILED`` transitions described in
``_engine``'s module docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

from botsessions._errors import SessionKeyError
from botsessions._spec import ACCESSED, ASSIGNED, FAILED, LOADING, NO_KEY
from botsessions.storage._protocol import is_pending

if TYPE_CHECKING:
    from botsessions._spec import PropertySpec

__all__ = ["LazyLoading"]


class _Ready:
    """An awaitable that is already done: what a lazy ``ctx.session`` is once loaded."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # pragma: no cover - makes this a generator


class _Loading(Protocol):
    """What the lazy loading uses of ``PropertySession``."""

    spec: PropertySpec
    key: str
    state: int
    raw: Any
    value: Any
    locked: bool
    owner: Any
    task: asyncio.Future[Any] | None

    async def lock(self) -> None: ...

    async def read(self) -> None: ...

    def read_blob_now(self) -> None: ...

    def _materialize(self) -> Any: ...

    def _decoded(self) -> Any: ...

    async def _finish_read(self, pending: Any) -> Any: ...

    async def _load(self) -> Any: ...

    def _settle(self) -> Any: ...


class LazyLoading:
    """The lazy loading of ``PropertySession`` (its methods run on a ``PropertySession``)."""

    __slots__ = ()
    task: asyncio.Future[Any] | None  # PropertySession's slot

    def _lazy_get(self: _Loading, state: int) -> Any:
        if state == ACCESSED:
            return _Ready(self.value)
        if state == ASSIGNED:
            value = self.value
            return value if isinstance(value, asyncio.Future) else _Ready(value)
        if state in (LOADING, FAILED):
            return self.task
        if state == NO_KEY:
            raise SessionKeyError(self.spec.access_error)
        # UNLOADED: start the one read of this update.
        spec = self.spec
        locks = spec.locks
        if (
            spec.lease is None
            and spec.sync_read is not None
            and (locks is None or locks.try_acquire(self.key, self.owner))
        ):
            self.locked = locks is not None
            try:
                if spec.read_blob is not None:
                    self.read_blob_now()
                    return _Ready(self._materialize())
                raw = spec.sync_read(self.key)
                if not is_pending(raw):
                    self.raw = raw
                    return _Ready(self._materialize())
            except Exception as exc:
                failed = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)  # awaiting ctx.session re-raises it
                self.task = failed
                self.state = FAILED
                return failed
            self.task = asyncio.ensure_future(self._finish_read(raw))
        else:
            self.task = asyncio.ensure_future(self._load())
        self.state = LOADING
        return self.task

    async def _finish_read(self: _Loading, pending: Any) -> Any:
        try:
            self.raw = await pending
        except BaseException:
            if self.state == LOADING:
                self.state = FAILED
            raise
        return self._settle()

    async def _load(self: _Loading) -> Any:
        try:
            if not self.locked:
                await self.lock()
            await self.read()
        except BaseException:
            if self.state == LOADING:
                self.state = FAILED
            raise
        return self._settle()

    def _settle(self: _Loading) -> Any:
        if self.state == LOADING:
            try:
                return self._materialize()
            except BaseException:
                self.state = FAILED
                raise
        value = self.value  # assigned while loading: the assignment wins
        if not isinstance(value, asyncio.Future):
            return value
        return self._decoded()  # an assigned awaitable may be built on this read: give it the data

    async def _await_load(self: _Loading, state: int) -> int:
        loading = self.task
        assert loading is not None  # LOADING, FAILED, or ASSIGNED during a read
        if state == ASSIGNED:
            with contextlib.suppress(Exception):  # the assignment wins over a failed read
                await loading
            return self.state
        await loading  # re-raises a failed read
        return self.state
