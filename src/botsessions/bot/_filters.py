"""grammY filter queries ("message:text", ":media", ...) compiled into raw-dict predicates.

A query has up to three levels separated by ``:``. Level 1 is an update kind
(``message``, ``callback_query``, ...), level 2 a field of its payload (``text``,
``data``, ...), level 3 an entity type (``message:entities:url``) or a flag of a
nested object (``message:from:is_bot``). Shortcuts expand as in grammY:

- level 1: ``""`` and ``"msg"`` = message or channel post; ``"edit"`` = edited
  message or edited channel post;
- level 2: ``""`` = entities or caption entities; ``"media"`` = photo or video;
  ``"file"`` = any file (photo, animation, audio, document, video, video note,
  voice, sticker).

Valid names come from the Bot API's update shapes (``_schema``), so a typo fails
when the handler is registered, with a suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

from botsessions.bot._schema import ENTITY_TYPES, UPDATE_FIELDS

__all__ = ["RawPredicate", "compile_query"]

RawPredicate = Callable[[dict[str, Any]], bool]
"""A predicate over the raw update dict."""

_L1_SHORTCUTS: dict[str, tuple[str, ...]] = {
    "": ("message", "channel_post"),
    "msg": ("message", "channel_post"),
    "edit": ("edited_message", "edited_channel_post"),
}
_L2_SHORTCUTS: dict[str, tuple[str, ...]] = {
    "": ("entities", "caption_entities"),
    "media": ("photo", "video"),
    "file": (
        "photo",
        "animation",
        "audio",
        "document",
        "video",
        "video_note",
        "voice",
        "sticker",
    ),
}
_ENTITY_FIELDS = frozenset({"entities", "caption_entities"})
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def _unknown(level: str, name: str, query: str, choices: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(name, choices, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Invalid filter query {query!r}: unknown {level} {name!r}.{hint}")


def _parse(query: str) -> list[tuple[str, str | None, str | None]]:
    """Expand one query into (kind, field, detail) triples, validating every name."""
    if not isinstance(query, str):
        raise TypeError(f"A filter query must be a string, got {type(query).__name__}")
    parts = query.split(":")
    if len(parts) > 3 or query == "":
        raise ValueError(
            f"Invalid filter query {query!r}: expected 'kind', 'kind:field' or "
            "'kind:field:detail', e.g. 'message', 'message:text', 'message:entities:url'"
        )
    schema = UPDATE_FIELDS
    parts += [None] * (3 - len(parts))  # type: ignore[list-item]
    l1, l2, l3 = parts
    kinds = _L1_SHORTCUTS.get(l1, (l1,))
    for kind in kinds:
        if kind not in schema:
            raise _unknown("update kind", l1, query, [*schema, *_L1_SHORTCUTS])
    if l2 is None:
        return [(kind, None, None) for kind in kinds]
    fields = _L2_SHORTCUTS.get(l2, (l2,))
    triples: list[tuple[str, str | None, str | None]] = []
    for kind in kinds:
        for field in fields:
            if field not in schema[kind]:
                raise _unknown(f"field of {kind}", l2, query, [*schema[kind], *_L2_SHORTCUTS])
            if l3 is not None:
                _check_detail(query, kind, field, l3)
            triples.append((kind, field, l3))
    return triples


def _check_detail(query: str, kind: str, field: str, detail: str) -> None:
    if field in _ENTITY_FIELDS:
        if detail not in ENTITY_TYPES:
            raise _unknown("entity type", detail, query, sorted(ENTITY_TYPES))
        return
    if not UPDATE_FIELDS[kind][field]:
        raise ValueError(
            f"Invalid filter query {query!r}: {kind}.{field} has no fields to filter on"
        )
    if not _NAME.match(detail):
        raise ValueError(
            f"Invalid filter query {query!r}: {detail!r} is not a field name "
            "(lowercase letters, digits and '_')"
        )


def _detail_matches(value: Any, detail: str) -> bool:
    """An object (or any object of a list) has ``type == detail`` or a truthy ``detail``."""
    if isinstance(value, list):
        return any(_detail_matches(item, detail) for item in value)
    if isinstance(value, dict):
        return value.get("type") == detail or bool(value.get(detail))
    return False


def _payload_test(field: str | None, detail: str | None) -> Callable[[Any], bool] | None:
    if field is None:
        return None
    if detail is None:
        return lambda payload: payload.get(field) is not None

    def test(payload: Any) -> bool:
        value = payload.get(field)
        return value is not None and _detail_matches(value, detail)

    return test


def compile_query(query: str | Sequence[str]) -> RawPredicate:
    """Compile a filter query (or a list of them: any matches) into a raw-dict predicate.

    Raises:
        ValueError: the query is malformed or names an unknown kind, field or entity type.
        TypeError: the query is not a string or a list of strings.
    """
    queries = [query] if isinstance(query, str) else list(query)
    if not queries:
        raise ValueError("An empty list of filter queries matches nothing; pass at least one")
    triples: list[tuple[str, str | None, str | None]] = []
    for item in queries:
        triples.extend(_parse(item))

    if len(triples) == 1:
        kind, field, detail = triples[0]
        if field is None:
            return lambda update: update.get(kind) is not None
        if detail is None:

            def single(update: dict[str, Any]) -> bool:
                payload = update.get(kind)
                return payload is not None and payload.get(field) is not None

            return single

    table: dict[str, list[Callable[[Any], bool]] | None] = {}
    for kind, field, detail in triples:
        test = _payload_test(field, detail)
        if test is None:
            table[kind] = None  # the whole kind matches
        elif kind not in table or table[kind] is not None:
            table.setdefault(kind, []).append(test)  # type: ignore[union-attr]
    plan = tuple((kind, None if tests is None else tuple(tests)) for kind, tests in table.items())

    def any_of(update: dict[str, Any]) -> bool:
        for kind, tests in plan:
            payload = update.get(kind)
            if payload is None:
                continue
            if tests is None:
                return True
            for test in tests:
                if test(payload):
                    return True
        return False

    return any_of
