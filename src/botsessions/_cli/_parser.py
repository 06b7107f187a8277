"""The ``sessions`` and ``import`` command groups of the ``botsessions`` command (argparse).

argparse (the standard library) is enough here: two command groups with a handful of
options each, no dependency for users who never run them, and the ``demo`` command already
uses it, so every command shares one parser, one ``--help`` and one exit code for usage
errors (2).
"""

from __future__ import annotations

import argparse
from typing import Any

from botsessions._cli._urls import ACCEPTED, ENVIRONMENT

__all__ = ["add_commands"]

_STORAGE_HELP = f"the storage URL (default: ${ENVIRONMENT}); see the list below"


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return number


def _command(group: Any, name: str, help: str, *, json: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=ACCEPTED,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--storage", metavar="URL", help=_STORAGE_HELP)
    if json:
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="write without taking the session locks (faster; only for a storage no "
        "running bot uses)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=8,
        metavar="N",
        help="sessions written at once under the lock (default 8)",
    )


def _group(commands: Any, name: str, help: str, description: str, *, dest: str) -> Any:
    """A top-level command whose own subcommands are chosen by ``dest``."""
    parser = commands.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=dest, required=True, metavar=dest.upper())


def _only_prefix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", default="", help="only keys starting with P", metavar="P")


def add_commands(commands: Any) -> None:
    """Add ``sessions`` and ``import`` to the ``botsessions`` subcommands."""
    group = _group(
        commands,
        "sessions",
        "list, show, count, delete, export and import stored sessions",
        "Inspect and change the sessions in a storage.",
        dest="action",
    )

    ls = _command(group, "ls", "list the stored session keys")
    _only_prefix(ls)
    ls.add_argument("--limit", type=_positive, metavar="N", help="at most N keys")

    show = _command(group, "show", "print one session's value and remaining TTL")
    show.add_argument("key", metavar="KEY")

    count = _command(group, "count", "count the stored sessions")
    _only_prefix(count)

    rm = _command(group, "rm", "delete sessions (under their lock)")
    rm.add_argument("keys", nargs="+", metavar="KEY")

    export = _command(group, "export", "write sessions as JSON Lines", json=False)
    _only_prefix(export)
    export.add_argument(
        "--strip-prefix", action="store_true", help="write the keys without the --prefix"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="the file (default: stdout)")

    import_ = _command(group, "import", "write the sessions of a JSON Lines export")
    import_.add_argument("file", metavar="FILE", help="the export file (- for stdin)")
    import_.add_argument(
        "--prefix", default="", metavar="P", help="prepend P to every imported key"
    )
    _write_options(import_)

    kinds = _group(
        commands,
        "import",
        "bring sessions over from aiogram's FSM storage or PTB's PicklePersistence",
        "Import what another framework stored into botsessions sessions.",
        dest="kind",
    )

    fsm = _command(kinds, "aiogram-fsm", "import aiogram's RedisStorage FSM records")
    fsm.add_argument("--from", dest="source", required=True, metavar="REDIS_URL")
    fsm.add_argument(
        "--fsm-prefix",
        default="fsm",
        metavar="P",
        help="the prefix of aiogram's DefaultKeyBuilder (default fsm)",
    )
    _write_options(fsm)

    ptb = _command(kinds, "ptb-pickle", "import python-telegram-bot's PicklePersistence")
    ptb.add_argument("--from", dest="source", required=True, metavar="FILE")
    ptb.add_argument("--chat-prefix", default="", metavar="P", help="key of chat_data: P<chat id>")
    ptb.add_argument(
        "--user-prefix", default="user:", metavar="P", help="key of user_data: P<user id>"
    )
    ptb.add_argument("--bot-key", default="bot", metavar="KEY", help="key of bot_data")
    ptb.add_argument(
        "--conversation-prefix",
        default="conversation:",
        metavar="P",
        help="key of a conversation state: P<name>:<chat id>:...",
    )
    _write_options(ptb)
