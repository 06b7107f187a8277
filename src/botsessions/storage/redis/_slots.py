"""Hash-slot placement of the lock keys on a Redis Cluster.

A Lua script may only touch keys of one hash slot. The session value stays at
``prefix + key`` (grammY's adapters read it there), so it cannot be given a ``{hash tag}``;
instead the lock, queue and wake-up keys get a hash tag chosen to map to the value key's
own slot. ``slot_tag(slot)`` is a short tag for each of the 16,384 slots, found once by
trying short strings in order (about 0.1 s, on the first lock taken on a cluster).
"""

from __future__ import annotations

from binascii import crc_hqx
from itertools import product

__all__ = ["SLOTS", "key_slot", "slot_tag"]

SLOTS = 16384
_ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyz"
_tags: list[bytes] | None = None


def key_slot(key: bytes) -> int:
    """The cluster hash slot of ``key`` (CRC16/XMODEM of the key or of its hash tag)."""
    start = key.find(b"{")
    if start > -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) % SLOTS


def slot_tag(slot: int) -> bytes:
    """``{tag}`` such that a key starting with it lands in ``slot``."""
    global _tags
    if _tags is None:
        _tags = _build()
    return b"{" + _tags[slot] + b"}"


def _build() -> list[bytes]:
    table = [b""] * SLOTS
    missing = SLOTS
    for length in range(1, 5):  # 36**4 strings cover every slot several times over
        for letters in product(_ALPHABET, repeat=length):
            tag = bytes(letters)
            slot = crc_hqx(tag, 0) % SLOTS
            if not table[slot]:
                table[slot] = tag
                missing -= 1
                if not missing:
                    return table
    raise AssertionError("short tags cover every slot")  # pragma: no cover
