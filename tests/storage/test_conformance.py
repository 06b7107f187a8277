"""The conformance suite over every built-in storage, and over a plain sync adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from botsessions._errors import StorageError
from botsessions.storage import (
    FileStorage,
    MemorySessionStorage,
    MySQLStorage,
    PostgresStorage,
    RedisStorage,
    SQLiteStorage,
    StorageWrapper,
)
from botsessions.testing.conformance import StorageConformance, StorageFactory
from botsessions.testing.recording import RecordingStorage
from tests.services import free_port
from tests.storage import _cluster


class TestMemorySessionStorage(StorageConformance):
    ttl_clock = "time"

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return lambda ttl=None: MemorySessionStorage(ttl=ttl)


class TestSQLiteStorage(StorageConformance):
    ttl_clock = "time"
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        def make(*, ttl: float | None = None, namespace: str = "sessions") -> SQLiteStorage:
            return SQLiteStorage(tmp_path / "sessions.db", table=namespace, ttl=ttl)

        return make

    @pytest.fixture
    def make_broken_storage(self, tmp_path: Path) -> StorageFactory:
        return lambda: SQLiteStorage(tmp_path)  # a directory is not a database file


class TestFileStorage(StorageConformance):
    ttl_clock = "time"
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        def make(*, ttl: float | None = None, namespace: str = "sessions") -> FileStorage:
            return FileStorage(tmp_path / namespace, ttl=ttl, fsync=False)

        return make

    @pytest.fixture
    def make_broken_storage(self, tmp_path: Path) -> StorageFactory:
        not_a_directory = tmp_path / "file"
        not_a_directory.write_text("")
        return lambda: FileStorage(not_a_directory)


def _placeholder(cls: type) -> bool:
    return not callable(getattr(cls, "read", None))


class TestRedisStorage(StorageConformance):
    ttl_clock = "server"
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, redis_url: str, unique_name: str) -> Iterator[StorageFactory]:
        if _placeholder(RedisStorage):
            pytest.skip("RedisStorage is still a placeholder in botsessions/storage/redis.py")

        def make(*, ttl: float | None = None, namespace: str = "main") -> Any:
            return RedisStorage(redis_url, prefix=f"{unique_name}:{namespace}:", ttl=ttl)

        yield make
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            for name in client.scan_iter(match=f"{unique_name}:*", count=1000):
                client.delete(name)
        finally:
            client.close()

    @pytest.fixture
    def make_broken_storage(self) -> StorageFactory:
        return lambda: RedisStorage(f"redis://127.0.0.1:{free_port()}/0")


class TestPostgresStorage(StorageConformance):
    ttl_clock = "time"
    nul_in_strings = False  # jsonb cannot hold U+0000
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, postgres_dsn: str, unique_name: str) -> Iterator[StorageFactory]:
        if _placeholder(PostgresStorage):
            pytest.skip("PostgresStorage is still a placeholder in botsessions/storage/postgres.py")
        tables: set[str] = set()

        def make(*, ttl: float | None = None, namespace: str = "main") -> Any:
            tables.add(f"{unique_name}_{namespace}")
            storage_class: Any = PostgresStorage
            return storage_class(postgres_dsn, table=f"{unique_name}_{namespace}", ttl=ttl)

        yield make
        _drop_tables(postgres_dsn, tables)

    @pytest.fixture
    def make_broken_storage(self) -> StorageFactory:
        if _placeholder(PostgresStorage):
            pytest.skip("PostgresStorage is still a placeholder in botsessions/storage/postgres.py")
        storage_class: Any = PostgresStorage
        return lambda: storage_class(f"postgresql://postgres@127.0.0.1:{free_port()}/test")


def _drop_tables(dsn: str, tables: set[str]) -> None:
    """Drop the tables this test created (and only those), with their lock functions."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            for table in tables:
                await connection.execute(f'DROP TABLE IF EXISTS "{table}"')
                for name in ("acquire", "save", "remove"):
                    await connection.execute(f'DROP FUNCTION IF EXISTS "{table}__{name}"')
        finally:
            await connection.close()

    if tables:
        asyncio.run(drop())


class DictStorage:
    """The smallest sync adapter: the suite must work with plain methods too."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def read(self, key: str) -> Any:
        import json

        return json.loads(self.data[key]) if key in self.data else None

    def write(self, key: str, value: Any) -> None:
        import json

        self.data[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def read_all_keys(self) -> list[str]:
        return list(self.data)


class TestSyncAdapter(StorageConformance):
    refuses_unstorable = False  # a plain json.dumps adapter keeps NaN and any key

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return DictStorage


class TestStorageWrapper(StorageConformance):
    """A wrapper that changes nothing behaves exactly like what it wraps."""

    ttl_clock = "time"

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        return lambda ttl=None: StorageWrapper(MemorySessionStorage(ttl=ttl))


class TestRecordingStorage(StorageConformance):
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, tmp_path: Path) -> StorageFactory:
        def make(*, namespace: str = "sessions") -> RecordingStorage:
            return RecordingStorage(SQLiteStorage(tmp_path / "sessions.db", table=namespace))

        return make

    @pytest.fixture
    def make_broken_storage(self, tmp_path: Path) -> StorageFactory:
        return lambda: RecordingStorage(SQLiteStorage(tmp_path))


redis_cluster = _cluster.redis_cluster  # the shared cluster fixture


class TestRedisClusterStorage(StorageConformance):
    """RedisStorage on a three-primary cluster (``tests/storage/_cluster.py``)."""

    ttl_clock = "server"
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, redis_cluster: Any, unique_name: str) -> Iterator[StorageFactory]:
        def make(*, ttl: float | None = None, namespace: str = "main") -> Any:
            return RedisStorage(redis_cluster.url, prefix=f"{unique_name}:{namespace}:", ttl=ttl)

        yield make
        import redis

        client = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
        try:
            for name in client.scan_iter(match=f"{unique_name}:*", count=1000):
                client.delete(name)
        finally:
            client.close()

    @pytest.fixture
    def make_broken_storage(self) -> StorageFactory:
        return lambda: RedisStorage(f"redis+cluster://127.0.0.1:{free_port()}")


class TestMySQLStorage(StorageConformance):
    """MySQLStorage on the MariaDB / MySQL server of ``tests/storage/_mysql.py``."""

    ttl_clock = "time"
    supports_namespaces = True
    error_type = StorageError

    @pytest.fixture
    def make_storage(self, unique_name: str) -> Iterator[StorageFactory]:
        from tests.storage._mysql import dropped, mysql_url

        url = mysql_url()
        with dropped(url, set()) as tables:

            def make(*, ttl: float | None = None, namespace: str = "main") -> Any:
                tables.add(f"{unique_name}_{namespace}")
                return MySQLStorage(url, table=f"{unique_name}_{namespace}", ttl=ttl)

            yield make

    @pytest.fixture
    def make_broken_storage(self) -> StorageFactory:
        return lambda: MySQLStorage(f"mysql://root@127.0.0.1:{free_port()}/test")
