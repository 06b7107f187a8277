"""Running the real ``botsessions`` command in a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass

from botsessions._cli._urls import ENVIRONMENT


@dataclass
class Result:
    """What one run of the command did."""

    code: int
    out: str
    err: str


def command(*args: str) -> list[str]:
    """The argv of ``python -m botsessions ARGS``."""
    return [sys.executable, "-m", "botsessions", *args]


def environment(storage: str | None = None) -> dict[str, str]:
    """The test's environment, with ``BOTSESSIONS_STORAGE`` set or removed."""
    env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT}
    if storage is not None:
        env[ENVIRONMENT] = storage
    return env


async def cli(*args: str, storage: str | None = None, stdin: bytes | None = None) -> Result:
    """Run ``botsessions ARGS`` (stdout and stderr captured, so no progress bar)."""
    proc = await asyncio.create_subprocess_exec(
        *command(*args),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(storage),
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())
