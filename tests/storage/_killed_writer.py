"""Writer scripts for the crash tests: run one in a child process, SIGKILL it mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

# The child skips botsessions/__init__ (and the bot layer it imports): it needs the storage only.
LEAN_IMPORT = """
import importlib.util, sys, types
package = types.ModuleType("botsessions")
package.__path__ = importlib.util.find_spec("botsessions").submodule_search_locations
sys.modules["botsessions"] = package
"""


def kill_writer_after(script: str, *args: str, rounds: int) -> int:
    """Run ``script`` (which prints each finished round), SIGKILL it once it reported
    ``rounds`` rounds; return the last round it reported."""
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE)
    assert child.stdout is not None
    done = -1
    for _ in range(rounds):
        done = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    return done
