"""Telegram objects read by attribute over the raw dict."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from botsessions.bot import (
    CallbackQuery,
    Chat,
    Message,
    MessageEntity,
    TelegramObject,
    Update,
    User,
)
from tests.bot._updates import GROUP, USER, callback, make_bot, message, text


def reply_message() -> dict[str, Any]:
    original = message("original", chat=GROUP, **{"from": {**USER, "id": 99}})
    return message("answer", chat=GROUP, reply_to_message=original)


class TestTypedFields:
    def test_fields_read_the_raw_dict(self) -> None:
        msg = Message(message("hi"))
        assert msg.text == "hi"
        assert msg.chat.id == 7
        assert isinstance(msg.chat, Chat)
        assert msg.from_user is not None
        assert msg.from_user.first_name == "Alice"
        assert isinstance(msg.from_user, User)

    def test_nested_objects_are_reached_by_attribute(self) -> None:
        msg = Message(reply_message())
        assert msg.reply_to_message is not None
        assert isinstance(msg.reply_to_message, Message)
        assert msg.reply_to_message.from_user is not None
        assert msg.reply_to_message.from_user.id == 99

    def test_missing_optional_fields_are_none(self) -> None:
        msg = Message(message("hi"))
        assert msg.caption is None
        assert msg.reply_to_message is None
        assert msg.entities is None
        assert User(USER).username is None

    def test_lists_of_objects_are_typed(self) -> None:
        entities = [{"type": "bot_command", "offset": 0, "length": 6}]
        msg = Message(message("/start", entities=entities))
        assert msg.entities is not None
        assert isinstance(msg.entities[0], MessageEntity)
        assert msg.entities[0].type == "bot_command"

    def test_callback_query_and_update(self) -> None:
        raw = callback("go")
        update = Update(raw)
        assert update.update_id == raw["update_id"]
        assert update.message is None
        query = update.callback_query
        assert isinstance(query, CallbackQuery)
        assert query.data == "go"
        assert query.from_user.id == USER["id"]
        assert query.message is not None
        assert query.message.text == "pick one"

    def test_full_name(self) -> None:
        assert User(USER).full_name == "Alice"
        assert User({**USER, "last_name": "Liddell"}).full_name == "Alice Liddell"


class TestUntypedFields:
    def test_other_fields_are_attributes_too(self) -> None:
        msg = Message(message(None, photo=[{"file_id": "a", "width": 1, "height": 1}]))
        assert msg.photo[0].file_id == "a"
        assert isinstance(msg.photo[0], TelegramObject)
        assert msg.sticker is None

    def test_from_is_from_user_on_any_object(self) -> None:
        obj = TelegramObject({"from": USER})
        assert obj.from_user.id == USER["id"]

    def test_raw_access_by_key_and_raw(self) -> None:
        raw = message("hi")
        msg = Message(raw)
        assert msg["text"] == "hi"
        assert msg.get("caption", "none") == "none"
        assert "text" in msg
        assert msg.raw is raw
        with pytest.raises(KeyError):
            msg["caption"]

    def test_objects_are_read_only(self) -> None:
        msg = Message(message("hi"))
        with pytest.raises(AttributeError, match="read-only"):
            msg.text = "changed"

    def test_equality_compares_the_data(self) -> None:
        raw = message("hi")
        assert Message(raw) == Message(copy.deepcopy(raw))
        assert Message(raw) != Message(message("other"))

    def test_repr_and_copy(self) -> None:
        msg = Message({"message_id": 1})
        assert repr(msg) == "Message({'message_id': 1})"
        assert copy.copy(msg) == msg
        assert copy.deepcopy(msg) == msg
        assert copy.deepcopy(msg).raw is not msg.raw


class TestContextObjects:
    def test_context_objects_are_these_classes(self) -> None:
        bot = make_bot()
        ctx_update = text("hi")
        from botsessions import Context

        ctx = Context(ctx_update, bot.api, bot.me)
        assert isinstance(ctx.message, Message)
        assert isinstance(ctx.me, User)
        assert ctx.update is ctx_update  # the raw dict, unchanged

    def test_aiogram_update_on_request(self) -> None:
        types = pytest.importorskip("aiogram.types")
        from botsessions import Context
        from botsessions.bot.aiogram_types import aiogram_object

        bot = make_bot()
        ctx = Context(text("hi"), bot.api, bot.me)
        update = ctx.aiogram_update()
        assert isinstance(update, types.Update)
        assert update.message is not None
        assert update.message.text == "hi"
        assert ctx.message is not None
        assert isinstance(aiogram_object(ctx.message), types.Message)
        assert aiogram_object(ctx.update["message"]["from"], types.User).id == USER["id"]
        with pytest.raises(TypeError, match="needs the aiogram model"):
            aiogram_object(TelegramObject({"a": 1}))
