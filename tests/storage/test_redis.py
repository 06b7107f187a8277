"""RedisStorage specifics: stored bytes, round trips, expiry, errors, faults, lifecycle.

The behaviour every storage shares is covered by the conformance suite.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
import redis.asyncio as aioredis

from botsessions._errors import CorruptDataError, LockTimeoutError, StorageError
from botsessions.storage import RedisStorage
from tests.services import RedisServer, free_port
from tests.storage._hostile import NOT_FINITE, assert_unencodable_keys_refused, nested
from tests.storage._redis_util import lock_key, queue_key, untyped


async def _commands(server: aioredis.Redis) -> dict[str, int]:
    stats = await server.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if not name.startswith(("cmdstat_config", "cmdstat_info"))
    }


class TestRedisStorage:
    async def test_values_are_stored_as_compact_json_under_prefix_plus_key(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        enhanced = {"__d": {"count": 1, "name": "Zoë"}, "v": 2, "e": 1700000000000}
        async with RedisStorage(redis_url, prefix=f"{unique_name}:") as storage:
            await storage.write("-100123", enhanced)
        # Exactly JSON.stringify's output, as @grammyjs/storage-redis writes and reads it.
        expected = '{"__d":{"count":1,"name":"Zoë"},"v":2,"e":1700000000000}'.encode()
        assert await redis_client.get(f"{unique_name}:-100123") == expected

    async def test_json_written_by_another_client_is_read(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        await redis_client.set(f"{unique_name}42", '{"__d": {"count": 7}, "v": 1}')
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            assert await storage.read("42") == {"__d": {"count": 7}, "v": 1}

    async def test_integers_beyond_64_bits_are_stored_as_exact_json_numbers(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        value = {"big": 2**70, "small": -(2**63) - 1, "f": 0.5}
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            await storage.write("k", value)
            stored = await redis_client.get(f"{unique_name}k")
            assert stored == b'{"big":1180591620717411303424,"small":-9223372036854775809,"f":0.5}'
            assert await storage.read("k") == value
            lease = await storage.acquire("k", read=True)
            assert lease.value == value
            await lease.write({"big": 2**65})
            assert await storage.read("k") == {"big": 2**65}

    async def test_read_is_one_get_and_write_is_one_set(self, private_redis: RedisServer) -> None:
        admin = aioredis.Redis.from_url(private_redis.url)
        async with RedisStorage(private_redis.url, ttl=60) as storage:
            await storage.read("warm-up")  # connects
            await admin.config_resetstat()
            await storage.write("k", {"count": 1})
            assert await storage.read("k") == {"count": 1}
            assert await storage.read("missing") is None
            assert await _commands(admin) == {"set": 1, "get": 2}
        await admin.aclose()

    async def test_ttl_uses_redis_expiry_refreshed_by_each_write(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name, ttl=30) as storage:
            await storage.write("k", 1)
            await redis_client.pexpire(f"{unique_name}k", 5000)
            await storage.write("k", 2)
            assert 5000 < await redis_client.pttl(f"{unique_name}k") <= 30000

    async def test_corrupt_value_raises_naming_the_key_and_stays_in_place(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        await redis_client.set(f"{unique_name}bad", b"{not json")
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            with pytest.raises(CorruptDataError, match="'bad'") as caught:
                await storage.read("bad")
            assert caught.value.key == "bad"
            with pytest.raises(CorruptDataError):
                await storage.acquire("bad", read=True)
            lease = await storage.acquire("bad", read=False)  # the lock was given back
            await lease.release()
        assert await redis_client.get(f"{unique_name}bad") == b"{not json"

    async def test_enumeration_skips_the_lock_and_escapes_glob_characters(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        prefix = f"{unique_name}[*]:"
        await redis_client.set(f"{unique_name}X:other", "1")  # matched by an unescaped pattern
        async with RedisStorage(redis_url, prefix=prefix) as storage:
            await storage.write("a", 1)
            lease = await storage.acquire("b", read=False)
            assert [key async for key in storage.read_all_keys()] == ["a"]
            assert [entry async for entry in storage.read_all_entries()] == [("a", 1)]
            await lease.write(2)
            assert sorted([key async for key in storage.read_all_keys()]) == ["a", "b"]

    async def test_unreachable_server_raises_storage_error_naming_the_key(self) -> None:
        async with RedisStorage(f"redis://127.0.0.1:{free_port()}/0") as storage:
            with pytest.raises(StorageError, match="'k'") as caught:
                await storage.read("k")
        assert caught.value.key == "k"
        assert caught.value.__cause__ is not None

    async def test_a_passed_client_stays_open_and_a_url_client_is_closed(
        self, redis_url: str, redis_client: aioredis.Redis
    ) -> None:
        async with RedisStorage(redis_client) as storage:
            await storage.read("k")
        assert await untyped(redis_client).ping()
        storage = RedisStorage(redis_url)
        await storage.read("k")
        await storage.close()
        await storage.close()
        with pytest.raises(RuntimeError, match=r"^Cannot use RedisStorage after close\(\)$"):
            await storage.read("k")

    def test_bad_arguments_are_refused_when_built(self) -> None:
        with pytest.raises(TypeError, match="redis must be"):
            RedisStorage(6379)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ttl"):
            RedisStorage(ttl=0)
        with pytest.raises(ValueError, match="lock_lease"):
            RedisStorage(lock_lease=-1)

    async def test_values_that_are_not_json_are_refused_before_any_io(self) -> None:
        async with RedisStorage(f"redis://127.0.0.1:{free_port()}/0") as storage:
            with pytest.raises(TypeError, match=r"'k'.*datetime"):
                await storage.write("k", {"when": datetime.now()})

    async def test_a_client_that_decodes_responses_is_refused(self, redis_url: str) -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        with pytest.raises(ValueError, match="decode_responses"):
            RedisStorage(client)
        await client.aclose()

    @pytest.mark.slow
    async def test_a_stopped_server_fails_updates_and_keeps_the_data(
        self, private_redis: RedisServer
    ) -> None:
        admin = aioredis.Redis.from_url(private_redis.url)
        async with RedisStorage(private_redis.url) as storage:
            await storage.write("chat", {"count": 1})
            await admin.save()  # the restarted server loads this snapshot
            await admin.aclose()
            private_redis.stop()
            with pytest.raises(StorageError):
                await storage.read("chat")
            with pytest.raises(StorageError):
                await storage.write("chat", {"count": 99})
            with pytest.raises(StorageError):
                await storage.acquire("chat", read=True)
            private_redis.start()
            assert await storage.read("chat") == {"count": 1}
            lease = await storage.acquire("chat", read=True)
            assert lease.value == {"count": 1}
            await lease.write({"count": 2})
            assert await storage.read("chat") == {"count": 2}


class TestRedisHostileInput:
    """Issue 18: hostile keys, foreign keys under the prefix, values JSON cannot hold."""

    @pytest.mark.parametrize("kind", ["lock", "wait"])
    async def test_a_session_named_like_lock_bookkeeping_cannot_block_another_session(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis, kind: str
    ) -> None:
        async with (
            RedisStorage(redis_url, prefix=unique_name, lock_wait=2) as storage,
            RedisStorage(redis_url, prefix=unique_name, lock_wait=2) as other,
        ):
            # Keys that user text can produce, named as the lock's keys were before.
            await storage.write(f"botsessions.{kind}:42", {"from": "user"})
            await storage.write("42", {"count": 1})
            holder = await storage.acquire("42", read=True)
            waiter = asyncio.create_task(other.acquire("42", read=True))
            for _ in range(1000):
                if await untyped(redis_client).llen(queue_key(unique_name, "42")):
                    break
                await asyncio.sleep(0.002)
            await holder.write({"count": 2})
            second = await waiter
            assert second.value == {"count": 2}
            await second.write({"count": 3})
            assert await storage.read(f"botsessions.{kind}:42") == {"from": "user"}
            assert await storage.read("42") == {"count": 3}
            assert sorted([k async for k in storage.read_all_keys()]) == [
                "42",
                f"botsessions.{kind}:42",
            ]

    async def test_the_lock_keys_sit_outside_every_session_key(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            lease = await storage.acquire("42", read=False)
            assert await redis_client.exists(lock_key(unique_name, "42"))
            with pytest.raises(UnicodeDecodeError):
                lock_key(unique_name, "42").decode()  # no str key can name it
            assert [k async for k in storage.read_all_keys()] == []
            await lease.write(1)
        assert await redis_client.get(f"{unique_name}42") == b"1"  # the value stays put

    async def test_names_that_are_not_text_or_not_strings_are_skipped_by_every_listing(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        await redis_client.set(unique_name.encode() + b"\xfe\xfebinary", b"1")
        await untyped(redis_client).hset(f"{unique_name}hash", "field", "1")
        await untyped(redis_client).rpush(f"{unique_name}list", "1")
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            await storage.write("a", 1)
            assert [k async for k in storage.read_all_keys()] == ["a"]
            assert [v async for v in storage.read_all_values()] == [1]
            assert [e async for e in storage.read_all_entries()] == [("a", 1)]

    async def test_keys_that_are_not_valid_unicode_are_refused_naming_the_key(
        self, redis_url: str, unique_name: str
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            await assert_unencodable_keys_refused(storage, locking=True)
            assert [k async for k in storage.read_all_keys()] == []

    @pytest.mark.parametrize("value", NOT_FINITE)
    async def test_nan_and_infinity_are_refused_naming_the_key(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis, value: object
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            with pytest.raises(TypeError, match=r"'k'.*(nan|inf)"):
                await storage.write("k", value)
            lease = await storage.acquire("k", read=True)
            with pytest.raises(TypeError, match=r"'k'.*(nan|inf)"):
                await lease.write(value)
            await lease.write({"ok": True})  # a refused value left the lease held
        assert await redis_client.get(f"{unique_name}k") == b'{"ok":true}'

    @pytest.mark.parametrize("extra", ["", ', "big": 123456789012345678901234'])
    async def test_nan_and_infinity_tokens_in_stored_json_are_corrupt_data(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis, extra: str
    ) -> None:
        await redis_client.set(f"{unique_name}k", '{"x": NaN' + extra + "}")
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            with pytest.raises(CorruptDataError, match="'k'"):
                await storage.read("k")

    async def test_nesting_up_to_254_containers_is_stored_and_deeper_is_refused(
        self, redis_url: str, unique_name: str
    ) -> None:
        cyclic: dict[str, object] = {}
        cyclic["self"] = cyclic
        async with RedisStorage(redis_url, prefix=unique_name) as storage:
            await storage.write("k", nested(254))
            assert await storage.read("k") == nested(254)
            for value in (nested(255), nested(999), cyclic, {"big": 2**70, "deep": nested(300)}):
                with pytest.raises(TypeError, match=r"'k'.*nests more than 254"):
                    await storage.write("k", value)
            assert await storage.read("k") == nested(254)


class TestRedisDurations:
    """Issue 18 row 11: every duration option takes inf; the lease must stay finite."""

    async def test_inf_ttl_keeps_sessions_forever(
        self, redis_url: str, unique_name: str, redis_client: aioredis.Redis
    ) -> None:
        async with RedisStorage(redis_url, prefix=unique_name, ttl=float("inf")) as storage:
            await storage.write("k", 1)
            lease = await storage.acquire("k", read=True)
            await lease.write(2)
        assert await redis_client.pttl(f"{unique_name}k") == -1  # no expiry

    @pytest.mark.parametrize("wait", [None, float("inf"), timedelta(days=10**5)])
    async def test_an_unbounded_lock_wait_waits_for_the_holder(
        self, redis_url: str, unique_name: str, wait: float | timedelta | None
    ) -> None:
        async with (
            RedisStorage(redis_url, prefix=unique_name) as storage,
            RedisStorage(redis_url, prefix=unique_name, lock_wait=wait) as patient,
        ):
            holder = await storage.acquire("k", read=True)
            waiter = asyncio.create_task(patient.acquire("k", read=True))
            done, _ = await asyncio.wait({waiter}, timeout=0.05)
            assert not done
            await holder.write(1)
            lease = await waiter
            assert lease.value == 1
            await lease.release()

    @pytest.mark.parametrize("lease", [None, float("inf"), 10**400])
    def test_an_endless_lease_is_refused_when_built(self, lease: float | None) -> None:
        with pytest.raises(ValueError, match=r"lock_lease must be a finite number.*crashed"):
            RedisStorage(lock_lease=lease)  # type: ignore[arg-type]

    def test_durations_redis_cannot_hold_are_refused_when_built(self) -> None:
        with pytest.raises(ValueError, match="ttl"):
            RedisStorage(ttl=1e17)
        with pytest.raises(ValueError, match="lock_lease"):
            RedisStorage(lock_lease=1e16)
        with pytest.raises(TypeError, match="lock_wait"):
            RedisStorage(lock_wait="10")  # type: ignore[arg-type]

    async def test_a_short_lock_wait_still_times_out(
        self, redis_url: str, unique_name: str
    ) -> None:
        async with (
            RedisStorage(redis_url, prefix=unique_name) as storage,
            RedisStorage(redis_url, prefix=unique_name, lock_wait=timedelta(seconds=0.1)) as quick,
        ):
            holder = await storage.acquire("k", read=False)
            with pytest.raises(LockTimeoutError):
                await quick.acquire("k", read=False)
            await holder.release()
