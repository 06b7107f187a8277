"""One bot process of the cross-process FSM test (started by ``test_aiogram_fsm.py``).

    python -m tests.integrations._fsm_worker --backend redis --target URL --name PREFIX
        --updates 250 --index 0

Builds an aiogram ``Dispatcher`` with ``FSMStorage`` and ``SessionIsolation`` over one
botsessions storage, handles one warm-up update of a chat of its own, prints ``ready``
and waits for a line on stdin. Then it feeds ``--updates`` updates of the shared chat
concurrently through ``dp.feed_raw_update`` (no network: the handler never calls the
Bot API), each running the read, await 1 ms, write handler, and prints
``done {"errors": N, "first_error": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from botsessions.integrations._aiogram_fsm import FSMStorage, SessionIsolation
from botsessions.storage import PostgresStorage, RedisStorage

SHARED_CHAT = 4242
LOCK_WAIT = 120.0  # the test checks the count, not the lock timeout


def make_storage(backend: str, target: str, name: str) -> Any:
    if backend == "redis":
        return RedisStorage(target, prefix=f"{name}:", lock_wait=LOCK_WAIT)
    if backend == "postgres":
        return PostgresStorage(target, table=name, lock_wait=LOCK_WAIT, max_size=4)
    raise ValueError(f"unknown backend {backend!r}")


def make_dispatcher(storage: Any) -> Dispatcher:
    dp = Dispatcher(storage=FSMStorage(storage), events_isolation=SessionIsolation(storage))

    @dp.message()
    async def count(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await asyncio.sleep(0.001)
        await state.update_data(n=data.get("n", 0) + 1)

    return dp


def update(update_id: int, chat_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "User"},
            "text": "count",
        },
    }


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.integrations._fsm_worker")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--updates", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    args = parser.parse_args(argv)
    storage = make_storage(args.backend, args.target, args.name)
    bot = Bot("42:TEST")
    try:
        dp = make_dispatcher(storage)
        await dp.feed_raw_update(bot, update(1, 9000 + args.index))  # connect, load scripts
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        first = 100 + args.index * args.updates
        results = await asyncio.gather(
            *(dp.feed_raw_update(bot, update(first + i, SHARED_CHAT)) for i in range(args.updates)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        report = {"errors": len(errors), "first_error": repr(errors[0]) if errors else None}
        print("done " + json.dumps(report), flush=True)
    finally:
        await bot.session.close()
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
