"""Helpers to test bots and storage adapters.

* ``LocalBotAPI``: a local Bot API server with users that send messages and await replies.
* ``RecordingStorage``: wraps a storage and records every call (for exact call counts).
* ``FailingStorage`` / ``SlowStorage``: fault injection around any storage.

The storage conformance suite needs pytest and lives in ``botsessions.testing.conformance``.
"""

from botsessions.testing.bot_api import ChatUser, Group, LocalBotAPI
from botsessions.testing.faults import FailingStorage, SlowStorage
from botsessions.testing.recording import RecordingStorage, SyncRecordingStorage

__all__ = [
    "ChatUser",
    "FailingStorage",
    "Group",
    "LocalBotAPI",
    "RecordingStorage",
    "SlowStorage",
    "SyncRecordingStorage",
]
