"""Per-update session access shared by the framework integrations.

Both integrations forward reads and writes to the engine's ``SessionSlot`` while the
update is being handled. Once the update is saved (or discarded) the slot is swapped
for ``CLOSED_SLOT``, so a background task that kept a reference fails loudly instead
of changing a value nobody will ever write.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from botsessions.engine.protocols import RefusingSlot, SessionSlot

T = TypeVar("T")


# The slot of an update whose session was already saved or discarded.
CLOSED_SLOT: SessionSlot = RefusingSlot(
    "This update's session was already saved: read and change it while the handler runs, "
    "not from a background task started by the handler"
)


def unbound_slot(message: str) -> SessionSlot:
    """A slot that raises ``RuntimeError(message)`` on every access."""
    return RefusingSlot(message)


class SessionHandle(Generic[T]):
    """The session of the update being handled, plus what a plain value cannot do.

    The session value itself is mutable, so ``session["count"] += 1`` or
    ``session.count += 1`` needs no handle. Replacing the value, deleting the stored
    session and reading the resolved key do: that is what this handle is for.

    Attributes:
        key: The resolved session key of this update (``None`` when the update has no
            key, for example an inline query with the default chat key; in multi mode the
            keys are per fragment and this is ``None``).
    """

    __slots__ = ("_slot", "key")

    def __init__(self, slot: SessionSlot, key: str | None) -> None:
        self._slot = slot
        self.key = key

    @property
    def data(self) -> T:
        """The session value (an awaitable of it for lazy sessions).

        Raises:
            SessionKeyError: The update has no session key.
            RuntimeError: The update was already saved (the handle outlived its handler).
        """
        value: T = self._slot.get()
        return value

    @data.setter
    def data(self, value: T | None) -> None:
        """Replace the value; ``None`` deletes the stored session at the end of the update."""
        self._slot.set(value)

    def delete(self) -> None:
        """Delete the stored session when the update ends (same as ``data = None``)."""
        self._slot.set(None)

    def close(self) -> None:
        """Detach from the update; later access raises ``RuntimeError``. Used by the glue."""
        self._slot = CLOSED_SLOT

    def __repr__(self) -> str:
        return f"SessionHandle(key={self.key!r})"
