"""Worker processes of ``LockingConformance``: other processes using the same storage.

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
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["build_storage", "load_factory"]


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


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
