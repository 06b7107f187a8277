"""aiogram's typed objects for the bot layer's updates, on request.

The bot layer never needs aiogram; where it is installed (``pip install
"botsessions[aiogram]"``), this module turns what a handler sees into aiogram's
pydantic models, validated in full::

    from botsessions.bot.aiogram_types import aiogram_object

    update = ctx.aiogram_update()                    # aiogram.types.Update
    message = aiogram_object(ctx.message)            # aiogram.types.Message
    user = aiogram_object(ctx.update["message"]["from"], aiogram.types.User)

Importing this module imports aiogram. The models are not bound to an aiogram ``Bot``,
so their shortcut methods (``message.answer(...)``) are unavailable: call ``ctx.api``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

try:
    import aiogram.types
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
    raise ModuleNotFoundError(
        'botsessions.bot.aiogram_types needs aiogram: pip install "botsessions[aiogram]"'
    ) from exc

from aiogram.types import TelegramObject as AiogramObject
from aiogram.types import Update as AiogramUpdate

from botsessions.bot._objects import TelegramObject

if TYPE_CHECKING:
    from botsessions.bot._context import Context

__all__ = ["AiogramUpdate", "aiogram_object", "aiogram_update"]

M = TypeVar("M", bound=AiogramObject)


def aiogram_update(ctx: Context) -> AiogramUpdate:
    """``ctx.update`` as an aiogram ``Update`` (also ``ctx.aiogram_update()``).

    Raises:
        pydantic.ValidationError: the update does not match aiogram's models.
    """
    return AiogramUpdate.model_validate(ctx.update)


def aiogram_object(value: TelegramObject | dict[str, Any], model: type[M] | None = None) -> M:
    """A Telegram object (or a raw dict) as the aiogram model ``model``.

    Args:
        value: e.g. ``ctx.message``, ``ctx.callback_query``, or a raw dict.
        model: the aiogram class; by default the one named like ``value``'s class
            (``Message`` -> ``aiogram.types.Message``). Required for raw dicts and
            untyped objects.

    Raises:
        TypeError: no model was given and none is named like ``value``'s class.
        pydantic.ValidationError: the data does not match the model.
    """
    raw = value.raw if isinstance(value, TelegramObject) else value
    target: type[Any] = _model_named(type(value)) if model is None else model
    result: M = target.model_validate(raw)
    return result


def _model_named(cls: type[Any]) -> type[AiogramObject]:
    found = getattr(aiogram.types, cls.__name__, None)
    if (
        cls is TelegramObject
        or not issubclass(cls, TelegramObject)
        or not isinstance(found, type)
        or not issubclass(found, AiogramObject)
    ):
        raise TypeError(
            f"aiogram_object() needs the aiogram model for a {cls.__name__}: "
            "pass it as the second argument, e.g. aiogram.types.Message"
        )
    return found
