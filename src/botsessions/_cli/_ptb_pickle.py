"""``botsessions import ptb-pickle``: what python-telegram-bot's ``PicklePersistence`` wrote.

``PicklePersistence`` keeps ``user_data``, ``chat_data``, ``bot_data``, ``callback_data``
and ``conversations`` in one pickle file (``single_file=True``, the default) or in five
files named ``<file>_user_data``, ``<file>_chat_data`` ... Each becomes sessions keyed the
way the python-telegram-bot guide of botsessions recommends:

* ``chat_data[chat_id]`` -> ``"<chat_id>"``: the default session key (the chat id);
* ``user_data[user_id]`` -> ``"user:<user_id>"``: the per-user key of the guide;
* ``bot_data`` -> ``"bot"``, when not empty;
* ``conversations[name][(chat_id, user_id, ...)]`` -> ``"conversation:<name>:<chat_id>:..."``
  with the value ``{"state": state}``.

Each prefix can be changed; ``callback_data`` is not imported. Values must be JSON data
(what botsessions storages hold): a value that is not is reported, naming the key and the
place inside the value, before anything is written.

Unpickling runs code named by the file: import only files your own bot wrote.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Any

from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import dumps

__all__ = ["PTBKeys", "ptb_entries", "read_persistence"]

_PARTS = ("user_data", "chat_data", "bot_data", "callback_data", "conversations")


@dataclass(frozen=True, slots=True)
class PTBKeys:
    """How each part of PTB's persistence is keyed in botsessions."""

    chat_prefix: str = ""
    user_prefix: str = "user:"
    bot_key: str = "bot"
    conversation_prefix: str = "conversation:"


class _Unpickler(pickle.Unpickler):
    """PTB replaces the ``Bot`` object by a marker (a persistent id): read it as ``None``."""

    def persistent_load(self, pid: Any) -> None:
        return None


def _load(path: str) -> Any:
    try:
        with open(path, "rb") as file:
            return _Unpickler(file).load()
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{path} holds objects of {exc.name!r}, which is not installed here (for "
            'python-telegram-bot objects: pip install "botsessions[ptb]")',
            name=exc.name,
        ) from exc
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path} is not a PicklePersistence file: {exc}") from exc


def read_persistence(path: str) -> dict[str, Any]:
    """The parts of a ``PicklePersistence`` file (or of its ``single_file=False`` files)."""
    if os.path.isfile(path):
        data = _load(path)
        if not isinstance(data, dict) or not {"user_data", "chat_data"} <= data.keys():
            raise ValueError(
                f"{path} is not a PicklePersistence file (single_file=True): it holds no "
                "user_data and chat_data"
            )
        return data
    found = {part: _load(f"{path}_{part}") for part in _PARTS if os.path.isfile(f"{path}_{part}")}
    if not found:
        raise FileNotFoundError(
            f"no PicklePersistence data at {path}: neither the file itself (single_file=True) "
            f"nor {path}_user_data, {path}_chat_data ... (single_file=False)"
        )
    return found


def ptb_entries(data: dict[str, Any], keys: PTBKeys) -> list[ExpiringEntry]:
    """Every session to write, each value checked to be JSON data (``TypeError`` if not)."""
    entries: list[ExpiringEntry] = []
    for chat_id, value in (data.get("chat_data") or {}).items():
        entries.append((f"{keys.chat_prefix}{chat_id}", _plain(value), None))
    for user_id, value in (data.get("user_data") or {}).items():
        entries.append((f"{keys.user_prefix}{user_id}", _plain(value), None))
    bot_data = data.get("bot_data")
    if bot_data:
        entries.append((keys.bot_key, _plain(bot_data), None))
    for name, states in (data.get("conversations") or {}).items():
        for conversation, state in states.items():
            if state is None:
                continue
            parts = conversation if isinstance(conversation, tuple) else (conversation,)
            key = f"{keys.conversation_prefix}{name}:" + ":".join(str(p) for p in parts)
            entries.append((key, {"state": state}, None))
    entries = [entry for entry in entries if entry[1] not in ({}, None)]
    for key, value, _ in entries:
        dumps(key, value)  # refuses what is not JSON data, naming the key and the place
    return entries


def _plain(value: Any) -> Any:
    # PTB may keep the per-chat dicts as dict subclasses (a defaultdict, a custom
    # ContextTypes class): their content is what the session holds.
    if isinstance(value, dict) and type(value) is not dict:
        return dict(value)
    return value
