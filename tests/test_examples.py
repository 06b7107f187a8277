"""Every example in examples/ runs end to end against the local Bot API server.

Each example is polled over real HTTP: a user sends messages, the test checks the
bot's replies and what the example stored. One more test runs every example as a
script (``python examples/<name>.py``), the way its docstring says to.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis.asyncio import Redis

from botsessions import Bot, MemorySessionStorage
from botsessions.testing.bot_api import ChatUser, LocalBotAPI

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
OWN_EXAMPLES = [
    "complete",
    "counter",
    "custom_redis_adapter",
    "lazy",
    "memory_ttl",
    "migrations",
    "multi",
    "options",
    "persistent",
    "pizza",
    "start",
]


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (examples/ is not a package).

    The module's top level runs, as when the example is started (``counter`` builds its
    bot there, from ``BOT_TOKEN`` and ``BOT_API_SERVER``).
    """
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def stored(storage: Any, key: str) -> Any:
    """What ``storage`` holds under ``key`` (sync and async adapters alike)."""
    value = storage.read(key)
    if inspect.isawaitable(value):
        value = await value
    return value


async def put(storage: Any, key: str, value: Any) -> None:
    """Write ``value`` under ``key`` (sync and async adapters alike)."""
    result = storage.write(key, value)
    if inspect.isawaitable(result):
        await result


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI() as server:
        yield server


@asynccontextmanager
async def polling(bot: Bot) -> AsyncIterator[None]:
    """Run ``bot`` with long polling for the duration of the block.

    Leaving the block waits for the update in progress to finish, sessions saved, so
    assert on storage after the block: a reply arrives before its update has ended.
    """
    task = asyncio.create_task(bot.run_polling())
    try:
        yield
    finally:
        bot.stop()
        await task


async def ask(user: ChatUser, text: str, *, wait: float = 10.0) -> str:
    """Send ``text`` as ``user`` and return the text of the bot's next reply."""
    await user.send(text)
    reply = await user.reply(timeout=wait)
    return str(reply["text"])


async def test_counter_counts_messages_per_chat(
    api: LocalBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = api.add_bot(username="counter_bot")
    monkeypatch.setenv("BOT_TOKEN", token)
    monkeypatch.setenv("BOT_API_SERVER", api.url)
    counter = load_example("counter")  # the quick start: its bot is built on import
    bot, storage = counter.bot, counter.storage
    assert isinstance(storage, MemorySessionStorage)
    alice = api.user(token, first_name="Alice")
    bob = api.user(token, first_name="Bob")

    async with polling(bot):
        assert await ask(alice, "hello") == "Messages in this chat: 1"
        assert await ask(alice, "again") == "Messages in this chat: 2"
        assert await ask(bob, "hi") == "Messages in this chat: 1"

    assert await stored(storage, str(alice.chat_id)) == {"count": 2}
    assert await stored(storage, str(bob.chat_id)) == {"count": 1}


async def test_start_greets_welcomes_back_and_keeps_the_deep_link_source(
    api: LocalBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_API_SERVER", api.url)  # start.py builds Bot(token) alone
    example = load_example("start")
    token = api.add_bot(username="start_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage()
    bot = example.build_bot(token, storage=storage)
    alice = api.user(token, first_name="Alice")
    bob = api.user(token, first_name="Bob")

    async with polling(bot):
        assert await ask(alice, "/start newsletter") == f"Hello, Alice! {example.HELP}"
        assert await ask(alice, "/start") == "Welcome back, Alice! This is your start number 2."
        assert await ask(alice, "/help") == example.HELP
        assert await ask(bob, "/start") == f"Hello, Bob! {example.HELP}"

    assert await stored(storage, str(alice.chat_id)) == {"starts": 2, "source": "newsletter"}
    assert await stored(storage, str(bob.chat_id)) == {"starts": 1, "source": None}


async def check_persistent_counter(api: LocalBotAPI, url: str) -> None:
    """Run examples/persistent.py on the storage ``url`` names, across restarts.

    The caller points ``BOT_API_SERVER`` at ``api``: the example builds ``Bot(token)``.
    """
    example = load_example("persistent")
    token = api.add_bot(username="persistent_bot")
    alice = api.user(token, first_name="Alice")
    key = str(alice.chat_id)
    storage = example.open_storage(url)
    await storage.delete(key)  # a shared server may hold this chat from an earlier run
    await storage.close()
    counted = "Messages in this chat, across restarts"
    for expected in (1, 2):  # a new bot on a new storage object each time: a restart
        storage = example.open_storage(url)
        try:
            async with polling(example.build_bot(token, storage)):
                assert await ask(alice, "hello") == f"{counted}: {expected}"
            assert await stored(storage, key) == {"count": expected}
        finally:
            await storage.close()
    storage = example.open_storage(url)
    try:
        async with polling(example.build_bot(token, storage)):
            assert await ask(alice, "/forget") == "Forgotten: the next message counts from 1."
        assert await stored(storage, key) is None
    finally:
        await storage.close()


async def test_persistent_keeps_sessions_in_sqlite_across_restarts(
    api: LocalBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_API_SERVER", api.url)
    await check_persistent_counter(api, f"sqlite:///{tmp_path / 'bot.db'}")


async def test_persistent_keeps_sessions_in_redis_across_restarts(
    api: LocalBotAPI, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_API_SERVER", api.url)
    await check_persistent_counter(api, redis_url)


async def test_persistent_keeps_sessions_in_postgres_across_restarts(
    api: LocalBotAPI, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_API_SERVER", api.url)
    await check_persistent_counter(api, postgres_dsn)


async def test_persistent_refuses_an_unknown_storage_url() -> None:
    with pytest.raises(SystemExit, match="SESSION_STORAGE='mongodb://x'"):
        load_example("persistent").open_storage("mongodb://x")


async def test_pizza_counts_pizzas_reports_hunger_and_resets(api: LocalBotAPI) -> None:
    example = load_example("pizza")
    token = api.add_bot(username="pizza_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage()
    bot = example.build_bot(token, api_server=api.url, storage=storage)
    alice = api.user(token, first_name="Alice")

    async with polling(bot):
        assert await ask(alice, "/hunger") == "Your hunger level is 0!"
        await alice.send("🍕")
        await alice.send("one more 🍕 please")
        await alice.send("no pizza in this one")
        assert await ask(alice, "/hunger") == "Your hunger level is 2!"
    assert await stored(storage, str(alice.chat_id)) == {"pizza_count": 2}

    async with polling(bot):
        assert await ask(alice, "/reset") == "Hunger forgotten."
    assert await stored(storage, str(alice.chat_id)) is None

    async with polling(bot):
        assert await ask(alice, "/hunger") == "Your hunger level is 0!"


async def test_options_keep_one_prefixed_session_per_user_in_each_chat(api: LocalBotAPI) -> None:
    token = api.add_bot(username="options_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage()
    bot = load_example("options").build_bot(token, api_server=api.url, storage=storage)
    alice = api.user(token, first_name="Alice")
    key = f"user-{alice.id}/{alice.chat_id}"

    async with polling(bot):
        assert await ask(alice, "one") == f"You sent 1 messages here (key {key})."
        assert await ask(alice, "two") == f"You sent 2 messages here (key {key})."

    assert await stored(storage, key) == {"messages": 2}
    assert await stored(storage, str(alice.chat_id)) is None


async def test_multi_keeps_chat_theme_and_user_language_apart(api: LocalBotAPI) -> None:
    token = api.add_bot(username="multi_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage()
    bot = load_example("multi").build_bot(token, api_server=api.url, storage=storage)
    alice = api.user(token, first_name="Alice")

    async with polling(bot):
        assert await ask(alice, "/settings") == "theme=light language=en"
        assert await ask(alice, "/theme dark") == "Theme of this chat: dark"
        assert await ask(alice, "/language de") == "Your language: de"
        assert await ask(alice, "/settings") == "theme=dark language=de"

    assert await stored(storage, f"chat-{alice.chat_id}") == {"theme": "dark"}
    assert await stored(storage, f"user-{alice.id}") == {"language": "de"}


async def test_lazy_reads_storage_only_in_handlers_that_await_the_session(
    api: LocalBotAPI,
) -> None:
    from botsessions.testing.recording import RecordingStorage

    token = api.add_bot(username="lazy_bot")
    storage = RecordingStorage(MemorySessionStorage())
    bot = load_example("lazy").build_bot(token, api_server=api.url, storage=storage)
    alice = api.user(token, first_name="Alice")
    key = str(alice.chat_id)

    async with polling(bot):
        assert await ask(alice, "/help") == "Send /point to score, /score to see your score."
        assert storage.calls == []
        assert await ask(alice, "/point") == "Point! Score: 1"
        assert await ask(alice, "/point") == "Point! Score: 2"
        assert await ask(alice, "/score") == "Score: 2"

    assert await stored(storage, key) == {"score": 2}


async def test_custom_redis_adapter_stores_json_in_redis(
    api: LocalBotAPI, redis_url: str, unique_name: str
) -> None:
    token = api.add_bot(username="redis_bot")
    client = Redis.from_url(redis_url)
    prefix = f"{unique_name}:"
    bot = load_example("custom_redis_adapter").build_bot(
        token, redis=client, api_server=api.url, prefix=prefix
    )
    alice = api.user(token, first_name="Alice")
    key = f"{prefix}{alice.chat_id}"
    try:
        async with polling(bot):
            assert await ask(alice, "hello") == "Messages in this chat: 1"
            assert await ask(alice, "again") == "Messages in this chat: 2"
        raw = await client.get(key)
        assert raw is not None
        assert json.loads(raw) == {"count": 2}
    finally:
        await client.delete(key)
        await client.aclose()


async def test_memory_ttl_remembers_a_note(api: LocalBotAPI) -> None:
    token = api.add_bot(username="notes_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage(ttl=3600)
    bot = load_example("memory_ttl").build_bot(token, api_server=api.url, storage=storage)
    alice = api.user(token, first_name="Alice")

    async with polling(bot):
        assert await ask(alice, "/recall") == "Nothing to recall."
        assert await ask(alice, "/remember buy milk") == "Noted for one hour."
        assert await ask(alice, "/recall") == "Your note: buy milk"

    assert await stored(storage, str(alice.chat_id)) == {"note": "buy milk"}


async def test_migrations_upgrade_legacy_and_old_versions(api: LocalBotAPI) -> None:
    token = api.add_bot(username="colors_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage()
    bot = load_example("migrations").build_bot(token, api_server=api.url, storage=storage)
    legacy = api.user(token, first_name="Legacy")
    version_one = api.user(token, first_name="One")
    fresh = api.user(token, first_name="Fresh")
    await put(storage, str(legacy.chat_id), {"color": "red"})  # written before any migration
    await put(storage, str(version_one.chat_id), {"__d": {"foreground": "white"}, "v": 1})

    async with polling(bot):
        assert await ask(legacy, "/colors") == "red on blue"
        assert await ask(version_one, "/colors") == "white on blue"
        assert await ask(fresh, "/colors") == "black on white"
        assert await ask(legacy, "/foreground green") == "Foreground is now green"

    assert await stored(storage, str(legacy.chat_id)) == {
        "__d": {"foreground": "green", "background": "blue"},
        "v": 2,
    }
    # Only read: the upgraded value is saved with the next change.
    assert await stored(storage, str(version_one.chat_id)) == {
        "__d": {"foreground": "white"},
        "v": 1,
    }


async def test_complete_counts_every_message_and_still_runs_its_commands(
    api: LocalBotAPI,
) -> None:
    token = api.add_bot(username="complete_bot")
    storage: MemorySessionStorage[Any] = MemorySessionStorage()
    bot = load_example("complete").build_bot(token, api_server=api.url, storage=storage)
    alice = api.user(token, first_name="Alice")
    key = str(alice.chat_id)

    async with polling(bot):
        await alice.send("hello")
        assert await ask(alice, "/stats") == "Messages in this chat: 2"
        assert await ask(alice, "/theme dark") == "Theme set to dark"
        assert await ask(alice, "/theme blue") == "Usage: /theme light|dark"
    assert await stored(storage, key) == {"messages": 4, "theme": "dark"}

    async with polling(bot):
        assert await ask(alice, "/reset") == "Session reset."
    assert await stored(storage, key) is None

    async with polling(bot):
        assert await ask(alice, "/stats") == "Messages in this chat: 1"


# What each example answers when it runs as a script: (message, expected reply).
SCRIPT_PROBES = {
    "complete": ("/stats", "Messages in this chat: 1"),
    "counter": ("hello", "Messages in this chat: 1"),
    "custom_redis_adapter": ("hello", "Messages in this chat: 1"),
    "lazy": ("/score", "Score: 0"),
    "memory_ttl": ("/recall", "Nothing to recall."),
    "migrations": ("/colors", "black on white"),
    "multi": ("/settings", "theme=light language=en"),
    "options": ("hello", None),
    "persistent": ("hello", "Messages in this chat, across restarts: 1"),
    "pizza": ("/hunger", "Your hunger level is 0!"),
    "start": ("/start", "Hello, Alice! Send /start to be greeted, /help to see this again."),
}


def test_every_example_has_a_script_probe() -> None:
    # aiogram_*.py and ptb_*.py are the integrations' examples, run by tests/integrations.
    own = {
        path.stem
        for path in EXAMPLES.glob("*.py")
        if not path.stem.startswith(("aiogram_", "ptb_"))
    }
    assert own == set(OWN_EXAMPLES) == set(SCRIPT_PROBES)


async def probe(process: asyncio.subprocess.Process, user: ChatUser, text: str) -> str:
    """Ask the bot run by ``process``; fail at once if the process exits instead."""
    answer = asyncio.ensure_future(ask(user, text, wait=240.0))
    exited = asyncio.ensure_future(process.wait())
    await asyncio.wait((answer, exited), return_when=asyncio.FIRST_COMPLETED)
    exited.cancel()
    if not answer.done():
        answer.cancel()
        raise RuntimeError(f"the example exited with code {process.returncode} before replying")
    return answer.result()


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_every_example_runs_as_a_script_and_stops_on_ctrl_c(
    api: LocalBotAPI, redis_url: str, tmp_path: Path
) -> None:
    # All at once: starting a Python process that imports aiogram takes seconds.
    client = Redis.from_url(redis_url)
    runs: list[tuple[str, asyncio.subprocess.Process, ChatUser]] = []
    redis_key = ""
    for name in OWN_EXAMPLES:
        token = api.add_bot(username=f"{name}_bot")
        user = api.user(token, first_name="Alice")
        if name == "custom_redis_adapter":
            redis_key = f"session:{user.chat_id}"  # the prefix the script uses
            await client.delete(redis_key)
        env = {
            **os.environ,
            "BOT_TOKEN": token,
            "BOT_API_SERVER": api.url,
            "REDIS_URL": redis_url,
            "SESSION_STORAGE": f"sqlite:///{tmp_path / 'persistent.db'}",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / f"{name}.py"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        runs.append((name, process, user))
    try:
        replies = await asyncio.gather(
            *(probe(process, user, SCRIPT_PROBES[name][0]) for name, process, user in runs),
            return_exceptions=True,
        )
    finally:
        for _, process, _ in runs:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
        errors = [
            (await asyncio.wait_for(process.communicate(), timeout=60))[1] for _, process, _ in runs
        ]
        await client.delete(redis_key)  # after exit: the session is saved after the reply
        await client.aclose()
    for (name, process, _), reply, stderr in zip(runs, replies, errors, strict=True):
        expected = SCRIPT_PROBES[name][1]
        assert not isinstance(reply, BaseException), f"{name}: {reply!r}\n{stderr.decode()[-2000:]}"
        assert expected is None or reply == expected, name
        assert process.returncode == 0, f"{name}: {stderr.decode()[-2000:]}"
