"""Filter queries compiled into raw-update predicates."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions.bot._filters import compile_query
from tests.bot._updates import CHANNEL, callback, message, text, update


def matches(query: str | list[str], raw: dict[str, Any]) -> bool:
    return compile_query(query)(raw)


class TestLevelOne:
    def test_message_matches_new_messages_only(self) -> None:
        assert matches("message", text("hi"))
        assert not matches("message", update("edited_message", message("hi")))
        assert not matches("message", callback())

    def test_edited_message_matches_edits(self) -> None:
        assert matches("edited_message", update("edited_message", message("hi")))
        assert not matches("edited_message", text("hi"))

    def test_edit_shortcut_matches_edited_messages_and_posts(self) -> None:
        assert matches("edit", update("edited_message", message("x")))
        assert matches("edit", update("edited_channel_post", message("x", chat=CHANNEL)))
        assert not matches("edit", text("x"))

    def test_callback_query_matches_button_presses(self) -> None:
        assert matches("callback_query", callback())
        assert not matches("callback_query", text("x"))


class TestLevelTwo:
    def test_message_text_needs_text(self) -> None:
        assert matches("message:text", text("hi"))
        assert not matches("message:text", update("message", message(None, photo=[{}])))

    def test_message_sticker_matches_stickers(self) -> None:
        assert matches("message:sticker", update("message", message(None, sticker={})))
        assert not matches("message:sticker", text("hi"))

    def test_callback_query_data_needs_data(self) -> None:
        assert matches("callback_query:data", callback("go"))
        assert not matches("callback_query:data", callback(None))

    @pytest.mark.parametrize("query", [":text", "msg:text"])
    def test_text_shortcut_matches_messages_and_channel_posts_not_edits(self, query: str) -> None:
        assert matches(query, text("hi"))
        assert matches(query, update("channel_post", message("hi", chat=CHANNEL)))
        assert not matches(query, update("edited_message", message("hi")))
        assert not matches(query, update("edited_channel_post", message("hi", chat=CHANNEL)))

    def test_media_shortcut_matches_photos_and_videos(self) -> None:
        assert matches(":media", update("message", message(None, photo=[{}])))
        assert matches(":media", update("message", message(None, video={})))
        assert not matches(":media", update("message", message(None, document={})))

    @pytest.mark.parametrize(
        "field",
        ["photo", "animation", "audio", "document", "video", "video_note", "voice", "sticker"],
    )
    def test_file_shortcut_matches_every_file_kind(self, field: str) -> None:
        assert matches(":file", update("message", message(None, **{field: {}})))

    def test_file_shortcut_ignores_text(self) -> None:
        assert not matches(":file", text("hi"))


class TestLevelThree:
    def test_entity_type_matches_an_entity_of_that_type(self) -> None:
        url = [{"type": "url", "offset": 0, "length": 5}]
        assert matches("message:entities:url", text("a.com", entities=url))
        assert not matches("message:entities:email", text("a.com", entities=url))

    def test_double_shortcut_looks_in_text_and_caption_entities(self) -> None:
        command = [{"type": "bot_command", "offset": 0, "length": 6}]
        assert matches("::bot_command", text("/start", entities=command))
        assert matches(
            "::bot_command",
            update("message", message(None, caption="/start", caption_entities=command)),
        )

    def test_flag_of_a_nested_object_must_be_true(self) -> None:
        bot_sender = {"id": 1, "is_bot": True, "first_name": "B"}
        assert matches("message:from:is_bot", text("x", **{"from": bot_sender}))
        assert not matches("message:from:is_bot", text("x"))


class TestLists:
    def test_a_list_matches_when_any_query_matches(self) -> None:
        queries = ["message:sticker", "callback_query:data"]
        assert matches(queries, callback("go"))
        assert matches(queries, update("message", message(None, sticker={})))
        assert not matches(queries, text("hi"))

    def test_a_kind_and_its_field_together_match_the_whole_kind(self) -> None:
        assert matches(["message:text", "message"], update("message", message(None, photo=[])))


class TestInvalidQueries:
    def test_unknown_kind_is_rejected_with_a_suggestion(self) -> None:
        with pytest.raises(ValueError, match=r"unknown update kind 'mesage'.*'message'"):
            compile_query("mesage")

    def test_unknown_field_is_rejected_with_a_suggestion(self) -> None:
        with pytest.raises(ValueError, match=r"unknown field of message 'txt'.*'text'"):
            compile_query("message:txt")

    def test_unknown_entity_type_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="unknown entity type 'urll'"):
            compile_query("message:entities:urll")

    @pytest.mark.parametrize("query", ["", "a:b:c:d"])
    def test_malformed_query_explains_the_syntax(self, query: str) -> None:
        with pytest.raises(ValueError, match="expected 'kind'"):
            compile_query(query)

    def test_empty_list_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="empty list"):
            compile_query([])

    def test_non_string_query_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="must be a string"):
            compile_query([42])  # type: ignore[list-item]
