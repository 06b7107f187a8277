"""Helpers to test bots and storage adapters.

The storage kit, imported with the package (it loads no HTTP stack, no bot framework and
no pytest):

* ``RecordingStorage`` / ``SyncRecordingStorage``: wrap a storage and record every call.
* ``FailingStorage`` / ``SlowStorage``: fault injection around any storage.

Imported on first use (PEP 562), because they need more:

* ``StorageConformance`` (``testing.conformance``) and ``LockingConformance``
  (``testing.locking``): pytest suites a storage author subclasses; they need pytest.
* ``LocalBotAPI``, ``ChatUser``, ``Group`` (``testing.bot_api``): a local Bot API server
  with users you control; it needs aiohttp.
* ``TerminalChat`` (``testing.terminal``): chat with a bot on that server from a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botsessions._exports import lazy_exports as _lazy_exports
from botsessions.testing.faults import FailingStorage, SlowStorage
from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage

if TYPE_CHECKING:
    from botsessions.testing.bot_api import ChatUser, Group, LocalBotAPI
    from botsessions.testing.conformance import StorageConformance
    from botsessions.testing.locking import LockingConformance
    from botsessions.testing.terminal import TerminalChat

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "ChatUser": "botsessions.testing.bot_api",
    "Group": "botsessions.testing.bot_api",
    "LocalBotAPI": "botsessions.testing.bot_api",
    "LockingConformance": "botsessions.testing.locking",
    "StorageConformance": "botsessions.testing.conformance",
    "TerminalChat": "botsessions.testing.terminal",
}

__all__ = [
    "ChatUser",
    "FailingStorage",
    "Group",
    "LocalBotAPI",
    "LockingConformance",
    "RecordingStorage",
    "SlowStorage",
    "StorageConformance",
    "SyncRecordingStorage",
    "TerminalChat",
]

# dir() lists the public names, the lazy ones included (not the helpers imported here).
__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, listed=__all__)
