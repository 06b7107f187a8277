"""The session engine: all per-update code, and nothing else.

Modules, lowest first:

* ``protocols``: what a host provides (``KeyContext``, ``SessionHost``) and gets
  (``SessionSlot``).
* ``codec``: session value <-> stored JSON form (pydantic only for typed sessions).
* ``locks``: ``KeyedLock``, the in-process FIFO lock per session key.
* ``handoff``: passing a storage lease to the next local update of the same key.
* ``plan``: a session built once; per property the storage's shape, decided there.
* ``property``: the per-property state machine (strict and lazy), one write decision.
* ``single``, ``multi``: the update objects of single and multi sessions.
* ``manager``: ``SessionManager``, ``build_manager`` and ``run_update``, the one
  enter/fail/leave sequence every host calls.

The engine knows no bot framework and no driver; it imports only ``_errors``,
``_options`` and ``storage``.
"""

from botsessions.engine.manager import SessionManager, build_manager, run_update
from botsessions.engine.protocols import KeyContext, SessionHost, SessionSlot

__all__ = [
    "KeyContext",
    "SessionHost",
    "SessionManager",
    "SessionSlot",
    "build_manager",
    "run_update",
]
