"""Built-in session key strategies: pass one as ``get_session_key``.

Each strategy reads only the ``KeyContext`` attributes (``chat_id``, ``user_id``,
``thread_id``, ``business_connection_id``, ``bot_id``), so it works with ``botsessions.Context``
and with the aiogram and python-telegram-bot integrations alike. Each returns ``None``
for updates it cannot key; touching ``ctx.session`` on such an update raises
``SessionKeyError``.

Which one is safe depends on who must see the same data:

* ``per_chat`` (the default of ``session()`` and of the integrations): one session per
  chat, shared by everyone in a group.
* ``per_user``: one session per user, following them across chats (private data).
* ``per_user_in_chat``: one session per user in each chat (per-member state in groups).
* ``per_topic``: one session per forum topic (messages outside topics use the chat's).
* ``per_user_in_topic``: one session per user in each forum topic.
* ``per_business_chat``: one session per chat, kept apart per business connection, for
  bots that answer on behalf of several business accounts.
* ``per_bot_chat``: one session per chat and bot, for several bots sharing one storage
  (aiogram's ``with_bot_id``).

Keys of different strategies can coincide (``per_topic`` gives the plain chat id outside
topics): give each session that shares a storage its own ``prefix``.
"""

from __future__ import annotations

from botsessions.engine.protocols import KeyContext

__all__ = [
    "per_bot_chat",
    "per_business_chat",
    "per_chat",
    "per_topic",
    "per_user",
    "per_user_in_chat",
    "per_user_in_topic",
]


def per_chat(ctx: KeyContext) -> str | None:
    """The chat id: ``"-1001234"``. ``None`` for updates without a chat (inline queries)."""
    chat_id = ctx.chat_id
    return None if chat_id is None else str(chat_id)


def per_user(ctx: KeyContext) -> str | None:
    """The sender's user id: ``"42"``. ``None`` for updates without a sender (channel posts).

    The same user shares one session across every chat, including groups: keep data in it
    that belongs to the person, not to a conversation.
    """
    user_id = ctx.user_id
    return None if user_id is None else str(user_id)


def per_user_in_chat(ctx: KeyContext) -> str | None:
    """``"<chat_id>:<user_id>"``: each member of a group gets their own session there."""
    chat_id = ctx.chat_id
    user_id = ctx.user_id
    if chat_id is None or user_id is None:
        return None
    return f"{chat_id}:{user_id}"


def _chat_qualified_by(chat_id: int | None, by: object, template: str) -> str | None:
    """The chat id as text, or ``template`` filled in with it and ``by`` when ``by`` is set."""
    if chat_id is None:
        return None
    return str(chat_id) if by is None else template.format(chat=chat_id, by=by)


def per_topic(ctx: KeyContext) -> str | None:
    """``"<chat_id>/<thread_id>"`` in a forum topic, else the chat id.

    Messages outside any topic (the General topic, ordinary chats) share the chat's
    session, which is what ``per_chat`` would give them.
    """
    return _chat_qualified_by(ctx.chat_id, ctx.thread_id, "{chat}/{by}")


def per_user_in_topic(ctx: KeyContext) -> str | None:
    """``"<chat_id>/<thread_id>:<user_id>"`` in a topic, else ``"<chat_id>:<user_id>"``."""
    chat_id = ctx.chat_id
    user_id = ctx.user_id
    if chat_id is None or user_id is None:
        return None
    thread_id = ctx.thread_id
    if thread_id is None:
        return f"{chat_id}:{user_id}"
    return f"{chat_id}/{thread_id}:{user_id}"


def per_business_chat(ctx: KeyContext) -> str | None:
    """``"<business_connection_id>:<chat_id>"`` for business updates, else the chat id.

    A customer who writes to two business accounts served by the same bot appears in
    both under the same chat id; this keeps the two conversations apart.
    """
    return _chat_qualified_by(ctx.chat_id, ctx.business_connection_id, "{by}:{chat}")


def per_bot_chat(ctx: KeyContext) -> str | None:
    """``"<bot_id>:<chat_id>"``: the chat's session of this bot, apart from other bots'.

    For several bots (or one bot per token in a multi-bot Dispatcher) sharing a storage.
    ``None`` without a chat, and when the context does not know the bot id: falling back
    to the chat id alone would merge the bots' sessions.
    """
    chat_id = ctx.chat_id
    bot_id = getattr(ctx, "bot_id", None)  # contexts written before bot_id existed
    if chat_id is None or bot_id is None:
        return None
    return f"{bot_id}:{chat_id}"
