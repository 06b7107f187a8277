"""Sessions outside an update: ``open(key)``, ``keys()``, ``entries()``, the codec.

A job, an admin command or a broadcast changes a session the way an update does, so it
must take the same in-process lock and storage lease, and go through the same prefix,
codec and ``enhance_storage`` migrations. ``open()`` gets all of that by running the
engine's own update objects (``SingleUpdate``, ``MultiUpdate``) with the key given
instead of computed: each property's plan is copied with a key function that reads the
given key, and strict loading (a lazy session opened outside an update is read at once).

``keys()`` and ``entries()`` enumerate the storage (``read_all_keys`` /
``read_all_entries``), keep this session's keys (those under its prefix), strip the
prefix and decode values with the session's codec. They take no lock: a value may change
right after it was listed; ``open()`` the key to change it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botsessions.engine.multi import MultiPlan, MultiUpdate
from botsessions.engine.plan import PropertyPlan
from botsessions.engine.protocols import RefusingSlot
from botsessions.engine.single import SingleUpdate
from botsessions.storage._wrapper import iterate

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from botsessions.engine.manager import SessionManager, Update
    from botsessions.engine.protocols import SessionSlot

__all__ = ["OpenSession", "OutsideAccess", "SessionAccess"]

S = TypeVar("S")


# The slot of an ``open()`` block that has ended.
_CLOSED = RefusingSlot(
    "This open() block has ended and its session was saved: use handle.data inside the "
    "async with block"
)


class OpenSession(Generic[S]):
    """The session of one key, opened outside an update (``async with x.open(key)``).

    Attributes:
        key: The session key as given to ``open()``, without the prefix (``None`` for a
            multi session, whose keys are per fragment: see ``keys``).
        keys: The given key of each opened fragment (``{"session": key}`` for a single
            session), without prefixes.
    """

    __slots__ = ("_fragments", "_slot", "key", "keys")

    def __init__(
        self, slot: SessionSlot, key: str | None, keys: Mapping[str, str], multi: bool
    ) -> None:
        self._slot = slot
        self._fragments = tuple(keys) if multi else None
        self.key = key
        self.keys = dict(keys)

    @property
    def data(self) -> S:
        """The session value, as a handler sees it (``initial()`` when none is stored).

        For a multi session: an object with one attribute per fragment; only the
        fragments given to ``open()`` can be used.

        Raises:
            SessionKeyError: a multi-session fragment that was not opened.
            RuntimeError: the ``open()`` block has ended.
        """
        value: S = self._slot.get()
        return value

    @data.setter
    def data(self, value: S | None) -> None:
        """Replace the value; ``None`` deletes the stored session when the block ends
        (for a multi session: every opened fragment)."""
        if value is None and self._fragments is not None:
            fragments = self._slot.get()  # RuntimeError once closed
            for name in self._fragments:
                setattr(fragments, name, None)
            return
        self._slot.set(value)

    def close(self) -> None:
        """Detach from the session; later access raises ``RuntimeError``."""
        self._slot = _CLOSED

    def __repr__(self) -> str:
        return f"OpenSession(keys={self.keys!r})"


def _given_key(key: Any) -> Any:
    return key


def _fragment_key(name: str) -> Callable[[Mapping[str, str]], str | None]:
    def given(keys: Mapping[str, str]) -> str | None:
        return keys.get(name)

    return given


def _outside_plan(plan: PropertyPlan, *, multi: bool) -> PropertyPlan:
    """``plan`` keyed by what ``open()`` was given, read before the block (strict)."""
    outside = copy.copy(plan)  # the same access, lock family, prefix, codec, initial
    outside.lazy = False
    if multi:
        name = str(plan.name)
        outside.get_key = _fragment_key(name)
        message = (
            f"Cannot {{}} session fragment {name!r}: it was not opened; pass {name}=<key> to open()"
        )
        outside.access_error = message.format("access")
        outside.assign_error = message.format("assign")
    else:
        outside.get_key = _given_key
    return outside


def _check_key(key: object, what: str) -> str:
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise TypeError(f"{what} must be a str (the session key without prefix), got {key!r}")
    return str(key)


class OutsideAccess(Generic[S]):
    """``open()``, ``keys()``, ``entries()``, ``encode()`` and ``decode()`` of one built
    session. A base class: subclasses provide ``_session_manager()``."""

    __slots__ = ()

    def _session_manager(self) -> SessionManager:
        raise NotImplementedError

    def open(
        self, key: str | None = None, /, **fragments: str
    ) -> AbstractAsyncContextManager[OpenSession[S]]:
        """Open the session of ``key`` (unprefixed) as an update of that key would.

        ``async with sessions.open("42") as handle:`` waits for the key's in-process lock
        and the storage's lease (so it runs between the updates of that chat, in this
        process and, on Redis, PostgreSQL or MySQL, in others), reads once through the
        prefix, codec and migrations, and gives ``handle.data``. When the block ends, the
        value is written if it changed (``handle.data = None`` deletes it); when the
        block raises, nothing is written. Multi sessions: ``open(chat="42", user="7")``,
        then ``handle.data.chat``.

        Raises:
            TypeError: no key, a key that is not a str, or an unknown fragment.
            LockTimeoutError, LockError: the key could not be locked (``lock_timeout``;
                opening a key the current update already holds).
            CorruptDataError, StorageError: the stored value cannot be read or decoded
                (it is left as it is).
        """
        manager = self._session_manager()
        if manager.multi:
            if key is not None:
                raise TypeError("a multi session is opened per fragment: open(chat='42', user='7')")
            names = {str(plan.name) for plan in manager.plans}
            unknown = sorted(set(fragments) - names)
            if unknown or not fragments:
                raise TypeError(
                    f"open() of a multi session takes fragment keys ({', '.join(sorted(names))})"
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                )
            given = {name: _check_key(value, name) for name, value in fragments.items()}
            return self._opened(given, given, None)
        if fragments or key is None:
            raise TypeError("open() takes the session key: open('42')")
        key = _check_key(key, "key")
        return self._opened(key, {"session": key}, key)

    @asynccontextmanager
    async def _opened(
        self, ctx: Any, keys: Mapping[str, str], key: str | None
    ) -> AsyncIterator[OpenSession[S]]:
        update = _outside_update(self._session_manager())
        # An open() block runs no handler: its task owns the locks, so an update of the same
        # key started inside the block fails with LockError instead of waiting for itself.
        update.owner = asyncio.current_task()
        if not update.enter_now(ctx):
            await update.enter()
        handle: OpenSession[S] = OpenSession(update.slot, key, keys, key is None)
        try:
            yield handle
        except BaseException:
            handle.close()
            await update.fail()  # the block raised: nothing is written
            raise
        handle.close()
        if not update.leave_now():
            await update.leave()

    def keys(self, fragment: str | None = None) -> AsyncIterator[str]:
        """Every stored key of this session, without its prefix (keys of other prefixes
        are skipped), as an async iterator. Multi sessions: the keys of ``fragment``.

        Raises:
            TypeError: the storage cannot enumerate (no ``read_all_keys``), or a missing
                or unknown ``fragment``; raised by this call, before iterating.
            StorageError: the storage failed.
        """
        plan = self._plan(fragment)
        return _own_keys(_enumerator(plan, "read_all_keys"), plan.prefix)

    def entries(self, fragment: str | None = None) -> AsyncIterator[tuple[str, S]]:
        """Every stored ``(key, value)`` of this session, as an async iterator: the key
        without its prefix, the value decoded as a handler sees it (a dataclass session
        gives dataclasses).

        Raises:
            TypeError: the storage cannot enumerate (no ``read_all_entries``), or a
                missing or unknown ``fragment``; raised by this call, before iterating.
            CorruptDataError: a stored value does not match the session's type.
            StorageError: the storage failed.
        """
        plan = self._plan(fragment)
        return _own_entries(_enumerator(plan, "read_all_entries"), plan)

    def decode(self, data: Any, fragment: str | None = None) -> S:
        """Turn a stored JSON value into the session value a handler would see (validated
        for a typed session; a copy for a plain one).

        Raises:
            CorruptDataError: ``data`` does not match the session's type.
            TypeError: a missing or unknown ``fragment`` (multi sessions).
        """
        value: S = self._plan(fragment).access.codec.decode(data)
        return value

    def encode(self, value: S, fragment: str | None = None) -> Any:
        """Turn a session value into the JSON value that storage keeps for it.

        Raises:
            TypeError: ``value`` cannot be stored (the message names where it fails), or
                a missing or unknown ``fragment`` (multi sessions).
        """
        return self._plan(fragment).access.codec.encode(value)

    def _plan(self, fragment: str | None) -> PropertyPlan:
        manager = self._session_manager()
        if not manager.multi:
            if fragment is not None:
                raise TypeError("fragment= is for multi sessions; this is a single session")
            return manager.plans[0]
        for plan in manager.plans:
            if plan.name == fragment:
                return plan
        names = ", ".join(str(plan.name) for plan in manager.plans)
        raise TypeError(f"a multi session needs fragment= (one of {names}), got {fragment!r}")


class SessionAccess(OutsideAccess[S]):
    """``OutsideAccess`` over a given ``SessionManager`` (``application.sessions`` of the
    python-telegram-bot glue)."""

    __slots__ = ("manager",)

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    def _session_manager(self) -> SessionManager:
        return self.manager

    def __repr__(self) -> str:
        return f"SessionAccess({self.manager!r})"


def _outside_update(manager: SessionManager) -> Update:
    if manager.multi:
        plans = [_outside_plan(plan, multi=True) for plan in manager.plans]
        return MultiUpdate(MultiPlan(plans))
    return SingleUpdate(_outside_plan(manager.plans[0], multi=False))


def _enumerator(plan: PropertyPlan, name: str) -> Callable[[], Any]:
    method = getattr(plan.storage, name, None)
    if not callable(method):
        raise TypeError(
            f"{type(plan.storage).__name__} cannot list its sessions: it has no {name}(); "
            "use a storage that implements it (every built-in storage does)"
        )
    return method  # type: ignore[no-any-return]  # a storage method: its result is checked


async def _own_keys(read_all_keys: Callable[[], Any], prefix: str) -> AsyncIterator[str]:
    async for stored_key in iterate(read_all_keys()):
        if stored_key.startswith(prefix):
            yield stored_key[len(prefix) :]


async def _own_entries(
    read_all_entries: Callable[[], Any], plan: PropertyPlan
) -> AsyncIterator[tuple[str, Any]]:
    prefix = plan.prefix
    decode = plan.access.codec.decode
    async for stored_key, stored in iterate(read_all_entries()):
        if stored_key.startswith(prefix) and stored is not None:
            yield stored_key[len(prefix) :], decode(stored, stored_key)
