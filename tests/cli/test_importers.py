"""``botsessions import aiogram-fsm|ptb-pickle`` on data the frameworks wrote themselves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage as AiogramRedisStorage
from telegram.ext import PicklePersistence

from botsessions.integrations._aiogram_fsm import FSMStorage
from botsessions.storage import SQLiteStorage
from tests.cli._run import cli

BOT_ID = 4242


@pytest.fixture
async def redis_names(redis_url: str, unique_name: str) -> AsyncIterator[str]:
    """A key prefix of the shared Redis, emptied afterwards."""
    yield unique_name
    client = aioredis.Redis.from_url(redis_url)
    names = [name async for name in client.scan_iter(match=f"{unique_name}*", count=1000)]
    if names:
        await client.delete(*names)
    await client.aclose()


class TestAiogramFSM:
    @pytest.mark.parametrize("with_bot_id", [False, True], ids=["default", "with-bot-id"])
    async def test_fsm_records_arrive_where_fsm_storage_reads_them(
        self, redis_url: str, redis_names: str, tmp_path: Path, with_bot_id: bool
    ) -> None:
        builder = DefaultKeyBuilder(prefix=redis_names, with_bot_id=with_bot_id)
        aiogram = AiogramRedisStorage.from_url(redis_url, key_builder=builder)
        keys = [StorageKey(bot_id=BOT_ID, chat_id=chat, user_id=chat + 1) for chat in range(1, 41)]
        for number, key in enumerate(keys):
            if number % 3 != 2:
                await aiogram.set_state(key, f"Form:step{number}")
            if number % 3 != 1:
                await aiogram.set_data(key, {"n": number, "big": 2**70, "name": "Zoë"})
        await aiogram.close()

        db = tmp_path / "fsm.db"
        result = await cli(
            "import", "aiogram-fsm", "--from", redis_url, "--fsm-prefix", redis_names,
            "--storage", f"sqlite://{db}", "--json",
        )  # fmt: skip
        assert result.code == 0, result.err
        assert json.loads(result.out)["imported"] == len(keys)

        async with SQLiteStorage(db) as store:
            fsm = FSMStorage(store, key_builder=builder)
            for number, key in enumerate(keys):
                state = f"Form:step{number}" if number % 3 != 2 else None
                data = {"n": number, "big": 2**70, "name": "Zoë"} if number % 3 != 1 else {}
                assert await fsm.get_state(key) == state
                assert await fsm.get_data(key) == data

    async def test_a_foreign_value_is_reported(
        self, redis_url: str, redis_names: str, tmp_path: Path
    ) -> None:
        client = aioredis.Redis.from_url(redis_url)
        await client.set(f"{redis_names}:1:1:data", b"[1, 2]")
        await client.aclose()
        result = await cli(
            "import", "aiogram-fsm", "--from", redis_url, "--fsm-prefix", redis_names,
            "--storage", f"sqlite://{tmp_path / 'x.db'}",
        )  # fmt: skip
        assert result.code == 1
        assert f"{redis_names}:1:1" in result.err


class TestPTBPickle:
    async def persistence(self, path: Path, *, single_file: bool) -> None:
        persistence = PicklePersistence(path, single_file=single_file)
        await persistence.get_chat_data()
        await persistence.get_user_data()
        await persistence.get_bot_data()
        await persistence.get_conversations("signup")
        await persistence.update_chat_data(7, {"count": 3, "big": 2**80})
        await persistence.update_chat_data(-1001, {"title": "Группа"})
        await persistence.update_user_data(9, {"language": "en"})
        await persistence.update_bot_data({"users": 2})
        await persistence.update_conversation("signup", (7, 9), 1)
        await persistence.flush()

    @pytest.mark.parametrize("single_file", [True, False], ids=["single-file", "per-part"])
    async def test_ptb_data_arrives_under_the_recommended_keys(
        self, tmp_path: Path, single_file: bool
    ) -> None:
        pickle = tmp_path / "bot.pickle"
        await self.persistence(pickle, single_file=single_file)
        db = tmp_path / "ptb.db"
        result = await cli(
            "import", "ptb-pickle", "--from", str(pickle), "--storage", f"sqlite://{db}"
        )
        assert result.code == 0, result.err
        async with SQLiteStorage(db) as store:
            assert dict([entry async for entry in store.read_all_entries()]) == {
                "7": {"count": 3, "big": 2**80},
                "-1001": {"title": "Группа"},
                "user:9": {"language": "en"},
                "bot": {"users": 2},
                "conversation:signup:7:9": {"state": 1},
            }

    async def test_prefixes_can_be_chosen(self, tmp_path: Path) -> None:
        pickle = tmp_path / "bot.pickle"
        await self.persistence(pickle, single_file=True)
        db = tmp_path / "ptb.db"
        result = await cli(
            "import", "ptb-pickle", "--from", str(pickle), "--storage", f"sqlite://{db}",
            "--chat-prefix", "chat:", "--user-prefix", "u:", "--bot-key", "global",
        )  # fmt: skip
        assert result.code == 0, result.err
        async with SQLiteStorage(db) as store:
            assert await store.read("chat:7") == {"count": 3, "big": 2**80}
            assert await store.read("u:9") == {"language": "en"}
            assert await store.read("global") == {"users": 2}

    async def test_a_value_that_is_not_json_is_reported_and_nothing_written(
        self, tmp_path: Path
    ) -> None:
        pickle = tmp_path / "bot.pickle"
        persistence = PicklePersistence(pickle)
        await persistence.get_chat_data()
        await persistence.update_chat_data(1, {"ok": 1})
        await persistence.update_chat_data(2, {"when": {1, 2}})
        await persistence.flush()
        db = tmp_path / "ptb.db"
        result = await cli(
            "import", "ptb-pickle", "--from", str(pickle), "--storage", f"sqlite://{db}"
        )
        assert result.code == 1
        assert "'2'" in result.err
        assert "set" in result.err
        async with SQLiteStorage(db) as store:
            assert await store.read("1") is None

    async def test_a_missing_file_is_reported(self, tmp_path: Path) -> None:
        result = await cli(
            "import", "ptb-pickle", "--from", str(tmp_path / "nope"), "--storage", "memory:"
        )
        assert result.code == 1
        assert "no PicklePersistence data" in result.err
