"""The operator command line: ``botsessions sessions ...`` and ``botsessions import ...``.

Modules: ``_parser`` (the argparse definitions), ``_urls`` (storage URLs),
``_sessions`` (the ``sessions`` commands), ``_records`` (reading sessions and the JSON
Lines format), ``_writes`` (writes and deletes under the session lock), ``_aiogram_fsm``
and ``_ptb_pickle`` (the importers), ``_progress`` (the progress bar).

Nothing but ``botsessions.__main__`` imports this package. Exit codes: 0 done, 1 the
operation failed (a message on stderr says why), 2 a usage error (bad options or URL).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

from botsessions._cli._parser import add_commands
from botsessions._cli._sessions import COMMANDS, write_entries
from botsessions._cli._urls import StorageURLError, parse_storage_url
from botsessions._errors import BotSessionsError, CorruptDataError, StorageError
from botsessions.storage._expiry import ExpiringEntry

__all__ = ["add_commands", "run"]

FAILED = 1
USAGE = 2
# What a failed operation may raise; anything else is a bug and keeps its traceback.
_FAILURES = (BotSessionsError, LookupError, ValueError, TypeError, OSError)


def run(args: argparse.Namespace) -> int:
    """Run a parsed ``sessions`` or ``import`` command; returns the exit code."""
    try:
        storage = parse_storage_url(args.storage).open()
    except StorageURLError as exc:
        return _fail(str(exc), USAGE)
    except ModuleNotFoundError as exc:  # the storage's driver extra is not installed
        return _fail(str(exc), FAILED)
    except (ValueError, TypeError) as exc:  # a storage option the storage refuses
        return _fail(f"bad storage URL {args.storage!r}: {exc}", USAGE)
    try:
        return asyncio.run(_run(args, storage))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BaseExceptionGroup as group:  # concurrent writes: report the first failure
        first = _first(group)
        if isinstance(first, _FAILURES):
            return _fail(_describe(first), FAILED)
        raise
    except _FAILURES as exc:
        return _fail(_describe(exc), FAILED)


async def _run(args: argparse.Namespace, storage: Any) -> int:
    try:
        if args.command == "sessions":
            code: int = await COMMANDS[args.action](args, storage)
            return code
        if args.kind == "aiogram-fsm":
            return await _import_aiogram(args, storage)
        return await _import_ptb(args, storage)
    finally:
        close = getattr(storage, "close", None)
        if close is not None:
            await close()


async def _import_aiogram(args: argparse.Namespace, storage: Any) -> int:
    from botsessions._cli._aiogram_fsm import fsm_records, fsm_stems, open_client

    client = open_client(args.source)
    try:
        stems = await fsm_stems(client, args.fsm_prefix)
        return await write_entries(
            args, storage, fsm_records(client, stems), len(stems), "imported"
        )
    finally:
        await client.aclose()


async def _import_ptb(args: argparse.Namespace, storage: Any) -> int:
    from botsessions._cli._ptb_pickle import PTBKeys, ptb_entries, read_persistence

    keys = PTBKeys(
        chat_prefix=args.chat_prefix,
        user_prefix=args.user_prefix,
        bot_key=args.bot_key,
        conversation_prefix=args.conversation_prefix,
    )
    entries = ptb_entries(read_persistence(args.source), keys)

    async def source() -> AsyncIterator[ExpiringEntry]:
        for entry in entries:
            yield entry

    return await write_entries(args, storage, source(), len(entries), "imported")


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    first: BaseException = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _describe(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, StorageError) and "connect" in message.lower():
        message += "\nhint: is the server running, and is the storage URL right?"
    if isinstance(exc, CorruptDataError) and exc.key is not None:
        message += f"\nhint: fix it in the backend, or delete it: botsessions sessions rm {exc.key}"
    return message


def _fail(message: str, code: int) -> int:
    print(f"botsessions: error: {message}", file=sys.stderr)
    return code
