"""Context: raw-derived facts, Telegram objects on demand, reply helpers, session glue."""

from __future__ import annotations

from typing import Any

import pytest

from botsessions import Bot, Context
from botsessions.bot import CallbackQuery, Chat, Message, NextFn, User
from botsessions.testing.bot_api import LocalBotAPI
from tests.bot._updates import (
    BOT_INFO,
    CHANNEL,
    GROUP,
    PRIVATE,
    USER,
    callback,
    make_bot,
    message,
    text,
    update,
)

_MEMBER = {"status": "member", "user": USER}
_UPDATED = {
    "chat": GROUP,
    "from": USER,
    "date": 1,
    "old_chat_member": _MEMBER,
    "new_chat_member": _MEMBER,
}
_BOOST = {
    "boost_id": "b",
    "add_date": 1,
    "expiration_date": 2,
    "source": {"source": "premium", "user": USER},
}

CHAT_UPDATES: list[tuple[str, dict[str, Any], int]] = [
    ("message", message("x"), PRIVATE["id"]),
    ("edited_message", message("x", edit_date=2), PRIVATE["id"]),
    ("channel_post", message("x", chat=CHANNEL), CHANNEL["id"]),
    ("edited_channel_post", message("x", chat=CHANNEL), CHANNEL["id"]),
    ("business_message", message("x", business_connection_id="bc"), PRIVATE["id"]),
    ("edited_business_message", message("x", business_connection_id="bc"), PRIVATE["id"]),
    (
        "deleted_business_messages",
        {"business_connection_id": "bc", "chat": PRIVATE, "message_ids": [1]},
        PRIVATE["id"],
    ),
    ("callback_query", callback()["callback_query"], PRIVATE["id"]),
    ("my_chat_member", _UPDATED, GROUP["id"]),
    ("chat_member", _UPDATED, GROUP["id"]),
    ("chat_join_request", {"chat": GROUP, "from": USER, "user_chat_id": 7, "date": 1}, GROUP["id"]),
    (
        "message_reaction",
        {
            "chat": GROUP,
            "message_id": 1,
            "user": USER,
            "date": 1,
            "old_reaction": [],
            "new_reaction": [],
        },
        GROUP["id"],
    ),
    (
        "message_reaction_count",
        {"chat": GROUP, "message_id": 1, "date": 1, "reactions": []},
        GROUP["id"],
    ),
    ("chat_boost", {"chat": CHANNEL, "boost": _BOOST}, CHANNEL["id"]),
    (
        "removed_chat_boost",
        {"chat": CHANNEL, "boost_id": "b", "remove_date": 1, "source": _BOOST["source"]},
        CHANNEL["id"],
    ),
    (
        "business_connection",
        {"id": "bc", "user": USER, "user_chat_id": 7, "date": 1, "is_enabled": True},
        7,
    ),
]


def ctx_for(raw: dict[str, Any]) -> Context:
    bot = make_bot()
    return Context(raw, bot.api, bot.me)


class TestRawFacts:
    @pytest.mark.parametrize(
        ("kind", "payload", "chat_id"), CHAT_UPDATES, ids=[c[0] for c in CHAT_UPDATES]
    )
    def test_chat_id_of_every_update_that_belongs_to_a_chat(
        self, kind: str, payload: dict[str, Any], chat_id: int
    ) -> None:
        assert ctx_for(update(kind, payload)).chat_id == chat_id

    def test_chat_id_is_none_for_inline_queries(self) -> None:
        query = {"id": "q", "from": USER, "query": "cats", "offset": ""}
        assert ctx_for(update("inline_query", query)).chat_id is None

    def test_chat_id_is_none_for_callback_queries_without_a_message(self) -> None:
        assert ctx_for(callback(with_message=False)).chat_id is None

    @pytest.mark.parametrize(
        ("kind", "payload"),
        [
            (k, p)
            for k, p, _ in CHAT_UPDATES
            if k not in ("deleted_business_messages", "message_reaction_count")
        ],
    )
    def test_user_id_is_the_sender(self, kind: str, payload: dict[str, Any]) -> None:
        assert ctx_for(update(kind, payload)).user_id == USER["id"]

    def test_user_id_is_none_for_channel_posts_without_sender(self) -> None:
        post = message("x", chat=CHANNEL)
        del post["from"]
        assert ctx_for(update("channel_post", post)).user_id is None

    def test_thread_id_of_a_forum_topic_message(self) -> None:
        raw = update(
            "message", message("x", chat=GROUP, is_topic_message=True, message_thread_id=5)
        )
        assert ctx_for(raw).thread_id == 5

    def test_thread_id_is_none_for_a_plain_reply_thread(self) -> None:
        raw = update("message", message("x", chat=GROUP, message_thread_id=5))
        assert ctx_for(raw).thread_id is None

    def test_thread_id_of_a_callback_querys_topic_message(self) -> None:
        raw = callback()
        raw["callback_query"]["message"].update(is_topic_message=True, message_thread_id=9)
        assert ctx_for(raw).thread_id == 9

    @pytest.mark.parametrize(
        ("kind", "payload"),
        [(k, p) for k, p, _ in CHAT_UPDATES if "business" in k],
    )
    def test_business_connection_id_of_business_updates(
        self, kind: str, payload: dict[str, Any]
    ) -> None:
        assert ctx_for(update(kind, payload)).business_connection_id == "bc"

    def test_business_connection_id_is_none_otherwise(self) -> None:
        assert ctx_for(text("x")).business_connection_id is None


class TestTypedObjects:
    def test_message_is_built_once_and_cached(self) -> None:
        ctx = ctx_for(text("hi"))
        assert isinstance(ctx.message, Message)
        assert ctx.message is ctx.message
        assert ctx.message.text == "hi"
        assert ctx.msg is ctx.message

    def test_message_is_none_for_other_kinds(self) -> None:
        assert ctx_for(update("edited_message", message("x"))).message is None

    @pytest.mark.parametrize(
        "kind", ["edited_message", "channel_post", "edited_channel_post", "business_message"]
    )
    def test_msg_is_the_message_of_any_kind(self, kind: str) -> None:
        ctx = ctx_for(update(kind, message("x")))
        assert isinstance(ctx.msg, Message)
        assert ctx.msg.text == "x"

    def test_msg_of_a_callback_query_is_its_message(self) -> None:
        ctx = ctx_for(callback())
        assert isinstance(ctx.msg, Message)
        assert ctx.msg.text == "pick one"
        assert isinstance(ctx.callback_query, CallbackQuery)
        assert ctx.callback_query.data == "go"

    def test_msg_of_an_inaccessible_message_is_none(self) -> None:
        raw = callback()
        raw["callback_query"]["message"] = {"chat": PRIVATE, "message_id": 1, "date": 0}
        ctx = ctx_for(raw)
        assert ctx.msg is None
        assert ctx.chat_id == PRIVATE["id"]

    def test_chat_and_from_user(self) -> None:
        ctx = ctx_for(text("x"))
        assert isinstance(ctx.chat, Chat)
        assert ctx.chat.id == PRIVATE["id"]
        assert isinstance(ctx.from_user, User)
        assert ctx.from_user.first_name == "Alice"

    def test_chat_of_a_chat_member_update(self) -> None:
        ctx = ctx_for(update("chat_member", _UPDATED))
        assert ctx.chat is not None
        assert ctx.chat.title == "G"

    def test_inline_query(self) -> None:
        query = {"id": "q", "from": USER, "query": "cats", "offset": ""}
        ctx = ctx_for(update("inline_query", query))
        assert ctx.inline_query is not None
        assert ctx.inline_query.query == "cats"
        assert ctx.chat is None
        assert ctx.from_user is not None

    def test_me_is_the_bots_user(self) -> None:
        assert ctx_for(text("x")).me.username == BOT_INFO["username"]


class _Slot:
    def __init__(self) -> None:
        self.value: Any = {"count": 0}

    def get(self) -> Any:
        return self.value

    def set(self, value: Any) -> None:
        self.value = value


class TestSessionGlue:
    def test_session_without_middleware_says_what_to_add(self) -> None:
        ctx = ctx_for(text("x"))
        with pytest.raises(RuntimeError, match=r"bot.use\(session"):
            _ = ctx.session
        with pytest.raises(RuntimeError, match=r"bot.use\(session"):
            ctx.session = {}

    def test_session_forwards_to_the_bound_slot(self) -> None:
        ctx = ctx_for(text("x"))
        slot = _Slot()
        ctx.bind_session(slot, "7")
        assert ctx.session_key == "7"
        assert ctx.session == {"count": 0}
        ctx.session = {"count": 1}
        assert slot.value == {"count": 1}

    def test_the_former_private_name_still_binds(self) -> None:
        ctx = ctx_for(text("x"))
        ctx._bind_session(_Slot(), "8")
        assert (ctx.session_key, ctx.session) == ("8", {"count": 0})

    def test_session_key_defaults_to_none(self) -> None:
        assert ctx_for(text("x")).session_key is None


class TestBotApiShortcuts:
    async def test_reply_sends_to_the_chat_and_topic(self) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="demo_bot")
            group = api.group(token, forum=True)
            topic = group.create_topic("Ideas")
            user = api.user(token, first_name="Alice").join(group, topic=topic)
            bot = make_bot_for(token, api.url)

            @bot.on("message:text")
            async def echo(ctx: Context, next: NextFn) -> None:
                await ctx.reply(f"echo: {ctx.update['message']['text']}")

            sent = await user.send("hi")
            await bot.handle_update({"update_id": 1, "message": sent})
            reply = await user.reply()
            await bot.api.close()
        assert reply["text"] == "echo: hi"
        assert reply["message_thread_id"] == topic

    async def test_answer_callback_query(self) -> None:
        async with LocalBotAPI() as api:
            token = api.add_bot(username="demo_bot")
            user = api.user(token)
            bot = make_bot_for(token, api.url)

            @bot.command("start")
            async def start(ctx: Context, next: NextFn) -> None:
                button = {"text": "Go", "callback_data": "go"}
                await ctx.reply("pick", reply_markup={"inline_keyboard": [[button]]})

            @bot.callback_query("go")
            async def go(ctx: Context, next: NextFn) -> None:
                await ctx.answer_callback_query("done")

            await bot.handle_update({"update_id": 1, "message": await user.send("/start")})
            query = await user.press("go", message=await user.reply())
            await bot.handle_update({"update_id": 2, "callback_query": query})
            answer = await user.callback_answer(query)
            await bot.api.close()
        assert answer["text"] == "done"

    async def test_reply_without_a_chat_explains(self) -> None:
        query = {"id": "q", "from": USER, "query": "cats", "offset": ""}
        with pytest.raises(RuntimeError, match="needs a chat"):
            await ctx_for(update("inline_query", query)).reply("x")

    async def test_answer_callback_query_outside_a_callback_query_explains(self) -> None:
        with pytest.raises(RuntimeError, match="needs a callback query"):
            await ctx_for(text("x")).answer_callback_query()


def make_bot_for(token: str, url: str) -> Bot:
    return Bot(token, api_server=url, bot_info={**BOT_INFO, "id": int(token.split(":")[0])})
