"""Transitional: the engine protocols that used to sit here, re-exported.

``SessionSlot`` and ``KeyContext`` live in ``botsessions.engine.protocols``; ``Middleware``
and ``NextFn`` moved to the bot layer (``botsessions.bot``). Remove this module once
nothing imports it.
"""

from __future__ import annotations

from typing import TypeAlias

from botsessions.engine.protocols import KeyContext, SessionSlot

SessionKey: TypeAlias = str | None
"""A resolved session key; ``None`` means "this update has no session"."""

__all__ = ["KeyContext", "SessionKey", "SessionSlot"]
