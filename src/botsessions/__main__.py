"""Command line: ``python -m botsessions demo|sessions|import`` (installed as ``botsessions``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys

from botsessions._cli import add_commands, run
from botsessions._demo.storages import DEFAULT_DB, DEFAULT_DIRECTORY, open_storage

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="botsessions", description="Sessions for Python Telegram bots."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="chat with a session bot offline, from this terminal",
        description=(
            "Run the complete session example: a message counter with /stats, /theme and "
            "/reset. It runs offline on its own local Bot API server, with a chat in this "
            "terminal, unless you pass --telegram."
        ),
    )
    demo.add_argument(
        "--storage",
        default="sqlite",
        metavar="KIND",
        help="memory, sqlite (default), file, a redis:// or redis+cluster:// URL, "
        "a postgresql:// DSN or a mysql:// URL",
    )
    demo.add_argument(
        "--db",
        metavar="PATH",
        help=f"the SQLite file (default ./{DEFAULT_DB}) or, with --storage file, "
        f"the directory (default ./{DEFAULT_DIRECTORY})",
    )
    demo.add_argument(
        "--telegram",
        action="store_true",
        help="run on Telegram instead, with --token or $BOT_TOKEN ($BOT_API_SERVER for a "
        "self-hosted Bot API server): no local server, no terminal chat",
    )
    demo.add_argument("--token", help="the bot token for --telegram (implies --telegram)")
    add_commands(commands)
    return parser


def _telegram_token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    """The token to run on Telegram with, or ``None`` to run offline."""
    exported = os.environ.get("BOT_TOKEN") or None
    if args.token:
        return str(args.token)
    if args.telegram:
        if exported is None:
            parser.error("--telegram needs a bot token: pass --token TOKEN or set BOT_TOKEN")
        return exported
    if exported is not None:
        print("BOT_TOKEN is set but not used: the demo runs offline unless you pass --telegram.")
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m botsessions`` and the ``botsessions`` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("sessions", "import"):
        sys.exit(run(args))
    if args.command == "demo":
        token = _telegram_token(args, parser)
        api_server = (os.environ.get("BOT_API_SERVER") or None) if token else None
        try:
            chosen = open_storage(args.storage, args.db)
        except ValueError as exc:
            parser.error(str(exc))
        except ModuleNotFoundError as exc:  # the storage's driver extra is not installed
            sys.exit(f"botsessions demo: {exc}")
        if token is not None:
            # Show the bot layer's startup line (INFO); offline it would clutter the chat.
            logging.basicConfig(format="%(message)s")
            logging.getLogger("botsessions").setLevel(logging.INFO)
        # Imported here: the bot layer and its HTTP client are not needed by the other commands.
        from botsessions._demo.run import run_demo
        from botsessions.bot import TelegramError

        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_demo(chosen, telegram_token=token, api_server=api_server))
        except TelegramError as exc:  # a rejected token, another poller: one line, no traceback
            sys.exit(f"botsessions demo: {exc}")


if __name__ == "__main__":
    main()
