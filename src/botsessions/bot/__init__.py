"""The grammY-style bot layer: Bot, Composer, Context."""

from botsessions._errors import BotError
from botsessions.bot._bot import Bot
from botsessions.bot._composer import Composer
from botsessions.bot._context import Context

__all__ = ["Bot", "BotError", "Composer", "Context"]
