"""A local Bot API server for tests, demos and offline development.

``LocalBotAPI`` is a real HTTP server on 127.0.0.1 that speaks Telegram's Bot API wire
format (JSON, form and multipart bodies, or a query string; ``{"ok": ..., "result": ...}``
answers and Telegram's error codes and wording), so any client library talks to it
unchanged: ``botsessions.Bot``, aiogram, python-telegram-bot. ``ChatUser`` acts as a
Telegram user: it sends messages and presses buttons, and awaits what the bot sent back;
``Group`` is a supergroup (or forum) such users write in.

Run ``python -m botsessions.testing.bot_api`` to start one from a terminal: it prints the
URL, a token and the command that points a bot at it (``--chat`` to also chat with the
bot from the terminal, ``--token`` to keep the same token across restarts).

Inside the package: ``_server`` (the HTTP server and its lifecycle), ``_methods`` (method
name to implementation; the bot-level methods), ``_messages`` (sending and editing
messages), ``_users`` (users and groups), ``_webhook`` (webhook delivery), ``_state``
(bots, chats and update queues), ``_params`` and ``_markup`` (parameter and HTML parsing).
"""

from botsessions.testing.bot_api._server import LocalBotAPI
from botsessions.testing.bot_api._users import ChatUser, Group

__all__ = ["ChatUser", "Group", "LocalBotAPI"]
