"""``as_async``: one coroutine interface over any storage, for code written once.

Admin scripts, exports and tests that walk sessions should not care whether a storage is
synchronous (``MemorySessionStorage``, ``SQLiteStorage``, a hand-written adapter) or
asynchronous (Redis, PostgreSQL). ``StorageWrapper`` already decides, once, how to call
each method of what it wraps, and its own methods are all coroutines, so the view is a
plain wrapper that changes nothing.
"""

from __future__ import annotations

from typing import Any

from botsessions.storage._wrapper import StorageWrapper

__all__ = ["as_async"]


def as_async(storage: Any) -> StorageWrapper:
    """An async view of ``storage``: the same sessions, every method a coroutine.

    ``await view.read(key)``, ``await view.write(key, value)``, ``await view.delete(key)``
    and ``await view.has(key)`` work for every storage (``has`` falls back to ``read``),
    and ``async for key in view.read_all_keys()`` (``read_all_values``,
    ``read_all_entries``) for every storage that can list its sessions. The storage itself
    is unchanged and keeps its own interface; closing the view closes it. A
    ``StorageWrapper`` is already such a view and is returned as it is.

    Raises:
        TypeError: ``storage`` lacks ``read``, ``write`` or ``delete``.
    """
    if isinstance(storage, StorageWrapper):
        return storage
    return StorageWrapper(storage)
