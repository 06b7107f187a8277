"""Subprocess helpers of the aiogram FSM tests: bot processes and the form example."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from botsessions.testing.bot_api import ChatUser, LocalBotAPI

ROOT = Path(__file__).resolve().parents[2]


async def run_bot_processes(backend: str, target: str, name: str) -> None:
    """Four worker processes, 250 updates each of one chat; fails on any worker error."""
    argv = ["--backend", backend, "--target", target, "--name", name, "--updates", "250"]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integrations._fsm_worker",
            *argv,
            "--index",
            str(index),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for index in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 120)
            assert line.strip() == b"ready", line
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        for worker in workers:
            out, err = await asyncio.wait_for(worker.communicate(), 240)
            assert worker.returncode == 0, err.decode()[-2000:]
            report = json.loads(out.decode().strip().removeprefix("done "))
            assert report == {"errors": 0, "first_error": None}
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


async def start_form_bot(api: LocalBotAPI, token: str, db: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "BOT_TOKEN": token, "BOT_API_SERVER": api.url, "FORM_DB": str(db)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "aiogram_form.py"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)  # Ctrl+C, as a user stops it
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def ask(user: ChatUser, text: str) -> str | None:
    await user.send(text)
    reply = await user.reply(timeout=60.0)
    answer: str | None = reply.get("text")
    return answer
