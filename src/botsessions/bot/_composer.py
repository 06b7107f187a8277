"""Composer: a tree of middleware with grammY's use / on / command / hears / filter."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from botsessions.bot._filters import RawPredicate, compile_query
from botsessions.bot._triggers import (
    Trigger,
    callback_data_predicate,
    command_predicate,
    text_predicate,
)
from botsessions.bot._types import Handler, Predicate

if TYPE_CHECKING:
    from botsessions.bot._context import Context
    from botsessions.bot._types import Middleware, NextFn

__all__ = ["Composer"]

M = TypeVar("M", bound=Handler)


class _Branch:
    """A sub-composer that runs only when a predicate holds (else: ``next``)."""

    __slots__ = ("composer", "kind", "predicate")

    def __init__(self, kind: str, predicate: Any, composer: Composer) -> None:
        self.kind = kind  # "raw": predicate(update), "ctx": predicate(ctx), "async": awaited
        self.predicate = predicate
        self.composer = composer

    def compile(self) -> Middleware:
        inner = self.composer.middleware()
        predicate = self.predicate
        if self.kind == "raw":

            async def raw_branch(ctx: Context, next: NextFn) -> None:
                if predicate(ctx.update):
                    return await inner(ctx, next)
                return await next()

            return raw_branch
        if self.kind == "ctx":

            async def ctx_branch(ctx: Context, next: NextFn) -> None:
                if predicate(ctx):
                    return await inner(ctx, next)
                return await next()

            return ctx_branch

        async def async_branch(ctx: Context, next: NextFn) -> None:
            if await predicate(ctx):
                return await inner(ctx, next)
            return await next()

        return async_branch


async def _pass(ctx: Context, next: NextFn) -> None:
    await next()


def call_once(then: Callable[[], Awaitable[None]]) -> NextFn:
    """The ``next`` given to a middleware: returns what ``then()`` returns, the awaitable
    of the rest of the chain; a second call raises.

    A plain function, not a coroutine function, as ``_concat``'s ``chained`` is: awaiting
    ``next()`` runs the rest with no coroutine of ``next``'s own (bench W1).
    """
    called = False

    def downstream() -> Awaitable[None]:
        nonlocal called
        if called:
            raise RuntimeError("next() was called twice by the same middleware")
        called = True
        return then()

    return downstream


def _concat(first: Middleware, rest: Middleware) -> Middleware:
    # Plain functions, not coroutine functions: ``first``'s awaitable is what the caller
    # awaits, and ``next()`` runs ``rest`` with no coroutine of its own in between (two
    # coroutines fewer per update behind a session middleware: bench W1).
    def chained(ctx: Context, next: NextFn) -> Awaitable[None]:
        return first(ctx, call_once(functools.partial(rest, ctx, next)))

    return chained


def _chain(middlewares: Sequence[Middleware]) -> Middleware:
    if not middlewares:
        return _pass
    result = middlewares[-1]
    for middleware in reversed(middlewares[:-1]):
        result = _concat(middleware, result)
    return result


def _two_arguments(handler: Any) -> Handler:
    """``handler`` as ``(ctx, next)``; a handler taking only ``ctx`` ends the chain."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: assume (ctx, next)
        return handler  # type: ignore[no-any-return]
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    if len(positional) != 1 or variadic:
        return handler  # type: ignore[no-any-return]

    async def without_next(ctx: Context, next: NextFn) -> None:
        await handler(ctx)

    return without_next


class Composer:
    """A tree of middleware, run in registration order.

    A middleware is ``async def mw(ctx, next)``; ``await next()`` runs everything
    registered after it and returns once that finished (re-raising what it raised).
    A handler that never continues may take only ``ctx`` (``async def h(ctx)``).
    Handlers registered with ``on``/``command``/``hears``/``callback_query``/``filter``
    run only for matching updates; a matching handler ends the chain unless it calls
    ``next``, other updates pass through to what follows.

    Each registration method returns the sub-composer holding the given middleware,
    so it can be chained (``bot.on("message").command("start", handler)``), and a
    sub-composer used as a decorator registers the function::

        @bot.command("start")
        async def start(ctx, next): ...

    Args:
        *middleware: middleware (or composers) to register with ``use``.
    """

    def __init__(self, *middleware: Handler | Composer) -> None:
        self._entries: list[Handler | Composer | _Branch] = []
        # The compiled tree, rebuilt after a change here or in any composer below; each
        # composer knows the composers it was mounted in, so a change (even after the
        # first update) reaches every tree that contains it.
        self._compiled: Middleware | None = None
        self._owners: list[Composer] = []
        if middleware:
            self._add(middleware)

    def __call__(self, middleware: M) -> M:
        """Register ``middleware`` here and return it unchanged (decorator form)."""
        self._add((middleware,))
        return middleware

    def _invalidate(self) -> None:
        # A compiled composer has only compiled composers below it, so an owner that is
        # already invalid needs no visit (this also ends the walk on a cycle).
        stack = [self]
        while stack:
            composer = stack.pop()
            if composer._compiled is not None or composer is self:
                composer._compiled = None
                stack.extend(composer._owners)

    def _mount(self, child: Composer) -> None:
        self._entries.append(child)
        child._owners.append(self)

    def _add(self, middleware: Sequence[Handler | Composer]) -> None:
        for item in middleware:
            if isinstance(item, Composer):
                self._mount(item)
            elif callable(item):
                self._entries.append(_two_arguments(item))
            else:
                raise TypeError(
                    f"Middleware must be an async function (ctx, next) or a Composer, "
                    f"got {type(item).__name__}"
                )
        self._invalidate()

    def _branch(self, kind: str, predicate: Any, middleware: Sequence[Any]) -> Composer:
        composer = Composer(*middleware)
        self._entries.append(_Branch(kind, predicate, composer))
        composer._owners.append(self)
        self._invalidate()
        return composer

    @overload
    def use(self, middleware: M, /) -> M: ...
    @overload
    def use(self, middleware: Composer, /) -> Composer: ...
    @overload
    def use(self) -> Composer: ...
    @overload
    def use(
        self,
        first: Handler | Composer,
        second: Handler | Composer,
        /,
        *more: Handler | Composer,
    ) -> Composer: ...
    def use(self, *middleware: Any) -> Any:
        """Run ``middleware`` for every update that reaches this point.

        With one argument it is returned unchanged, so ``@bot.use`` works as a
        decorator; with several, the sub-composer holding them is returned.
        """
        if len(middleware) == 1:
            self._add(middleware)
            return middleware[0]
        composer = Composer(*middleware)
        self._add((composer,))
        return composer

    def on(self, query: str | Sequence[str], *middleware: Handler | Composer) -> Composer:
        """Run ``middleware`` for updates matching a grammY filter query.

        ``query`` is e.g. ``"message"``, ``"message:text"``, ``"callback_query:data"``,
        ``":photo"``, ``"edit"``, or a list of queries (any of them). See the module
        docs of the bot layer for the shortcuts.

        Raises:
            ValueError: unknown or malformed query (raised here, not per update).
        """
        predicate: RawPredicate = compile_query(query)
        return self._branch("raw", predicate, middleware)

    def command(self, names: str | Sequence[str], *middleware: Handler | Composer) -> Composer:
        """Run ``middleware`` for ``/name`` commands (one name or a list).

        Matches ``/start``, ``/start args`` and ``/start@thisbot`` (any letter case of
        the username) in messages and channel posts; ``/start@otherbot`` is ignored.
        ``ctx.match`` is the text after the command, stripped.
        """
        return self._branch("ctx", command_predicate(names), middleware)

    def hears(
        self, trigger: Trigger | Sequence[Trigger], *middleware: Handler | Composer
    ) -> Composer:
        """Run ``middleware`` for messages whose text (or caption) matches ``trigger``.

        A string must equal the whole text; a compiled pattern is searched and
        ``ctx.match`` is the ``re.Match``. A list matches if any item does.
        """
        return self._branch("ctx", text_predicate(trigger), middleware)

    def callback_query(
        self, data: Trigger | Sequence[Trigger], *middleware: Handler | Composer
    ) -> Composer:
        """Run ``middleware`` for button presses whose callback data matches ``data``.

        A string must equal the data; a compiled pattern is searched (``ctx.match``
        is the ``re.Match``).
        """
        return self._branch("ctx", callback_data_predicate(data), middleware)

    def filter(self, predicate: Predicate, *middleware: Handler | Composer) -> Composer:
        """Run ``middleware`` when ``predicate(ctx)`` is true (sync or async predicate)."""
        if not callable(predicate):
            raise TypeError(f"filter() needs a callable predicate, got {type(predicate).__name__}")
        kind = "async" if inspect.iscoroutinefunction(predicate) else "ctx"
        return self._branch(kind, predicate, middleware)

    def middleware(self) -> Middleware:
        """This composer's whole tree as one middleware ``(ctx, next)``.

        The result is a snapshot: middleware registered later is not in it (a ``Bot``
        picks such changes up by itself).
        """
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = self._compile()
        return compiled

    def _compile(self) -> Middleware:
        compiled: list[Middleware] = []
        for entry in self._entries:
            if isinstance(entry, Composer):
                compiled.append(entry.middleware())
            elif isinstance(entry, _Branch):
                compiled.append(entry.compile())
            else:
                compiled.append(entry)  # type: ignore[arg-type]  # its result is ignored
        return _chain(compiled)
