"""The shape of Bot API updates, as filter queries see it.

For every update kind: the type of its payload; for every payload type: its fields,
split into those holding an object or a list of objects (a third query level can
look inside them, ``message:from:is_bot``) and plain values. The names follow the
Bot API reference (core.telegram.org/bots/api, version 10.3); a field missing here
makes ``bot.on("kind:field")`` fail at registration, so add new fields when Telegram
adds them.
"""

from __future__ import annotations

__all__ = ["ENTITY_TYPES", "UPDATE_FIELDS"]


def _fields(objects: str, values: str) -> dict[str, bool]:
    """Field name -> whether it holds an object (or a list of objects)."""
    return {**dict.fromkeys(values.split(), False), **dict.fromkeys(objects.split(), True)}


_PAYLOAD_TYPE = {
    "message": "Message",
    "edited_message": "Message",
    "channel_post": "Message",
    "edited_channel_post": "Message",
    "business_connection": "BusinessConnection",
    "business_message": "Message",
    "edited_business_message": "Message",
    "deleted_business_messages": "BusinessMessagesDeleted",
    "guest_message": "Message",
    "message_reaction": "MessageReactionUpdated",
    "message_reaction_count": "MessageReactionCountUpdated",
    "inline_query": "InlineQuery",
    "chosen_inline_result": "ChosenInlineResult",
    "callback_query": "CallbackQuery",
    "shipping_query": "ShippingQuery",
    "pre_checkout_query": "PreCheckoutQuery",
    "purchased_paid_media": "PaidMediaPurchased",
    "poll": "Poll",
    "poll_answer": "PollAnswer",
    "my_chat_member": "ChatMemberUpdated",
    "chat_member": "ChatMemberUpdated",
    "chat_join_request": "ChatJoinRequest",
    "chat_boost": "ChatBoostUpdated",
    "removed_chat_boost": "ChatBoostRemoved",
    "managed_bot": "ManagedBotUpdated",
    "subscription": "BotSubscriptionUpdated",
    "stopped_message_generation": "MessageGenerationStopped",
}

_PAYLOAD_FIELDS = {
    "Message": _fields(
        "chat direct_messages_topic from sender_chat sender_business_bot forward_origin "
        "reply_to_message external_reply quote reply_to_story via_bot guest_bot_caller_user "
        "guest_bot_caller_chat entities link_preview_options suggested_post_info animation audio "
        "document live_photo paid_media photo sticker story video video_note voice "
        "caption_entities checklist contact dice game poll venue location new_chat_members "
        "left_chat_member chat_owner_left chat_owner_changed new_chat_photo "
        "message_auto_delete_timer_changed pinned_message invoice successful_payment "
        "refunded_payment users_shared chat_shared gift unique_gift gift_upgrade_sent "
        "write_access_allowed passport_data proximity_alert_triggered boost_added "
        "chat_background_set checklist_tasks_done checklist_tasks_added "
        "direct_message_price_changed forum_topic_created forum_topic_edited forum_topic_closed "
        "forum_topic_reopened general_forum_topic_hidden general_forum_topic_unhidden "
        "giveaway_created giveaway giveaway_winners giveaway_completed managed_bot_created "
        "paid_message_price_changed poll_option_added poll_option_deleted suggested_post_approved "
        "suggested_post_approval_failed suggested_post_declined suggested_post_paid "
        "suggested_post_refunded video_chat_scheduled video_chat_started video_chat_ended "
        "video_chat_participants_invited web_app_data reply_markup rich_message receiver_user "
        "community_chat_added community_chat_removed community_chat_joined forward_from "
        "forward_from_chat user_shared",
        "message_id date message_thread_id sender_boost_count sender_tag guest_query_id "
        "business_connection_id is_topic_message is_automatic_forward reply_to_checklist_task_id "
        "reply_to_poll_option_id edit_date has_protected_content is_from_offline is_paid_post "
        "media_group_id author_signature paid_star_count text effect_id caption "
        "show_caption_above_media has_media_spoiler new_chat_title delete_chat_photo "
        "group_chat_created supergroup_chat_created channel_chat_created migrate_to_chat_id "
        "migrate_from_chat_id connected_website ephemeral_message_id forward_date "
        "forward_from_message_id forward_sender_name forward_signature",
    ),
    "BusinessConnection": _fields(
        "user rights",
        "id user_chat_id date is_enabled can_reply",
    ),
    "BusinessMessagesDeleted": _fields(
        "chat",
        "business_connection_id message_ids",
    ),
    "MessageReactionUpdated": _fields(
        "chat old_reaction new_reaction user actor_chat",
        "message_id date",
    ),
    "MessageReactionCountUpdated": _fields(
        "chat reactions",
        "message_id date",
    ),
    "InlineQuery": _fields(
        "from location",
        "id query offset chat_type",
    ),
    "ChosenInlineResult": _fields(
        "from location",
        "result_id query inline_message_id",
    ),
    "CallbackQuery": _fields(
        "from message",
        "id chat_instance inline_message_id data game_short_name",
    ),
    "ShippingQuery": _fields(
        "from shipping_address",
        "id invoice_payload",
    ),
    "PreCheckoutQuery": _fields(
        "from order_info",
        "id currency total_amount invoice_payload shipping_option_id",
    ),
    "PaidMediaPurchased": _fields(
        "from",
        "paid_media_payload",
    ),
    "Poll": _fields(
        "options question_entities explanation_entities explanation_media description_entities "
        "media",
        "id question total_voter_count is_closed is_anonymous type allows_multiple_answers "
        "allows_revoting members_only country_codes correct_option_ids explanation open_period "
        "close_date description correct_option_id",
    ),
    "PollAnswer": _fields(
        "voter_chat user",
        "poll_id option_ids option_persistent_ids",
    ),
    "ChatMemberUpdated": _fields(
        "chat from old_chat_member new_chat_member invite_link",
        "date via_join_request via_chat_folder_invite_link",
    ),
    "ChatJoinRequest": _fields(
        "chat from invite_link",
        "user_chat_id date bio query_id",
    ),
    "ChatBoostUpdated": _fields(
        "chat boost",
        "",
    ),
    "ChatBoostRemoved": _fields(
        "chat source",
        "boost_id remove_date",
    ),
    "ManagedBotUpdated": _fields(
        "user bot",
        "",
    ),
    "BotSubscriptionUpdated": _fields(
        "user",
        "invoice_payload state",
    ),
    "MessageGenerationStopped": _fields(
        "chat",
        "draft_id message_thread_id",
    ),
}

UPDATE_FIELDS: dict[str, dict[str, bool]] = {
    kind: _PAYLOAD_FIELDS[payload] for kind, payload in _PAYLOAD_TYPE.items()
}
"""Update kind -> payload field -> whether the field holds an object."""

ENTITY_TYPES = frozenset(
    [
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    ]
)
"""The ``type`` values of a MessageEntity."""
