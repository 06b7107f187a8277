"""The storage conformance suite: one pytest class any storage adapter can run.

Subclass ``StorageConformance`` in a test module (the name must start with ``Test``) and
provide a ``make_storage`` fixture that returns a factory of fresh, empty storages::

    class TestMyStorage(StorageConformance):
        ttl_clock = "time"            # expiry decided by time.time() (None: no ttl support)
        supports_namespaces = True    # storages made with different namespaces are separate

        @pytest.fixture
        def make_storage(self, tmp_path):
            def make(*, ttl=None, namespace="main"):
                return MyStorage(tmp_path / namespace, ttl=ttl)
            return make

The factory may return the storage or an awaitable of it, and it is called inside the event
loop of each test, so clients bound to a loop are fine. Storages with a ``close()`` method
are closed after each test. Adapters may be sync or async, and ``read_all_*`` may return
plain or async iterables; tests of optional methods a storage lacks are skipped.

The tests run their own event loop (``asyncio.run``), so they need no pytest plugin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pytest

from botsessions.testing._conformance_expiry import ExpiryCases
from botsessions.testing._conformance_harness import (
    Body,
    Make,
    StorageFactory,
    await_,
    collect,
    with_storages,
)
from botsessions.testing._conformance_hostile import UnstorableCases
from botsessions.testing._conformance_values import (
    JSON_VALUES,
    KEYS,
    UNSTORABLE_KEYS,
    UNSTORABLE_VALUES,
    assert_same_json,
)

__all__ = [
    "JSON_VALUES",
    "KEYS",
    "UNSTORABLE_KEYS",
    "UNSTORABLE_VALUES",
    "StorageConformance",
    "StorageFactory",
    "assert_same_json",
]


def _kept_or_refused(value: Any, *, kept: bool, refusal: type[BaseException]) -> Body:
    """A test body: ``value`` reads back unchanged, or (when not ``kept``) its write raises
    ``refusal`` and stores nothing."""

    async def body(make: Callable[..., Awaitable[Any]]) -> None:
        storage = await make()
        if not kept:
            with pytest.raises(refusal):
                await await_(storage.write("k", value))
            assert await await_(storage.read("k")) is None
            return
        await await_(storage.write("k", value))
        assert_same_json(await await_(storage.read("k")), value)

    return body


class StorageConformance(ExpiryCases, UnstorableCases):
    """Behaviour every session storage must have. Subclass it and provide ``make_storage``.

    Class attributes describe the storage:

    * ``ttl_clock``: ``"time"`` if expiry is decided by ``time.time()`` in this process (the
      suite moves a fake clock: no waiting), ``"server"`` if the backend expires keys on its
      own (the suite writes with a short ttl and polls until the key is gone), ``None`` if
      the storage has no ttl.
    * ``supports_namespaces``: the factory accepts ``namespace=`` and storages made with
      different namespaces on the same backend never see each other's keys.
    * ``big_ints``: integers beyond 64 bits read back exactly; when ``False`` the storage
      must refuse them with ``TypeError`` at write time instead (never change them).
    * ``nul_in_strings``: strings containing ``"\\x00"`` read back exactly; when ``False``
      writing one must raise (PostgreSQL ``jsonb`` cannot hold it) and store nothing.
    * ``error_type``: what a failing backend must raise (``Exception`` by default).
    * ``refuses_unstorable``: writing NaN, infinity, more than 254 nested containers or a
      cyclic value raises ``TypeError`` naming the key, and a key that is not valid
      Unicode raises ``ValueError`` naming it; nothing is stored (``True`` by default, as
      every built-in storage does; see ``UNSTORABLE_VALUES`` and ``UNSTORABLE_KEYS``).

    Override the ``make_broken_storage`` fixture to return a factory of storages whose
    backend is unreachable; the suite then checks that every method raises ``error_type``.
    """

    supports_namespaces: ClassVar[bool] = False
    big_ints: ClassVar[bool] = True
    nul_in_strings: ClassVar[bool] = True
    error_type: ClassVar[type[BaseException]] = Exception
    concurrency: ClassVar[int] = 50

    @pytest.fixture
    def make_storage(self) -> StorageFactory:
        """Override: return a factory of fresh, empty storages."""
        raise NotImplementedError("define a make_storage fixture returning a storage factory")

    @pytest.fixture
    def make_broken_storage(self) -> StorageFactory | None:
        """Override to return a factory of storages whose backend fails."""
        return None

    # -- basic operations -------------------------------------------------------------------

    @with_storages("make_storage")
    async def test_reading_a_missing_key_returns_none(self, make: Make) -> None:
        storage = await make()
        assert await await_(storage.read("missing")) is None

    @pytest.mark.parametrize("name", list(JSON_VALUES))
    @with_storages("make_storage")
    async def test_every_json_value_reads_back_unchanged(self, make: Make, name: str) -> None:
        value = JSON_VALUES[name]

        storage = await make()
        await await_(storage.write("k", value))
        assert_same_json(await await_(storage.read("k")), value)

    def test_integers_beyond_64_bits_read_back_exactly_or_are_refused(
        self, make_storage: StorageFactory
    ) -> None:
        value = {"huge": 2**100, "negative": -(3**70)}
        self._run(make_storage, _kept_or_refused(value, kept=self.big_ints, refusal=TypeError))

    def test_strings_with_nul_read_back_exactly_or_are_refused(
        self, make_storage: StorageFactory
    ) -> None:
        value = {"s": "a\x00b", "\x00": ["\x00"]}
        # Any loud refusal will do.
        self._run(
            make_storage, _kept_or_refused(value, kept=self.nul_in_strings, refusal=Exception)
        )

    @with_storages("make_storage")
    async def test_unusual_keys_are_kept_apart(self, make: Make) -> None:
        storage = await make()
        for i, key in enumerate(KEYS):
            await await_(storage.write(key, {"i": i}))
        for i, key in enumerate(KEYS):
            assert await await_(storage.read(key)) == {"i": i}, key
        if callable(getattr(storage, "read_all_keys", None)):
            assert sorted(await collect(storage.read_all_keys())) == sorted(KEYS)

    @with_storages("make_storage")
    async def test_writing_again_replaces_the_value(self, make: Make) -> None:
        storage = await make()
        await await_(storage.write("k", {"v": 1, "old": True}))
        await await_(storage.write("k", {"v": 2}))
        assert await await_(storage.read("k")) == {"v": 2}

    @with_storages("make_storage")
    async def test_delete_removes_only_that_key(self, make: Make) -> None:
        storage = await make()
        await await_(storage.write("a", 1))
        await await_(storage.write("b", 2))
        await await_(storage.delete("a"))
        assert await await_(storage.read("a")) is None
        assert await await_(storage.read("b")) == 2

    @with_storages("make_storage")
    async def test_deleting_a_missing_key_is_not_an_error(self, make: Make) -> None:
        storage = await make()
        await await_(storage.delete("never-written"))
        assert await await_(storage.read("never-written")) is None

    @with_storages("make_storage")
    async def test_mutating_values_never_changes_what_is_stored(self, make: Make) -> None:
        storage = await make()
        items, inner = [1], {"a": 1}
        await await_(storage.write("k", {"list": items, "dict": inner}))
        items.append(2)
        inner["b"] = 2
        first = await await_(storage.read("k"))
        first["list"].append(3)
        assert await await_(storage.read("k")) == {"list": [1], "dict": {"a": 1}}

    # -- optional methods --------------------------------------------------------------------

    @with_storages("make_storage")
    async def test_has_tells_stored_from_missing_keys(self, make: Make) -> None:
        storage = await make()
        self._require(storage, "has")
        await await_(storage.write("there", 0))
        assert await await_(storage.has("there")) is True
        assert await await_(storage.has("missing")) is False
        await await_(storage.delete("there"))
        assert await await_(storage.has("there")) is False

    @with_storages("make_storage")
    async def test_read_all_methods_agree_with_read(self, make: Make) -> None:
        storage = await make()
        self._require(storage, "read_all_keys", "read_all_values", "read_all_entries")
        assert await collect(storage.read_all_keys()) == []
        assert await collect(storage.read_all_entries()) == []
        expected: dict[str, Any] = {f"key-{i}": {"n": i} for i in range(1200)}
        expected["zero"] = 0
        for key, value in expected.items():
            await await_(storage.write(key, value))
        await await_(storage.write("deleted", 1))
        await await_(storage.delete("deleted"))
        keys = await collect(storage.read_all_keys())
        assert sorted(keys) == sorted(expected)
        entries = await collect(storage.read_all_entries())
        assert dict(entries) == expected
        assert len(entries) == len(expected)
        values = await collect(storage.read_all_values())
        assert sorted(map(repr, values)) == sorted(map(repr, expected.values()))

    @with_storages("make_storage")
    async def test_namespaces_do_not_see_each_other(self, make: Make) -> None:
        if not self.supports_namespaces:
            pytest.skip("the storage does not declare namespace support")

        one, two = await make(namespace="one"), await make(namespace="two")
        await await_(one.write("k", "one"))
        await await_(two.write("k", "two"))
        await await_(one.write("only-one", 1))
        assert await await_(one.read("k")) == "one"
        assert await await_(two.read("k")) == "two"
        assert await await_(two.read("only-one")) is None
        if callable(getattr(two, "read_all_keys", None)):
            assert sorted(await collect(two.read_all_keys())) == ["k"]
        await await_(two.delete("k"))
        assert await await_(one.read("k")) == "one"

    # -- failures and concurrency ----------------------------------------------------------

    @pytest.mark.parametrize(
        "operation", ["read", "write", "delete", "has", "read_all_keys", "read_all_entries"]
    )
    @with_storages("make_broken_storage")
    async def test_a_failing_backend_raises_instead_of_reporting_missing(
        self, make: Make, make_broken_storage: StorageFactory | None, operation: str
    ) -> None:
        if make_broken_storage is None:
            pytest.skip("no make_broken_storage fixture")
        arguments = {"read": ("k",), "write": ("k", {"v": 1}), "delete": ("k",), "has": ("k",)}

        storage = await make()
        self._require(storage, operation)

        async def attempt() -> None:
            result = getattr(storage, operation)(*arguments.get(operation, ()))
            if operation.startswith("read_all"):
                await collect(await await_(result))
            else:
                await await_(result)

        with pytest.raises(self.error_type):
            await attempt()

    @with_storages("make_storage")
    async def test_concurrent_writes_to_different_keys_all_land(self, make: Make) -> None:
        storage = await make()
        keys = [f"chat-{i}" for i in range(self.concurrency)]
        await asyncio.gather(*(await_(storage.write(k, {"k": k})) for k in keys))
        values = await asyncio.gather(*(await_(storage.read(k)) for k in keys))
        assert values == [{"k": k} for k in keys]
        await asyncio.gather(*(await_(storage.write(k, [k])) for k in keys))
        await asyncio.gather(*(await_(storage.delete(k)) for k in keys[::2]))
        values = await asyncio.gather(*(await_(storage.read(k)) for k in keys))
        assert values == [None if i % 2 == 0 else [k] for i, k in enumerate(keys)]
