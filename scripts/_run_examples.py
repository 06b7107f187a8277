"""Run every seed example that needs no extra, end to end, on a local Bot API server.

    python scripts/_run_examples.py [EXAMPLES_DIR]

Used by ``scripts/check-bare`` with the python of a venv holding ``pip install .`` and
nothing else, so it imports only botsessions and the standard library. Each example runs
as a script (``python examples/<name>.py``) with ``BOT_TOKEN`` and ``BOT_API_SERVER``
pointing at one ``LocalBotAPI``; a user sends it a message, the reply is checked, then
the example is stopped with Ctrl+C (SIGINT) and must exit with code 0. Exits non-zero,
naming each failing example and showing its stderr, when any of them fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from botsessions.testing import ChatUser, LocalBotAPI

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Examples that need an extra; the bare install cannot run them.
NEEDS_EXTRA = {
    "aiogram_bot": "aiogram",
    "ptb_bot": "ptb",
    "custom_redis_adapter": "redis",
    "aiogram_form": "aiogram",
}
# What each example is sent and what it answers (None: any reply will do).
PROBES: dict[str, tuple[str, str | None]] = {
    "complete": ("/stats", "Messages in this chat: 1"),
    "counter": ("hello", "Messages in this chat: 1"),
    "lazy": ("/score", "Score: 0"),
    "memory_ttl": ("/recall", "Nothing to recall."),
    "migrations": ("/colors", "black on white"),
    "multi": ("/settings", "theme=light language=en"),
    "options": ("hello", None),
    "persistent": ("hello", None),
    "pizza": ("/hunger", "Your hunger level is 0!"),
    "start": ("/start", None),
}
REPLY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass
class Outcome:
    """How one example did: ``error`` is empty when it passed."""

    name: str
    seconds: float
    reply: str | None = None
    error: str = ""
    stderr: str = ""


async def _first_reply(user: ChatUser, process: asyncio.subprocess.Process) -> str:
    answer = asyncio.ensure_future(user.reply(timeout=REPLY_TIMEOUT))
    exited = asyncio.ensure_future(process.wait())
    await asyncio.wait((answer, exited), return_when=asyncio.FIRST_COMPLETED)
    exited.cancel()
    if not answer.done():
        answer.cancel()
        raise RuntimeError(f"exited with code {process.returncode} before replying")
    return str(answer.result()["text"])


async def _stop(process: asyncio.subprocess.Process) -> bytes:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        _, stderr = await process.communicate()
        stderr += f"\n(still running {STOP_TIMEOUT:.0f} s after Ctrl+C: killed)".encode()
    return stderr


async def run_example(api: LocalBotAPI, directory: Path, name: str) -> Outcome:
    """Start ``<directory>/<name>.py``, send its probe, check the reply, stop it."""
    text, expected = PROBES[name]
    token = api.add_bot(username=f"{name}_bot")
    user = api.user(token, first_name="Alice")
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(directory / f"{name}.py"),
        env={"BOT_TOKEN": token, "BOT_API_SERVER": api.url, "PATH": "/usr/bin:/bin"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    outcome = Outcome(name, 0.0)
    try:
        await user.send(text)
        outcome.reply = await _first_reply(user, process)
        outcome.seconds = time.perf_counter() - started
        if expected is not None and outcome.reply != expected:
            outcome.error = f"replied {outcome.reply!r}, expected {expected!r}"
    except (RuntimeError, TimeoutError) as exc:
        outcome.error = str(exc) or f"no reply within {REPLY_TIMEOUT:.0f} s"
    finally:
        outcome.stderr = (await _stop(process)).decode(errors="replace")
    if not outcome.error and process.returncode != 0:
        outcome.error = f"exited with code {process.returncode} after Ctrl+C"
    return outcome


async def run_all(directory: Path, names: list[str]) -> list[Outcome]:
    """Run the named examples side by side on one local Bot API server."""
    async with LocalBotAPI() as api:
        return await asyncio.gather(*(run_example(api, directory, name) for name in names))


def main(directory: Path) -> int:
    found = sorted(path.stem for path in directory.glob("*.py"))
    unknown = [name for name in found if name not in PROBES and name not in NEEDS_EXTRA]
    if unknown:
        print(f"FAIL: no probe for {unknown}: add one to PROBES in {__file__}", file=sys.stderr)
        return 1
    for name in found:
        if name in NEEDS_EXTRA:
            print(f"skip {name}: needs botsessions[{NEEDS_EXTRA[name]}]")
    outcomes = asyncio.run(run_all(directory, [name for name in found if name in PROBES]))
    failed = [o for o in outcomes if o.error]
    for o in outcomes:
        if o.error:
            print(f"FAIL {o.name}: {o.error}\n{o.stderr.strip()[-3000:]}", file=sys.stderr)
        else:
            print(f"ok   {o.name}: {o.reply!r} {o.seconds:.1f} s after start")
    if failed:
        print(f"{len(failed)} of {len(outcomes)} examples failed", file=sys.stderr)
        return 1
    print(f"all {len(outcomes)} examples replied and stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES))
