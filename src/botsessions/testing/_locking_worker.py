"""Worker processes of ``LockingConformance``: how they start, and what they run.

    python -m botsessions.testing._locking_worker '<json>'

The JSON names the storage (``factory``, ``options``, ``lease``: see
``LockingStorageSpec``) and what to do (``mode``):

* ``count``: connect, print ``ready``, wait for a line on stdin, then run ``increments``
  concurrent read-modify-write updates of ``key`` under its lock (each taking a local
  ``asyncio.Lock`` first, as the session engine does) and print ``done``.
* ``hold``: lock ``key``, commit ``count + 1`` with ``keep=True``, print ``locked`` and wait
  forever (the suite kills the process while it holds the lock).
* ``take``: lock each of ``keys`` in turn, write ``{"taken": true}`` under the lock, print
  ``taken``.

It imports no pytest, so a worker starts as fast as the storage's own imports allow.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LockingStorageSpec", "build_storage", "expect", "load_factory", "popen", "spawn"]


@dataclass(frozen=True)
class LockingStorageSpec:
    """How to build the storage under test, here and in worker processes.

    ``factory`` is ``"package.module:function"``, importable in a fresh interpreter (the
    workers get this process's ``sys.path``); it is called as
    ``function(lease=None | seconds, **options)``. ``options`` must be JSON-compatible.
    """

    factory: str
    options: Mapping[str, Any] = field(default_factory=dict)


def load_factory(spec: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"`` (``function`` may be dotted).

    Raises:
        ValueError: ``spec`` is not of that form, or names something that is not callable.
        ImportError: the module cannot be imported.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"a storage factory is 'package.module:function', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    return target  # type: ignore[no-any-return]  # checked callable above


async def build_storage(factory: str, options: Mapping[str, Any], lease: float | None) -> Any:
    """Call the factory with ``lease=`` and ``options``; await the result if needed."""
    storage = load_factory(factory)(lease=lease, **options)
    return await storage if inspect.isawaitable(storage) else storage


async def _close(storage: Any) -> None:
    close = getattr(storage, "close", None)
    if callable(close):
        result = close()
        if inspect.isawaitable(result):
            await result


async def _count(storage: Any, key: str, increments: int) -> None:
    local = asyncio.Lock()

    async def update() -> None:
        async with local:
            lease = await storage.acquire(key, read=True)
            try:
                current = (lease.value or {"count": 0})["count"]
                await asyncio.sleep(0)  # the handler awaits something
                await lease.write({"count": current + 1})
            finally:
                await lease.release()

    await asyncio.gather(*(update() for _ in range(increments)))


async def _hold(storage: Any, key: str) -> None:
    lease = await storage.acquire(key, read=True)
    current = (lease.value or {"count": 0})["count"]
    await lease.write({"count": current + 1}, keep=True)
    print("locked", flush=True)
    await asyncio.Event().wait()


async def _take(storage: Any, keys: list[str]) -> None:
    for key in keys:
        lease = await storage.acquire(key, read=True)
        await lease.write({"taken": True})
    print("taken", flush=True)


async def main(config: dict[str, Any]) -> None:
    storage = await build_storage(config["factory"], config["options"], config.get("lease"))
    try:
        mode = config["mode"]
        if mode == "count":
            await storage.read(config["key"])  # connect before the start signal
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            await _count(storage, config["key"], config["increments"])
            print("done", flush=True)
        elif mode == "hold":
            await _hold(storage, config["key"])
        elif mode == "take":
            await _take(storage, config["keys"])
        else:
            raise ValueError(f"unknown mode {mode!r}")
    finally:
        await _close(storage)


# -- starting workers (the suite's side) ------------------------------------------------

_WORKER = "botsessions.testing._locking_worker"


def _worker_config(mode: str, spec: LockingStorageSpec, **params: Any) -> str:
    return json.dumps(
        {"mode": mode, "factory": spec.factory, "options": dict(spec.options), **params}
    )


def _worker_env() -> dict[str, str]:
    # The factory must import in the worker as it does here (pytest puts test roots on
    # sys.path), so the worker gets this process's path.
    path = os.pathsep.join(entry for entry in sys.path if entry)
    return {**os.environ, "PYTHONPATH": path}


async def spawn(mode: str, spec: LockingStorageSpec, **params: Any) -> asyncio.subprocess.Process:
    """Start a worker of ``mode`` for the storage ``spec`` (a ``LockingStorageSpec``)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        _WORKER,
        _worker_config(mode, spec, **params),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_worker_env(),
    )


def popen(mode: str, spec: LockingStorageSpec, **params: Any) -> subprocess.Popen[bytes]:
    """``spawn`` for a caller that blocks on the worker's output on purpose."""
    return subprocess.Popen(
        [sys.executable, "-m", _WORKER, _worker_config(mode, spec, **params)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_worker_env(),
    )


async def expect(worker: asyncio.subprocess.Process, word: str) -> None:
    """Read the worker's next line; fail with its stderr unless it is ``word``."""
    assert worker.stdout is not None
    line = await worker.stdout.readline()
    if line.strip() != word.encode():
        worker.kill()
        _, err = await worker.communicate()
        raise AssertionError(f"worker said {line!r}, expected {word!r}:\n{err.decode()}")


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
