"""``python -m botsessions.testing.bot_api``: run a local Bot API server from a terminal.

It prints the server's URL, the bot's token and the command that points a bot at it, then
serves until Ctrl+C; with ``--chat`` you also chat with that bot from the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex

from botsessions.testing.bot_api import LocalBotAPI
from botsessions.testing.terminal import TerminalChat

__all__ = ["main"]

_PROG = "python -m botsessions.testing.bot_api"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Run a local Bot API server: a bot talks to it as to api.telegram.org, "
            "offline, and you (or your tests) play the users."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--token",
        help="the bot's token, '<digits>:<secret>' (default: a new one on every start)",
    )
    parser.add_argument("--username", default="test_bot", help="the bot's username")
    parser.add_argument("--first-name", default="Test Bot", help="the bot's display name")
    parser.add_argument(
        "--chat", action="store_true", help="chat with the bot from this terminal as a user"
    )
    return parser


def _connection_lines(url: str, token: str) -> list[str]:
    """What to tell the user: the URL, the token, and how to point a bot at them."""
    env = f"BOT_API_SERVER={shlex.quote(url)} BOT_TOKEN={shlex.quote(token)}"
    return [
        f"Bot API server: {url}",
        f"Token:          {token}",
        f"Run a bot:      {env} python your_bot.py",
        f"In Python:      Bot({json.dumps(token)}, api_server={json.dumps(url)})",
    ]


async def _serve(api: LocalBotAPI, token: str, args: argparse.Namespace) -> None:
    async with api:
        print("\n".join(_connection_lines(api.url, token)))
        if not args.chat:
            print("Press Ctrl+C to stop.", flush=True)
            await asyncio.Event().wait()
            return
        print("Type messages as the user 'You' (/quit to stop).", flush=True)
        user = api.user(token, first_name="You")
        await TerminalChat(user, args.first_name).run()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until Ctrl+C (or ``/quit`` with ``--chat``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    api = LocalBotAPI(host=args.host, port=args.port)
    try:
        token = api.add_bot(username=args.username, first_name=args.first_name, token=args.token)
    except ValueError as exc:
        parser.error(f"--token: {exc}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(api, token, args))


if __name__ == "__main__":
    main()
