"""Parent side: start child processes (Python or Node), relay their progress, collect JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from bench._common import PROGRESS_PREFIX, Json

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
NODE_DIR = Path(
    os.environ.get(
        "BOTSESSIONS_BENCH_NODE_DIR", Path.home() / ".cache" / "botsessions-bench" / "node"
    )
)


class ChildFailed(RuntimeError):
    """A child process exited with an error; its stderr tail is in the message."""


class Progress:
    """One status line on stderr (rewritten in place on a terminal, plain lines otherwise)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self._last = ""

    def show(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        line = f"[{self.done}/{self.total} {int(elapsed) // 60}:{int(elapsed) % 60:02d}] {text}"
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line[: shutil.get_terminal_size().columns - 1])
        elif line != self._last:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        self._last = line

    def step(self) -> None:
        self.done += 1

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def ensure_node_modules() -> Path:
    """Install the pinned grammY peer (bench/peers/package.json) outside the repository."""
    manifest = PEERS_DIR / "package.json"
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    installed = NODE_DIR / "package.json"
    if (
        not installed.exists()
        or installed.read_text() != manifest.read_text()
        or not (NODE_DIR / "node_modules" / "grammy").exists()
    ):
        shutil.copyfile(manifest, installed)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return NODE_DIR


def run_child(argv: list[str], progress: Progress, cpu: int | None, timeout: float = 900) -> Json:
    """Run one child, pinned to ``cpu`` when given; return the JSON it printed."""
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    env = {**os.environ, "BOTSESSIONS_BENCH_NODE_DIR": str(NODE_DIR), "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        argv,
        cwd=BENCH_DIR.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tail: deque[str] = deque(maxlen=40)
    chunks: list[str] = []
    stdout, stderr = proc.stdout, proc.stderr
    if stdout is None or stderr is None:  # pragma: no cover - both are PIPE above
        raise ChildFailed("child pipes missing")
    reader = threading.Thread(target=lambda: chunks.append(stdout.read()), daemon=True)
    reader.start()
    for line in stderr:
        if line.startswith(PROGRESS_PREFIX):
            progress.show(line[len(PROGRESS_PREFIX) :].rstrip())
        else:
            tail.append(line.rstrip())
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise ChildFailed(f"{' '.join(argv)} timed out") from None
    reader.join()
    if proc.returncode != 0:
        raise ChildFailed(f"{' '.join(argv)} exited with {proc.returncode}:\n" + "\n".join(tail))
    result: Json = json.loads("".join(chunks))
    return result


def python_child(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "bench._child", *args]


def node_child(args: list[str]) -> list[str]:
    return ["node", "--expose-gc", str(PEERS_DIR / "grammy.cjs"), *args]
