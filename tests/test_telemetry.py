"""botsessions.telemetry: metrics and spans of real bots, seen by the SDK's in-memory readers.

Each test gives ``instrument()`` its own meter and tracer providers, so nothing depends on
OpenTelemetry's global state. The checks in a fresh interpreter show that importing the
module costs nothing until a storage is instrumented.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from botsessions import (
    Bot,
    BotError,
    Context,
    LeaseLostError,
    MemorySessionStorage,
    lazy_session,
    session,
)
from botsessions.storage import RedisStorage
from botsessions.telemetry import InstrumentedStorage, instrument
from tests.integrations._updates import message
from tests.storage._redis_util import lock_key, queue_key, untyped

BOT_INFO = {"id": 1, "is_bot": True, "first_name": "Test", "username": "test_bot"}
TOKEN = "123456:TEST-token"
CHAT = 987654321  # distinctive, so that a leaked key is easy to find


@dataclass
class Otel:
    """An SDK meter and tracer provider that keep everything in memory."""

    reader: InMemoryMetricReader
    exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    tracer_provider: TracerProvider

    def instrument(self, storage: Any, **options: Any) -> InstrumentedStorage:
        return instrument(
            storage,
            meter_provider=self.meter_provider,
            tracer_provider=self.tracer_provider,
            **options,
        )

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        found = self.exporter.get_finished_spans()
        return [span for span in found if name is None or span.name == name]

    def points(self) -> list[tuple[str, dict[str, Any], Any]]:
        """Every data point as ``(metric name, attributes, point)``."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            (metric.name, dict(point.attributes or {}), point)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            for point in metric.data.data_points
        ]

    def count(self, name: str, **attributes: str) -> int:
        """Measurements of ``name`` whose attributes include ``attributes`` (dots as ``_``)."""
        wanted = {key.replace("_", "."): value for key, value in attributes.items()}
        total = 0
        for metric, attrs, point in self.points():
            if metric == name and all(attrs.get(k) == v for k, v in wanted.items()):
                total += point.count if isinstance(point, HistogramDataPoint) else point.value
        return total


@pytest.fixture
def otel() -> Iterator[Otel]:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(reader, exporter, meter_provider, tracer_provider)
    meter_provider.shutdown()
    tracer_provider.shutdown()


def counter_bot(storage: Any, *, lazy: bool = False) -> Bot:
    """A bot that counts "count" messages and only reads the session for "peek"."""
    bot = Bot(TOKEN, bot_info=BOT_INFO)
    factory = lazy_session if lazy else session
    bot.use(factory(initial=lambda: {"count": 0}, storage=storage))

    @bot.use
    async def handle(ctx: Context, next: Any) -> None:
        text = ctx.msg.text if ctx.msg is not None else ""
        if text == "count":
            data = await ctx.session if lazy else ctx.session
            data["count"] += 1
            if lazy:
                ctx.session = data
        elif text == "peek":
            _ = await ctx.session if lazy else ctx.session

    return bot


def every_attribute(otel: Otel) -> list[Any]:
    values: list[Any] = []
    for span in otel.spans():
        values.extend((span.attributes or {}).values())
    for _, attrs, _ in otel.points():
        values.extend(attrs.values())
    return values


DURATION = "botsessions.storage.duration"
LOCK_WAIT = "botsessions.lock.wait"
LEASE_LOST = "botsessions.lease.lost"
WRITE_SKIPPED = "botsessions.session.write_skipped"


class TestOnMemory:
    async def test_loads_and_saves_are_traced_and_timed_per_operation(self, otel: Otel) -> None:
        storage = MemorySessionStorage[Any]()
        bot = counter_bot(otel.instrument(storage))
        for update_id in range(3):
            await bot.handle_update(message(update_id, CHAT, text="count"))
        assert storage.read(str(CHAT)) == {"count": 3}
        assert len(otel.spans("botsessions.session.load")) == 3
        assert len(otel.spans("botsessions.session.save")) == 3
        load = otel.spans("botsessions.session.load")[0]
        assert load.attributes == {
            "botsessions.storage": "MemorySessionStorage",
            "botsessions.operation": "read",
        }
        assert otel.count(DURATION, botsessions_operation="read") == 3
        assert otel.count(DURATION, botsessions_operation="write") == 3
        assert otel.count(DURATION, botsessions_storage="MemorySessionStorage") == 6
        assert otel.count(WRITE_SKIPPED) == 0
        assert otel.count(LOCK_WAIT) == 0  # memory has no storage lock

    async def test_an_update_that_reads_and_does_not_write_counts_as_write_skipped(
        self, otel: Otel
    ) -> None:
        storage = MemorySessionStorage[Any]()
        bot = counter_bot(otel.instrument(storage))
        await bot.handle_update(message(1, CHAT, text="count"))
        await bot.handle_update(message(2, CHAT, text="peek"))  # read, unchanged
        await bot.handle_update(message(3, CHAT, text="other"))  # read, never touched
        assert otel.count(WRITE_SKIPPED) == 2
        assert otel.count(DURATION, botsessions_operation="write") == 1
        (point,) = [attrs for name, attrs, _ in otel.points() if name == WRITE_SKIPPED]
        assert point == {"botsessions.storage": "MemorySessionStorage"}

    async def test_a_lazy_session_that_is_never_read_is_no_skipped_write(self, otel: Otel) -> None:
        bot = counter_bot(otel.instrument(MemorySessionStorage[Any]()), lazy=True)
        await bot.handle_update(message(1, CHAT, text="other"))
        assert otel.spans() == []
        assert otel.count(WRITE_SKIPPED) == 0
        await bot.handle_update(message(2, CHAT, text="count"))
        assert otel.count(DURATION, botsessions_operation="write") == 1
        await bot.handle_update(message(3, CHAT, text="peek"))
        assert otel.count(WRITE_SKIPPED) == 1

    async def test_a_multi_session_counts_each_fragment(self, otel: Otel) -> None:
        storage = otel.instrument(MemorySessionStorage[Any]())
        bot = Bot(TOKEN, bot_info=BOT_INFO)
        bot.use(
            session(
                type="multi",
                chat={"initial": lambda: {"n": 0}, "storage": storage, "prefix": "chat:"},
                user={
                    "initial": lambda: {"n": 0},
                    "storage": storage,
                    "prefix": "user:",
                    "get_session_key": lambda ctx: None,  # no key: no storage call
                },
            )
        )

        @bot.use
        async def handle(ctx: Context, next: Any) -> None:
            ctx.session.chat["n"] += 1

        await bot.handle_update(message(1, CHAT))
        assert otel.count(DURATION, botsessions_operation="read") == 1
        assert otel.count(DURATION, botsessions_operation="write") == 1
        assert otel.count(WRITE_SKIPPED) == 0

    async def test_no_key_appears_in_any_attribute_unless_asked(self, otel: Otel) -> None:
        bot = counter_bot(otel.instrument(MemorySessionStorage[Any]()))
        await bot.handle_update(message(1, CHAT, text="count"))
        await bot.handle_update(message(2, CHAT, text="peek"))
        values = every_attribute(otel)
        assert values
        assert not any(str(CHAT) in str(value) for value in values)

    async def test_record_keys_puts_the_key_on_spans_and_never_on_metrics(self, otel: Otel) -> None:
        bot = counter_bot(otel.instrument(MemorySessionStorage[Any](), record_keys=True))
        await bot.handle_update(message(1, CHAT, text="count"))
        spans = otel.spans()
        assert {span.name for span in spans} == {
            "botsessions.session.load",
            "botsessions.session.save",
        }
        keys = [(span.attributes or {}).get("botsessions.session.key") for span in spans]
        assert keys == [str(CHAT), str(CHAT)]
        assert not any(str(CHAT) in str(a) for _, attrs, _ in otel.points() for a in attrs.values())

    async def test_prefixes_are_reported_as_the_longest_that_matches(self, otel: Otel) -> None:
        storage = otel.instrument(
            MemorySessionStorage[Any](), prefixes=["chat:", "chat:admin:"], name="sessions"
        )
        await storage.write("chat:admin:1", {"a": 1})
        await storage.write("chat:2", {"a": 2})
        await storage.write("other", {"a": 3})
        assert otel.count(DURATION, botsessions_prefix="chat:admin:") == 1
        assert otel.count(DURATION, botsessions_prefix="chat:") == 1
        assert otel.count(DURATION, botsessions_storage="sessions") == 3
        unprefixed = [
            a for n, a, _ in otel.points() if n == DURATION and "botsessions.prefix" not in a
        ]
        assert unprefixed == [{"botsessions.storage": "sessions", "botsessions.operation": "write"}]

    async def test_a_failing_call_is_recorded_with_its_error_type(self, otel: Otel) -> None:
        class Broken(MemorySessionStorage[Any]):
            def read(self, key: str) -> Any:
                raise OSError("disk gone")

        bot = counter_bot(otel.instrument(Broken()))
        with pytest.raises(BotError):
            await bot.handle_update(message(1, CHAT, text="count"))
        assert otel.count(DURATION, botsessions_operation="read", error_type="OSError") == 1
        (load,) = otel.spans("botsessions.session.load")
        assert load.status.status_code is StatusCode.ERROR
        assert [event.name for event in load.events] == ["exception"]

    async def test_has_is_timed_without_a_span(self, otel: Otel) -> None:
        storage = otel.instrument(MemorySessionStorage[Any]())
        assert await storage.has("x") is False
        assert otel.count(DURATION, botsessions_operation="has") == 1
        assert otel.spans() == []

    def test_prefixes_must_be_a_collection(self, otel: Otel) -> None:
        with pytest.raises(TypeError, match="prefixes"):
            otel.instrument(MemorySessionStorage[Any](), prefixes="chat:")


@pytest.fixture
async def redis_storage(redis_url: str, unique_name: str) -> AsyncIterator[RedisStorage]:
    async with RedisStorage(redis_url, prefix=unique_name) as storage:
        yield storage


@pytest.fixture
async def redis_admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def queued(client: aioredis.Redis, prefix: str, key: str) -> None:
    """Return once an update waits in line for the Redis lock of ``key``."""
    for _ in range(2000):
        if await untyped(client).llen(queue_key(prefix, key)) >= 1:
            return
        await asyncio.sleep(0.002)
    raise AssertionError("no update queued for the lock")


class TestOnRedis:
    async def test_updates_are_traced_through_the_lease(
        self, otel: Otel, redis_storage: RedisStorage
    ) -> None:
        bot = counter_bot(otel.instrument(redis_storage))
        await bot.handle_update(message(1, CHAT, text="count"))
        await bot.handle_update(message(2, CHAT, text="count"))
        await bot.handle_update(message(3, CHAT, text="peek"))
        assert await redis_storage.read(str(CHAT)) == {"count": 2}
        loads = otel.spans("botsessions.session.load")
        assert len(loads) == 3
        assert loads[0].attributes == {
            "botsessions.storage": "RedisStorage",
            "botsessions.operation": "acquire",
        }
        assert len(otel.spans("botsessions.session.save")) == 2
        assert otel.count(LOCK_WAIT, botsessions_storage="RedisStorage") == 3
        assert otel.count(DURATION, botsessions_operation="acquire") == 3
        assert otel.count(DURATION, botsessions_operation="lease.write") == 2
        assert otel.count(DURATION, botsessions_operation="lease.release") == 1
        assert otel.count(WRITE_SKIPPED, botsessions_storage="RedisStorage") == 1
        assert otel.count(LEASE_LOST) == 0
        assert not any(str(CHAT) in str(value) for value in every_attribute(otel))

    async def test_a_lock_held_elsewhere_is_waited_for_and_timed(
        self,
        otel: Otel,
        redis_url: str,
        unique_name: str,
        redis_storage: RedisStorage,
        redis_admin: aioredis.Redis,
    ) -> None:
        bot = counter_bot(otel.instrument(redis_storage))
        async with RedisStorage(redis_url, prefix=unique_name) as other_process:
            holder = await other_process.acquire(str(CHAT), read=True)
            update = asyncio.create_task(bot.handle_update(message(1, CHAT, text="count")))
            await queued(redis_admin, unique_name, str(CHAT))
            assert not update.done()
            await holder.write({"count": 10})
            await update
        assert await redis_storage.read(str(CHAT)) == {"count": 11}  # read after the holder
        assert otel.count(LOCK_WAIT) == 1
        (wait,) = [p for n, _, p in otel.points() if n == LOCK_WAIT]
        assert isinstance(wait, HistogramDataPoint)
        assert wait.sum > 0

    async def test_a_lost_lease_is_counted_and_the_save_span_fails(
        self,
        otel: Otel,
        unique_name: str,
        redis_storage: RedisStorage,
        redis_admin: aioredis.Redis,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        await redis_storage.write(str(CHAT), {"count": 1})
        bot = Bot(TOKEN, bot_info=BOT_INFO)
        bot.use(session(initial=lambda: {"count": 0}, storage=otel.instrument(redis_storage)))

        @bot.use
        async def handle(ctx: Context, next: Any) -> None:
            ctx.session["count"] += 1
            await redis_admin.delete(lock_key(unique_name, str(CHAT)))  # as if it expired

        with (
            caplog.at_level(logging.WARNING, logger="botsessions.storage"),
            pytest.raises(BotError) as caught,
        ):
            await bot.handle_update(message(1, CHAT))
        assert isinstance(caught.value.error, LeaseLostError)
        assert await redis_storage.read(str(CHAT)) == {"count": 1}
        assert otel.count(LEASE_LOST, botsessions_operation="lease.write") == 1
        assert (
            otel.count(DURATION, botsessions_operation="lease.write", error_type="LeaseLostError")
            == 1
        )
        (save,) = otel.spans("botsessions.session.save")
        assert save.status.status_code is StatusCode.ERROR
        (record,) = [r for r in caplog.records if r.name == "botsessions.storage"]
        assert "lease of a session was lost before the write" in record.getMessage()
        assert str(CHAT) not in record.getMessage()


class TestLogging:
    async def test_a_lock_wait_that_runs_out_is_logged_without_the_key(
        self, redis_url: str, unique_name: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        from botsessions import LockTimeoutError

        async with (
            RedisStorage(redis_url, prefix=unique_name) as holder_side,
            RedisStorage(redis_url, prefix=unique_name, lock_wait=0.05) as impatient,
        ):
            holder = await holder_side.acquire(str(CHAT), read=False)
            with (
                caplog.at_level(logging.WARNING, logger="botsessions.storage"),
                pytest.raises(LockTimeoutError),
            ):
                await impatient.acquire(str(CHAT), read=True)
            await holder.release()
        (record,) = [r for r in caplog.records if r.name == "botsessions.storage"]
        assert record.levelno == logging.WARNING
        assert "RedisStorage" in record.getMessage()
        assert "lock_wait=0.05 s" in record.getMessage()
        assert str(CHAT) not in record.getMessage()


PROBE = """
import sys
{code}
print(sorted({{m.split(".")[0] for m in sys.modules if m.startswith("opentelemetry")}}))
"""


def run_fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestWithoutTheExtra:
    @pytest.mark.parametrize(
        "code",
        [
            "import botsessions",
            "import botsessions.telemetry",
            "from botsessions.telemetry import InstrumentedStorage, instrument",
        ],
    )
    def test_importing_loads_no_opentelemetry(self, code: str) -> None:
        result = run_fresh(code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"

    def test_instrumenting_loads_it(self) -> None:
        code = (
            "from botsessions import MemorySessionStorage\n"
            "from botsessions.telemetry import instrument\n"
            "instrument(MemorySessionStorage())\n"
        )
        result = run_fresh(code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['opentelemetry']"

    def test_instrumenting_without_it_names_the_extra(self) -> None:
        code = (
            "sys.modules['opentelemetry'] = None  # as if it were not installed\n"
            "from botsessions import MemorySessionStorage\n"
            "from botsessions.telemetry import instrument\n"
            "try:\n"
            "    instrument(MemorySessionStorage())\n"
            "except ModuleNotFoundError as exc:\n"
            "    print(exc, exc.name)\n"
        )
        result = run_fresh(code)
        assert result.returncode == 0, result.stderr
        first = result.stdout.splitlines()[0]
        assert first == (
            'botsessions.telemetry needs OpenTelemetry: pip install "botsessions[otel]" '
            "opentelemetry"
        )
