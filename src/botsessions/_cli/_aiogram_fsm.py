"""``botsessions import aiogram-fsm``: what aiogram's own ``RedisStorage`` wrote.

aiogram's ``RedisStorage`` keeps each FSM record in two Redis strings named by its
``DefaultKeyBuilder``: ``<prefix>:[<bot id>:][<business connection>:]<chat>:[<thread>:]
<user>[:<destiny>]:state`` (the state name as text) and the same name ending in ``:data``
(the data as JSON text). Each pair becomes one botsessions session, stored under the same
name without the ``:state``/``:data`` part: ``{"state": ..., "data": {...}}``, the record
format of ``botsessions.integrations.aiogram.FSMStorage``. So an ``FSMStorage`` built with
the same key builder options (``with_bot_id=True`` when the bot id was in the keys) finds
every state and every piece of data where aiogram left them.

Redis keys are listed with ``SCAN`` and read with pipelined ``GET`` s in batches.
Remaining TTLs of aiogram's keys are not carried over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from botsessions._errors import CorruptDataError
from botsessions.storage._expiry import ExpiringEntry
from botsessions.storage._jsontext import loads
from botsessions.storage.redis._errors import RedisErrors, import_redis

__all__ = ["fsm_records", "fsm_stems"]

_PARTS = (b"state", b"data")
_BATCH = 500


async def fsm_stems(client: Any, prefix: str, separator: str = ":") -> list[bytes]:
    """The names of every FSM record under ``prefix`` (each without its part suffix)."""
    head = prefix.encode() + separator.encode()
    tails = tuple(separator.encode() + part for part in _PARTS)
    pattern = _glob_escape(head) + b"*"
    stems: set[bytes] = set()
    with RedisErrors("scan", None):
        async for name in client.scan_iter(match=pattern, count=1000, _type="string"):
            for tail in tails:
                if name.endswith(tail):
                    stems.add(name[: -len(tail)])
    return sorted(stems)


async def fsm_records(
    client: Any, stems: list[bytes], separator: str = ":"
) -> AsyncIterator[ExpiringEntry]:
    """``(record name, {"state", "data"}, None)`` for each stem, read in pipelined batches."""
    sep = separator.encode()
    for start in range(0, len(stems), _BATCH):
        batch = stems[start : start + _BATCH]
        pipe = client.pipeline(transaction=False)
        for stem in batch:
            pipe.get(stem + sep + b"state")
            pipe.get(stem + sep + b"data")
        with RedisErrors("read", None):
            replies = await pipe.execute()
        for index, stem in enumerate(batch):
            record = _record(stem, replies[2 * index], replies[2 * index + 1])
            if record is not None:
                yield record


def open_client(url: str) -> Any:
    """A ``redis.asyncio`` client for aiogram's Redis (redis-py, the ``[redis]`` extra)."""
    aioredis = import_redis()
    return aioredis.Redis.from_url(url)


def _record(stem: bytes, state: bytes | None, data: bytes | None) -> ExpiringEntry | None:
    try:
        name = stem.decode()
    except UnicodeDecodeError:
        raise CorruptDataError(f"aiogram FSM key {stem!r} is not UTF-8 text") from None
    if state is None and data is None:
        return None  # deleted since the scan
    try:
        state_name = None if state is None else state.decode()
    except UnicodeDecodeError:
        raise CorruptDataError(
            f"the state of aiogram FSM record {name!r} is not UTF-8 text", key=name
        ) from None
    values = {} if data is None else loads(name, data)
    if not isinstance(values, dict):
        raise CorruptDataError(
            f"the data of aiogram FSM record {name!r} is a {type(values).__name__}, "
            "not a JSON object",
            key=name,
        )
    if state_name is None and not values:
        return None
    return name, {"state": state_name, "data": values}, None


def _glob_escape(raw: bytes) -> bytes:
    out = bytearray()
    for byte in raw:
        if byte in b"*?[]\\":
            out.append(ord("\\"))
        out.append(byte)
    return bytes(out)
