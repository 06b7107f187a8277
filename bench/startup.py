"""Startup: what a bot pays before it answers its first message.

Three measurements, each run side by side with its peers in one invocation, every run in
a fresh process, runs of different systems interleaved and one discarded warm-up run each
(so a cold disk cache hurts nobody):

- import cost: ``import botsessions`` against ``import telegram.ext`` and ``import aiogram``,
  timed inside the child around the import statement (interpreter start excluded for all
  three), with the number of modules it loaded and the child's peak RSS;
- process start to first reply: ``examples/counter.py`` against grammY's counter bot
  (``bench/peers/counter.cjs``), both polling one ``LocalBotAPI`` started once here. The
  clock starts before the process is spawned; a user's message is queued at once and the
  clock stops when the reply arrives (interpreter start included for both);
- the demo's time to its first line (``python -m botsessions demo --storage memory``, its
  output a pipe), after which its input is closed and it exits.

Run alone: ``python -m bench --only startup``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from bench._common import Json, summary
from bench._runner import BENCH_DIR, NODE_DIR, PEERS_DIR, Progress
from botsessions.testing import ChatUser, LocalBotAPI

ROOT = BENCH_DIR.parent
IMPORTS = {
    "botsessions": "botsessions",
    "python-telegram-bot": "telegram.ext",
    "aiogram": "aiogram",
}
COUNTER_REPLY = "Messages in this chat: 1"
REPLY_TIMEOUT = 120.0
STEPS = 3

# Runs in the child: time one import, count the modules it loaded, report the peak RSS.
# VmHWM, not getrusage(): Linux carries ru_maxrss over from the parent across exec.
_IMPORT_PROBE = """
import importlib, json, sys, time
before = len(sys.modules)
started = time.perf_counter()
importlib.import_module(sys.argv[1])
seconds = time.perf_counter() - started
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({
    "seconds": seconds,
    "modules": len(sys.modules) - before,
    "max_rss_mb": peak_kb / 1024,
}))
"""


class StartupFailed(RuntimeError):
    """One startup measurement could not be taken; the message says why."""


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "BOT_API_SERVER")}
    return {**env, "BOTSESSIONS_BENCH_NODE_DIR": str(NODE_DIR), **extra}


def _run_label(run: int, runs: int) -> str:
    return "warm-up" if run == 0 else f"run {run}/{runs}"


def import_once(module: str) -> Json:
    """Import ``module`` in a fresh interpreter; its seconds, modules loaded and peak RSS."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, module],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StartupFailed(f"import {module} failed: {last}")
    result: Json = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_imports(runs: int, progress: Progress) -> tuple[Json, Json]:
    """Rows per system for ``import <module>``, and the systems that could not be measured."""
    samples: dict[str, list[Json]] = {name: [] for name in IMPORTS}
    failures: Json = {}
    for run in range(runs + 1):  # run 0 is the warm-up
        for name, module in IMPORTS.items():
            if name in failures:
                continue
            progress.show(f"startup: import {module} ({_run_label(run, runs)})")
            try:
                sample = import_once(module)
            except StartupFailed as exc:
                failures[name] = str(exc)
                continue
            if run:
                samples[name].append(sample)
    rows: Json = {}
    for name, found in samples.items():
        if found:
            rows[name] = {
                "label": f"import {IMPORTS[name]}",
                "seconds": summary([s["seconds"] for s in found]),
                "modules": max(s["modules"] for s in found),
                "max_rss_mb": summary([s["max_rss_mb"] for s in found]),
            }
    return rows, failures


def counter_commands() -> dict[str, list[str]]:
    """The two counter bots, as argv lists."""
    return {
        "botsessions": [sys.executable, str(ROOT / "examples" / "counter.py")],
        "grammY": ["node", str(PEERS_DIR / "counter.cjs")],
    }


def _tail(errors: IO[bytes]) -> str:
    """The end of what a child wrote to its stderr file."""
    errors.seek(0)
    return errors.read().decode(errors="replace")[-1500:]


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _first_reply(user: ChatUser, process: asyncio.subprocess.Process) -> str:
    answer = asyncio.ensure_future(user.reply(timeout=REPLY_TIMEOUT))
    exited = asyncio.ensure_future(process.wait())
    await asyncio.wait((answer, exited), return_when=asyncio.FIRST_COMPLETED)
    exited.cancel()
    if not answer.done():
        answer.cancel()
        raise StartupFailed(f"the bot exited with code {process.returncode} before replying")
    return str(answer.result()["text"])


async def first_reply_once(api: LocalBotAPI, argv: Sequence[str], username: str) -> float:
    """Seconds from spawning ``argv`` (a counter bot) to its first reply to a new user."""
    token = api.add_bot(username=username)
    user = api.user(token, first_name="Alice")
    env = _environment(BOT_TOKEN=token, BOT_API_SERVER=api.url)
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=errors
        )
        try:
            await user.send("hello")
            text = await _first_reply(user, process)
            seconds = time.perf_counter() - started
        except (StartupFailed, TimeoutError) as exc:
            await _stop(process)
            why = str(exc) or f"no reply within {REPLY_TIMEOUT:.0f} s"
            raise StartupFailed(f"{' '.join(argv)}: {why}\n{_tail(errors)}") from exc
        await _stop(process)
    if text != COUNTER_REPLY:
        raise StartupFailed(f"{' '.join(argv)} replied {text!r}, expected {COUNTER_REPLY!r}")
    return seconds


async def measure_first_replies(
    runs: int, progress: Progress, commands: Mapping[str, Sequence[str]] | None = None
) -> tuple[Json, Json]:
    """Rows per counter bot for process start -> first reply, and the failures."""
    commands = counter_commands() if commands is None else commands
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    failures: Json = {}
    async with LocalBotAPI() as api:
        for run in range(runs + 1):  # run 0 is the warm-up
            for name, argv in commands.items():
                if name in failures:
                    continue
                progress.show(f"startup: {name} counter, first reply ({_run_label(run, runs)})")
                username = f"{name.lower().replace('+', '_')}_{run}_bot"
                try:
                    took = await first_reply_once(api, argv, username)
                except StartupFailed as exc:
                    failures[name] = str(exc)
                    continue
                if run:
                    seconds[name].append(took)
    rows: Json = {
        name: {"label": " ".join(Path(a).name for a in commands[name]), "seconds": summary(s)}
        for name, s in seconds.items()
        if s
    }
    return rows, failures


async def demo_once() -> Json:
    """Seconds from spawning the demo to its first line of output, and that line."""
    with tempfile.TemporaryDirectory() as workdir, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "botsessions", "demo", "--storage", "memory"),
            cwd=workdir,
            env=_environment(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
        if process.stdout is None or process.stdin is None:  # pragma: no cover - both PIPE
            raise StartupFailed("demo pipes missing")
        try:
            raw = await asyncio.wait_for(process.stdout.readline(), timeout=REPLY_TIMEOUT)
            seconds = time.perf_counter() - started
        except TimeoutError:
            raw = b""
        if not raw:
            await _stop(process)
            raise StartupFailed(
                f"demo: no line printed (exit code {process.returncode})\n{_tail(errors)}"
            )
        process.stdin.close()  # end of input: the demo says goodbye and exits
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.stdout.read(), timeout=30)
        await _stop(process)
    return {"first_line": raw.decode(errors="replace").rstrip("\n"), "first_line_s": seconds}


async def measure_demo(runs: int, progress: Progress) -> tuple[Json, Json]:
    """The demo's row (its first line and the time to it), or why it could not start."""
    samples: list[Json] = []
    for run in range(runs + 1):  # run 0 is the warm-up
        progress.show(f"startup: demo, first line ({_run_label(run, runs)})")
        try:
            sample = await demo_once()
        except StartupFailed as exc:
            return {}, {"demo": str(exc)}
        if run:
            samples.append(sample)
    return {
        "first_line": samples[-1]["first_line"],
        "first_line_s": summary([s["first_line_s"] for s in samples]),
    }, {}


def run(runs: int, progress: Progress) -> Json:
    """All three startup measurements, ``runs`` timed runs each (plus one warm-up)."""
    imports, import_failures = measure_imports(runs, progress)
    progress.step()
    replies, reply_failures = asyncio.run(measure_first_replies(runs, progress))
    progress.step()
    demo, demo_failures = asyncio.run(measure_demo(runs, progress))
    progress.step()
    return {
        "runs": runs,
        "imports": imports,
        "first_reply": replies,
        "demo": demo,
        "failures": {**import_failures, **reply_failures, **demo_failures},
    }
