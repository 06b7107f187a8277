"""``botsessions sessions ls|show|count|rm|export|import``: one coroutine per command.

Each takes the parsed arguments and the opened storage, writes its result to stdout
(plain text for people, JSON with ``--json``) and returns the exit code. Failures raise;
``_run`` turns them into a message and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import IO, Any

from botsessions._cli._progress import Progress
from botsessions._cli._records import (
    decode_line,
    encode_line,
    entries_with_expiry,
    keys,
    read_with_expiry,
    remaining,
)
from botsessions._cli._writes import Writer, remove
from botsessions.storage._expiry import ExpiringEntry

__all__ = ["COMMANDS", "NotFoundError"]


class NotFoundError(LookupError):
    """The session asked for does not exist (``show``)."""


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


def _note(text: str) -> None:
    print(text, file=sys.stderr)


async def ls(args: argparse.Namespace, storage: Any) -> int:
    """Print the keys (one per line; JSON strings with ``--json``)."""
    shown = 0
    async for key in keys(storage, args.prefix):
        if args.limit is not None and shown >= args.limit:
            break
        _out(json.dumps(key, ensure_ascii=False) if args.json else key)
        shown += 1
    return 0


async def count(args: argparse.Namespace, storage: Any) -> int:
    """Print how many sessions there are (under ``--prefix``)."""
    total = 0
    with Progress("counting", enabled=not args.json) as progress:
        async for _ in keys(storage, args.prefix):
            total += 1
            progress.advance()
    if args.json:
        _json({"count": total})
    else:
        _out(str(total))
    return 0


async def show(args: argparse.Namespace, storage: Any) -> int:
    """Print one session's value (and its remaining TTL)."""
    found = await read_with_expiry(storage, args.key)
    if found is None:
        raise NotFoundError(f"no session {args.key!r} in this storage")
    value, expires_at = found
    ttl = remaining(expires_at, time.time())
    if args.json:
        sys.stdout.buffer.write(encode_line(args.key, value, ttl))
        return 0
    # json (not orjson) for the indented form: it writes integers of any size exactly.
    _out(json.dumps(value, ensure_ascii=False, indent=2))
    _note(f"{args.key}: " + ("no expiry" if ttl is None else f"expires in {ttl:g} s"))
    return 0


async def rm(args: argparse.Namespace, storage: Any) -> int:
    """Delete the given sessions, each under its lock; missing ones are reported."""
    deleted: list[str] = []
    missing: list[str] = []
    for key in args.keys:
        (deleted if await remove(storage, key) else missing).append(key)
    if args.json:
        _json({"deleted": deleted, "missing": missing})
        return 0
    for key in deleted:
        _out(f"deleted {key}")
    for key in missing:
        _note(f"no session {key!r}: nothing deleted")
    return 0


async def export(args: argparse.Namespace, storage: Any) -> int:
    """Write every session (under ``--prefix``) as JSON Lines, with its remaining TTL."""
    written = 0
    strip = len(args.prefix) if args.strip_prefix else 0
    with _output(args.output) as out, Progress("exporting", enabled=True) as progress:
        async for key, value, expires_at in entries_with_expiry(storage, args.prefix):
            out.write(encode_line(key[strip:], value, remaining(expires_at, time.time())))
            written += 1
            progress.advance()
    if args.output not in (None, "-"):
        _note(f"exported {written} sessions to {args.output}")
    return 0


@contextmanager
def _output(path: str | None) -> Iterator[IO[bytes]]:
    """stdout, or ``path`` written in full before it replaces any file of that name."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = f"{path}.partial"
    try:
        with open(partial, "wb") as file:
            yield file
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    """``(number, line)`` of every non-blank line of ``path`` (``-``: stdin)."""
    if path == "-":
        source: IO[bytes] = sys.stdin.buffer
        lines = enumerate(source, 1)
        yield from ((n, line) for n, line in lines if line.strip())
        return
    with open(path, "rb") as file:
        yield from ((n, line) for n, line in enumerate(file, 1) if line.strip())


async def import_(args: argparse.Namespace, storage: Any) -> int:
    """Write every session of an export file, under the lock unless ``--no-lock``."""
    # Remaining TTLs count from the start of the import.
    started = time.time()
    records: list[ExpiringEntry] | None = None
    if args.file == "-":  # stdin can be read only once: keep it
        records = [decode_line(line, n, now=started) for n, line in _lines("-")]
        total = len(records)
    else:
        # Check the whole file first, so that a bad line writes nothing at all.
        total = sum(1 for n, line in _lines(args.file) if decode_line(line, n))

    async def source() -> AsyncIterator[ExpiringEntry]:
        items: Any = records
        if items is None:
            items = (decode_line(line, n, now=started) for n, line in _lines(args.file))
        for key, value, expires_at in items:
            yield args.prefix + key, value, expires_at

    return await write_entries(args, storage, source(), total, "imported")


async def write_entries(
    args: argparse.Namespace,
    storage: Any,
    entries: AsyncIterator[ExpiringEntry],
    total: int | None,
    verb: str,
) -> int:
    """Write ``entries`` with a ``Writer`` and report the count (shared by the importers)."""
    with Progress(verb.removesuffix("ed") + "ing", total=total, enabled=not args.json) as bar:
        writer = Writer(storage, locked=not args.no_lock, jobs=args.jobs, done=bar.advance)
        written = await writer.write_all(entries)
    if args.json:
        _json({verb: written, "locked": writer.locked})
    else:
        how = "under the session lock" if writer.locked else "without locking"
        _out(f"{verb} {written} sessions ({how})")
    return 0


COMMANDS = {
    "ls": ls,
    "count": count,
    "show": show,
    "rm": rm,
    "export": export,
    "import": import_,
}
"""The ``sessions`` subcommands by name."""
