"""``botsessions demo``: the complete session example, offline or on Telegram.

Offline (the default) it starts a local Bot API server, runs the demo bot against it with
long polling and lets you chat with it from the terminal (``run``). With ``--telegram`` it
runs the same bot (``bot``) on Telegram instead. ``storages`` maps ``--storage`` to a
storage and says where the sessions go.

Import from the modules themselves: this package imports nothing, so the command line's other
commands do not pay for the bot layer.
"""
