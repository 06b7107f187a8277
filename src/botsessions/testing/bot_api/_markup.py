"""Message text helpers of the local Bot API server: entities, commands, HTML parse mode.

Telegram measures entity offsets in UTF-16 code units, so every offset here is computed
that way. HTML is the only parse mode turned into entities; Markdown modes are accepted
and the text is kept as sent (documented in docs/testing.md).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

__all__ = ["MarkupError", "command_entities", "parse_html", "utf16_len"]

_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])")

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
}


class MarkupError(ValueError):
    """Text that Telegram would refuse with "can't parse entities"."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities for every ``/command`` (or ``/command@bot``) in ``text``."""
    entities = []
    for match in _COMMAND.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return entities


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn Telegram-flavoured HTML into plain text and entities.

    Raises:
        MarkupError: on unsupported tags or unbalanced markup, with Telegram's wording.
    """
    parser = _HtmlEntities()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise MarkupError(
            f"Bad Request: can't parse entities: Can't find end tag corresponding to "
            f'start tag "{parser.stack[-1][0]}"'
        )
    return "".join(parser.parts), sorted(parser.entities, key=lambda e: e["offset"])


class _HtmlEntities(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.position = 0
        self.stack: list[tuple[str, int, dict[str, Any]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        kind = _HTML_TAGS.get(tag)
        if tag == "span" and attributes.get("class") == "tg-spoiler":
            kind = "spoiler"
        if kind is None:
            raise MarkupError(f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        extra: dict[str, Any] = {"type": kind}
        if kind == "text_link":
            extra["url"] = attributes.get("href") or ""
        if kind == "code" and self.stack and self.stack[-1][2]["type"] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self.stack[-1][2]["language"] = language
            extra["type"] = ""  # part of the enclosing pre entity, not an entity of its own
        self.stack.append((tag, self.position, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise MarkupError(f'Bad Request: can\'t parse entities: Unmatched end tag "{tag}"')
        _, start, extra = self.stack.pop()
        if self.position > start and extra["type"]:
            self.entities.append({**extra, "offset": start, "length": self.position - start})

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.position += utf16_len(data)
