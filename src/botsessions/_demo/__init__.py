"""``botsessions demo``: the complete session example, offline or on Telegram.

Offline (the default) it starts a local Bot API server, runs the demo bot against it with
long polling and lets you chat with it from the terminal (``run``). With ``--telegram`` it
runs the same bot (``bot``) on Telegram instead. ``storages`` maps ``--storage`` to a
storage and says where the sessions go.
"""

from botsessions._demo.bot import build_demo_bot
from botsessions._demo.run import run_demo
from botsessions._demo.storages import DEFAULT_DB, DEFAULT_DIRECTORY, open_storage

__all__ = ["DEFAULT_DB", "DEFAULT_DIRECTORY", "build_demo_bot", "open_storage", "run_demo"]
