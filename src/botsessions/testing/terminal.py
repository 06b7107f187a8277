"""``TerminalChat``: chat with a bot from a terminal, as a user of the local Bot API server.

You type as the Telegram user; what the bot sends or edits in the chat is printed. Lines
are read from stdin without blocking the event loop (``add_reader`` + ``os.read``, which
leaves the terminal in blocking mode so printing stays safe), so it runs on Linux and
macOS, not on Windows. Inline keyboards are shown as numbered buttons; ``1`` or
``/press 1`` presses the first one. When stdin is not a terminal (a script piped in), each
line is echoed and waits for the bot's answer before the next one is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from botsessions.testing.bot_api import ChatUser

__all__ = ["TerminalChat"]

_SCRIPT_WAIT = 10.0  # seconds a piped-in line waits for the bot's answer


class TerminalChat:
    """Bridges stdin/stdout and one ``ChatUser`` of a running ``LocalBotAPI``.

    The bot runs elsewhere (a task on the same loop, another process) and polls the same
    server; ``await TerminalChat(user, "My Bot").run()`` returns when the user types
    ``/quit`` (or ``/exit``) or stdin ends.

    Args:
        user: the user you type as, from ``api.user(token)`` (or ``user.join(group)``).
        bot_name: the name printed before the bot's messages.
        interactive: whether a person types (echo off, no waiting); default: whether
            stdin is a terminal. ``False`` echoes each line and waits up to 10 s for the
            bot's answer before reading the next, so a piped script replays in order.
    """

    def __init__(self, user: ChatUser, bot_name: str, *, interactive: bool | None = None) -> None:
        self._user = user
        self._interactive = sys.stdin.isatty() if interactive is None else interactive
        self._activity = asyncio.Event()  # set whenever something from the bot is shown
        self._bot_name = bot_name
        self._buttons: list[tuple[str, str]] = []  # (label, callback_data) of the last keyboard
        self._keyboard_message: dict[str, Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Chat until ``/quit`` or end of input."""
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        printer = asyncio.create_task(self._print_replies())
        with _stdin_lines(lines):
            try:
                while (line := await lines.get()) is not None:
                    line = line.strip()
                    if line in ("/quit", "/exit"):
                        break
                    if line:
                        await self._handle(line)
            finally:
                printer.cancel()
                for task in (printer, *self._tasks):
                    task.cancel()
                await asyncio.gather(printer, *self._tasks, return_exceptions=True)

    async def _handle(self, line: str) -> None:
        self._activity.clear()
        if not self._interactive:
            _say(f"You: {line}")  # a terminal echoes what you type; a pipe does not
        await self._act(line)
        if not self._interactive:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SCRIPT_WAIT):
                    await self._activity.wait()

    async def _act(self, line: str) -> None:
        choice = line.removeprefix("/press").strip()
        if choice.isdigit() and (line.startswith("/press") or self._buttons):
            await self._press(int(choice))
        elif line.startswith("/press"):
            _say("Usage: /press N, where N is a button number shown under a message.")
        else:
            await self._user.send(line)

    async def _press(self, number: int) -> None:
        if not 1 <= number <= len(self._buttons):
            _say(f"No button {number}: there are {len(self._buttons)} buttons to press.")
            return
        label, data = self._buttons[number - 1]
        _say(f"(you pressed {label})")
        query = await self._user.press(data, message=self._keyboard_message)
        if not self._interactive:
            await self._show_answer(query)  # the edit comes first, then this answer
            return
        task = asyncio.create_task(self._show_answer(query))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _show_answer(self, query: dict[str, Any]) -> None:
        with contextlib.suppress(TimeoutError):
            answer = await self._user.callback_answer(query, timeout=30)
            if answer.get("text"):
                _say(f"  [{answer['text']}]")
                self._activity.set()

    async def _print_replies(self) -> None:
        while True:
            try:
                message = await self._user.reply(timeout=3600)
            except TimeoutError:
                continue
            edited = " (edited)" if "edit_date" in message else ""
            _say(f"{self._bot_name}{edited}: {message.get('text', '')}")
            rows = message.get("reply_markup", {}).get("inline_keyboard", [])
            buttons = [
                (b["text"], b["callback_data"]) for r in rows for b in r if "callback_data" in b
            ]
            if buttons:
                self._buttons = buttons
                self._keyboard_message = message
                _say("  " + "  ".join(f"[{i}] {label}" for i, (label, _) in enumerate(buttons, 1)))
            self._activity.set()


def _say(text: str) -> None:
    print(text, flush=True)


@contextlib.contextmanager
def _stdin_lines(queue: asyncio.Queue[str | None]) -> Iterator[None]:
    """Feed complete stdin lines into ``queue``, then ``None`` at end of input."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    pending = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not chunk:
            loop.remove_reader(fd)
            if pending:
                queue.put_nowait(pending.decode(errors="replace"))
            queue.put_nowait(None)
            return
        pending.extend(chunk)
        while (end := pending.find(b"\n")) >= 0:
            queue.put_nowait(pending[:end].decode(errors="replace").rstrip("\r"))
            del pending[: end + 1]

    loop.add_reader(fd, readable)
    try:
        yield
    finally:
        loop.remove_reader(fd)
