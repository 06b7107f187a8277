"""One lifecycle for the storages: ``close()``, ``async with`` and the use-after-close error."""

from __future__ import annotations

import enum
from types import TracebackType
from typing import Self

__all__ = ["AsyncClosing", "Closeable", "Closing", "State"]


class State(enum.Enum):
    """Where a storage is in its life: usable until the first ``close()``."""

    OPEN = "open"
    CLOSED = "closed"


class Closing:
    """Mixin: ``with obj`` gives ``obj`` and calls ``obj.close()`` on the way out."""

    __slots__ = ()

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClosing:
    """Mixin: ``async with obj`` gives ``obj`` and awaits ``obj.close()`` on the way out."""

    __slots__ = ()

    async def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class Closeable(AsyncClosing):
    """Mixin: an idempotent ``close()``, ``async with`` and one use-after-close check.

    A storage calls ``Closeable.__init__`` (or sets ``self._state = State.OPEN``), frees
    what it holds in ``_release()`` (run once, by the first ``close()``), and starts every
    operation with ``self._check_open()``, which raises
    ``RuntimeError("Cannot use RedisStorage after close()")`` (with its own class name).
    """

    __slots__ = ("_state",)

    _state: State

    def __init__(self) -> None:
        self._state = State.OPEN

    def _check_open(self) -> None:
        """Raise the use-after-close error once ``close()`` was called."""
        if self._state is State.CLOSED:
            raise RuntimeError(f"Cannot use {type(self).__name__} after close()")

    async def close(self) -> None:
        """Release what the storage holds. Idempotent; using the storage later raises."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        await self._release()

    async def _release(self) -> None:
        """Free the storage's connections, threads or clients (nothing by default)."""

    async def __aenter__(self) -> Self:
        self._check_open()
        return self
