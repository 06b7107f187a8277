"""One lifecycle for the storages: ``close()``, ``async with`` and the use-after-close error."""

from __future__ import annotations

import enum
from types import TracebackType
from typing import Self

__all__ = ["CLOSED", "OPEN", "Closeable", "State"]


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


# Module-level aliases: looking a member up on the enum class costs several times more
# than a global, and every storage operation checks its state.
OPEN = State.OPEN
CLOSED = State.CLOSED


class Closeable:
    """Mixin: an idempotent ``close()``, ``async with`` and "Cannot use X after close()".

    A storage sets ``self._state = OPEN`` in ``__init__``, frees what it holds in
    ``_release()`` (run once, by the first ``close()``), and starts each operation with
    ``if self._state is CLOSED: raise self._closed_error()``.
    """

    __slots__ = ("_state",)

    _state: State

    async def close(self) -> None:
        """Release what the storage holds. Idempotent; using the storage later raises."""
        if self._state is CLOSED:
            return
        self._state = CLOSED
        await self._release()

    async def _release(self) -> None:
        """Free the storage's connections, threads or clients (nothing by default)."""

    def _closed_error(self) -> RuntimeError:
        return RuntimeError(f"Cannot use {type(self).__name__} after close()")

    async def __aenter__(self) -> Self:
        if self._state is CLOSED:
            raise self._closed_error()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
