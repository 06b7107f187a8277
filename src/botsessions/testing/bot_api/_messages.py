"""Message methods of the local Bot API server: send, edit, delete, callback answers."""

from __future__ import annotations

import copy
from typing import Any

from botsessions.testing.bot_api._markup import MarkupError, parse_html, utf16_len
from botsessions.testing.bot_api._params import Params
from botsessions.testing.bot_api._state import ApiError, BotState, ChatState, now

__all__ = ["MESSAGE_METHODS"]

_MAX_TEXT = 4096
_BAD_BUTTON = "Bad Request: can't parse inline keyboard button: "
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def _text_and_entities(p: Params) -> tuple[str, list[dict[str, Any]]]:
    text = p.text("text") or ""
    entities = p.structured("entities", error="can't parse entities JSON object")
    if entities is not None:
        if not isinstance(entities, list):
            raise ApiError(400, "Bad Request: can't parse entities JSON object")
    elif (p.text("parse_mode") or "").lower() == "html":
        try:
            text, entities = parse_html(text)
        except MarkupError as exc:
            raise ApiError(400, str(exc)) from None
    else:
        entities = []
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(text) > _MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return text, entities


def _inline_markup(p: Params) -> dict[str, Any] | None:
    """The inline keyboard to attach to the message; other keyboards are not echoed."""
    markup = p.structured("reply_markup", error="can't parse reply keyboard markup JSON object")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(
            400,
            _BAD_BUTTON + 'field "inline_keyboard" must be an Array of Arrays',
        )
    for row in rows:
        for button in row:
            _check_button(button)
    return {"inline_keyboard": rows}


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError(
            400,
            _BAD_BUTTON + 'Field "text" must be of type String',
        )
    if not any(button.get(action) is not None for action in _BUTTON_ACTIONS):
        raise ApiError(
            400,
            _BAD_BUTTON + "Text buttons are unallowed in the inline keyboard",
        )
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= 64:
        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _body(
    text: str, entities: list[dict[str, Any]], markup: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text}
    if entities:
        body["entities"] = entities
    if markup is not None:
        body["reply_markup"] = markup
    return body


def _thread(chat: ChatState, p: Params, reply_to: dict[str, Any] | None) -> int | None:
    thread_id = p.integer("message_thread_id")
    if thread_id is None and reply_to is not None:
        thread_id = reply_to.get("message_thread_id")
    if thread_id is not None and chat.is_forum and thread_id not in chat.topics:
        raise ApiError(400, "Bad Request: message thread not found")
    return thread_id


def _reply_target(bot: BotState, chat: ChatState, p: Params) -> dict[str, Any] | None:
    params = p.structured("reply_parameters", error="can't parse reply parameters JSON object")
    if params is None and p.has("reply_to_message_id"):
        params = {"message_id": p.integer("reply_to_message_id")}
    if params is None:
        return None
    if not isinstance(params, dict) or not isinstance(params.get("message_id"), int):
        raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
    target_chat = bot.chat(params["chat_id"]) if "chat_id" in params else chat
    target = target_chat.messages.get(params["message_id"])
    if target is None and not params.get("allow_sending_without_reply"):
        raise ApiError(400, "Bad Request: message to be replied not found")
    return target


def send_message(bot: BotState, p: Params) -> dict[str, Any]:
    chat = bot.chat(p.chat_id())
    text, entities = _text_and_entities(p)
    markup = _inline_markup(p)
    reply_to = _reply_target(bot, chat, p)
    message = chat.add_message(
        bot.user,
        _body(text, entities, markup),
        thread_id=_thread(chat, p, reply_to),
        reply_to=reply_to,
    )
    chat.record_bot_event(message)
    return copy.deepcopy(message)


def _editable(bot: BotState, p: Params) -> tuple[dict[str, Any], ChatState | None]:
    inline_id = p.text("inline_message_id")
    if inline_id:
        found = bot.inline_messages.get(inline_id)
        if found is None:
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        return found, None
    if not p.has("chat_id"):
        raise ApiError(400, "Bad Request: chat_id is empty")
    chat = bot.chat(p.chat_id())
    message_id = p.required_integer("message_id", "message identifier is not specified")
    message = chat.messages.get(message_id)
    if message is None:
        raise ApiError(400, "Bad Request: message to edit not found")
    if message.get("from", {}).get("id") != bot.id:
        raise ApiError(400, "Bad Request: message can't be edited")
    return message, chat


def _apply_edit(
    bot: BotState, message: dict[str, Any], chat: ChatState | None, body: dict[str, Any]
) -> Any:
    current = {k: message[k] for k in ("text", "entities", "reply_markup") if k in message}
    if current == body:
        raise ApiError(400, _NOT_MODIFIED)
    for key in ("text", "entities", "reply_markup"):
        message.pop(key, None)
    message.update(body)
    message["edit_date"] = now()
    if chat is None:
        return True
    chat.record_bot_event(message)
    return copy.deepcopy(message)


def edit_message_text(bot: BotState, p: Params) -> Any:
    message, chat = _editable(bot, p)
    text, entities = _text_and_entities(p)
    return _apply_edit(bot, message, chat, _body(text, entities, _inline_markup(p)))


def edit_message_reply_markup(bot: BotState, p: Params) -> Any:
    message, chat = _editable(bot, p)
    body: dict[str, Any] = {k: message[k] for k in ("text", "entities") if k in message}
    markup = _inline_markup(p)
    if markup is not None and markup["inline_keyboard"]:
        body["reply_markup"] = markup
    return _apply_edit(bot, message, chat, body)


def delete_message(bot: BotState, p: Params) -> bool:
    chat = bot.chat(p.chat_id())
    message_id = p.required_integer("message_id", "message identifier is not specified")
    if chat.messages.pop(message_id, None) is None:
        raise ApiError(400, "Bad Request: message to delete not found")
    return True


def delete_messages(bot: BotState, p: Params) -> bool:
    chat = bot.chat(p.chat_id())
    ids = p.structured("message_ids", error="can't parse message_ids JSON array")
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "Bad Request: message_ids is empty")
    for message_id in ids:
        chat.messages.pop(int(message_id), None)
    return True


def answer_callback_query(bot: BotState, p: Params) -> bool:
    query_id = p.text("callback_query_id") or ""
    if query_id not in bot.queries or query_id in bot.answers:
        raise ApiError(
            400,
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        )
    answer: dict[str, Any] = {"callback_query_id": query_id, "show_alert": p.flag("show_alert")}
    for name in ("text", "url"):
        if p.has(name):
            answer[name] = p.text(name)
    if p.has("cache_time"):
        answer["cache_time"] = p.integer("cache_time")
    bot.answers[query_id] = answer
    bot.answered.fire()
    return True


def send_chat_action(bot: BotState, p: Params) -> bool:
    bot.chat(p.chat_id())
    if p.text("action") not in _CHAT_ACTIONS:
        raise ApiError(400, "Bad Request: wrong parameter action in request")
    return True


def get_chat(bot: BotState, p: Params) -> dict[str, Any]:
    chat = bot.chat(p.chat_id())
    return {
        **chat.info,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


MESSAGE_METHODS = {
    "sendmessage": send_message,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "deletemessages": delete_messages,
    "answercallbackquery": answer_callback_query,
    "sendchataction": send_chat_action,
    "getchat": get_chat,
}
