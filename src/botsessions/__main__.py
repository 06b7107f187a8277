"""Command line: ``python -m botsessions demo`` (also installed as ``botsessions demo``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from botsessions._demo import DEFAULT_DB, run_demo, token_from_env

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
            "/reset. Offline by default: a local Bot API server and a chat in this terminal."
        ),
    )
    demo.add_argument(
        "--storage",
        default="sqlite",
        metavar="KIND",
        help="memory, sqlite (default), file, a redis:// URL or a postgresql:// DSN",
    )
    demo.add_argument(
        "--db",
        metavar="PATH",
        help=f"SQLite file (default ./{DEMO_DB_HINT}) or, with --storage file, a directory",
    )
    demo.add_argument(
        "--token",
        help="run on Telegram with this bot token instead (default: $BOT_TOKEN); "
        "no local server, no terminal chat",
    )
    return parser


DEMO_DB_HINT = DEFAULT_DB


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m botsessions`` and the ``botsessions`` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        token = args.token or token_from_env()
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_demo(storage_kind=args.storage, db=args.db, token=token))
        except ValueError as exc:
            parser.error(str(exc))


if __name__ == "__main__":
    main()
