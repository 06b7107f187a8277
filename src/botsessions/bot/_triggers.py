"""Predicates for command(), hears() and callback_query(); each sets ``ctx.match``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botsessions.bot._context import Context

__all__ = [
    "ContextPredicate",
    "Trigger",
    "callback_data_predicate",
    "command_predicate",
    "text_predicate",
]

ContextPredicate = Callable[["Context"], bool]
Trigger = str | re.Pattern[str]

_WHITESPACE = re.compile(r"\s")


def _post(ctx: Context) -> Any:
    """The update's message or channel post (a dict), or ``None``."""
    update = ctx.update
    return update.get("message") or update.get("channel_post")


def _command_names(names: str | Sequence[str]) -> frozenset[str]:
    items = [names] if isinstance(names, str) else list(names)
    if not items:
        raise ValueError("command() needs at least one command name, e.g. command('start')")
    cleaned: set[str] = set()
    for name in items:
        if not isinstance(name, str):
            raise TypeError(f"A command name must be a string, got {type(name).__name__}")
        bare = name.removeprefix("/")
        if not bare or _WHITESPACE.search(bare) or "@" in bare:
            raise ValueError(
                f"Invalid command name {name!r}: use the bare name without spaces or "
                "@botname, e.g. 'start' (it also matches '/start@yourbot')"
            )
        cleaned.add(bare)
    return frozenset(cleaned)


def command_predicate(names: str | Sequence[str]) -> ContextPredicate:
    """Match ``/name``, ``/name args`` and ``/name@thisbot`` in a message or channel post.

    ``ctx.match`` becomes the text after the command, stripped (``""`` if none).
    A command addressed to another bot (``/name@otherbot``) does not match.
    """
    wanted = _command_names(names)

    def predicate(ctx: Context) -> bool:
        message = _post(ctx)
        if message is None:
            return False
        text = message.get("text")
        if not text or text[0] != "/":
            return False
        space = _WHITESPACE.search(text)
        if space is None:
            head, rest = text, ""
        else:
            head, rest = text[: space.start()], text[space.start() :]
        name, at, target = head[1:].partition("@")
        if name not in wanted:
            return False
        if at:
            username = ctx.me.username
            if username is None or target.lower() != username.lower():
                return False
        ctx.match = rest.strip()
        return True

    return predicate


def _triggers(trigger: Trigger | Sequence[Trigger], what: str) -> list[Trigger]:
    if isinstance(trigger, str | re.Pattern):
        items: list[Any] = [trigger]
    elif isinstance(trigger, list | tuple):
        items = list(trigger)
    else:
        raise TypeError(
            f"{what}() takes a string, a re.compile(...) pattern or a list of them, "
            f"got {type(trigger).__name__}"
        )
    if not items:
        raise ValueError(f"{what}() needs at least one string or compiled regular expression")
    for item in items:
        if not isinstance(item, str | re.Pattern):
            raise TypeError(
                f"{what}() takes strings or re.compile(...) patterns, got {type(item).__name__}"
            )
    return items


def _matcher(triggers: list[Trigger]) -> Callable[[Any], str | re.Match[str] | None]:
    """Exact match for strings, ``search`` for patterns; returns what ``ctx.match`` gets."""
    exact = frozenset(t for t in triggers if isinstance(t, str))
    patterns = tuple(t for t in triggers if isinstance(t, re.Pattern))

    def match(value: Any) -> str | re.Match[str] | None:
        if not isinstance(value, str):
            return None
        if value in exact:
            return value
        for pattern in patterns:
            found = pattern.search(value)
            if found is not None:
                return found
        return None

    return match


def text_predicate(trigger: Trigger | Sequence[Trigger]) -> ContextPredicate:
    """hears(): the text or caption of a message or channel post."""
    match = _matcher(_triggers(trigger, "hears"))

    def predicate(ctx: Context) -> bool:
        message = _post(ctx)
        if message is None:
            return False
        text = message.get("text")
        if text is None:
            text = message.get("caption")
        found = match(text)
        if found is None:
            return False
        ctx.match = found
        return True

    return predicate


def callback_data_predicate(trigger: Trigger | Sequence[Trigger]) -> ContextPredicate:
    """callback_query(): the ``data`` of a callback query."""
    match = _matcher(_triggers(trigger, "callback_query"))

    def predicate(ctx: Context) -> bool:
        query = ctx.update.get("callback_query")
        if query is None:
            return False
        found = match(query.get("data"))
        if found is None:
            return False
        ctx.match = found
        return True

    return predicate
