"""InstrumentedStorage: a storage wrapper that reports every session call to OpenTelemetry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from botsessions.storage._locking import SessionLease
from botsessions.storage._wrapper import StorageWrapper, WrappedLease

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from botsessions.telemetry._instruments import Instruments

__all__ = ["InstrumentedStorage", "TelemetryOptions", "instrument"]

LOAD = "botsessions.session.load"
SAVE = "botsessions.session.save"
DELETE = "botsessions.session.delete"
LOCK = "botsessions.session.lock"


class TelemetryOptions(TypedDict, total=False):
    """The keyword options of ``instrument()`` (see there)."""

    meter_provider: MeterProvider | None
    tracer_provider: TracerProvider | None
    name: str | None
    prefixes: Iterable[str]
    record_keys: bool


def instrument(storage: Any, **options: Unpack[TelemetryOptions]) -> InstrumentedStorage:
    """Wrap ``storage`` so that its session calls produce OpenTelemetry metrics and spans.

    Pass the result where the storage went: ``session(initial=..., storage=instrument(
    RedisStorage(...)))``. The wrapper keeps the storage's lock and lease handoff, so
    nothing changes for the sessions; only the numbers appear. See
    ``botsessions.telemetry`` for the metric and span names.

    Args:
        storage: any ``StorageAdapter``, sync or async (an ``enhance_storage()`` too).
        meter_provider: where metrics go; default: OpenTelemetry's global provider.
        tracer_provider: where spans go; default: OpenTelemetry's global provider.
        name: the ``botsessions.storage`` attribute; default: the class name of
            ``storage`` (``"RedisStorage"``).
        prefixes: key prefixes to report as the ``botsessions.prefix`` attribute (the
            longest one a key starts with); other keys carry no prefix attribute.
        record_keys: put each session key on its spans (``botsessions.session.key``).
            Off by default: keys are chat and user ids. Keys never go on metrics.

    Raises:
        ModuleNotFoundError: OpenTelemetry is not installed
            (``pip install "botsessions[otel]"``).
        TypeError: ``storage`` lacks ``read``, ``write`` or ``delete``.
    """
    return InstrumentedStorage(storage, **options)


class InstrumentedStorage(StorageWrapper):
    """The storage ``instrument()`` returns: every call timed, loads and saves traced.

    ``read``, ``write``, ``delete`` and ``has`` are timed per operation; over a locking
    storage so are ``acquire`` (also the lock wait) and the lease's ``write``,
    ``delete`` and ``release``. Enumeration (``read_all_*``) is forwarded untimed: it
    streams, so its duration is the consumer's as much as the storage's.

    ``session_observer`` is this storage itself: the session engine reports to it the
    updates that read their session and did not write it (``write_skipped``).
    """

    __slots__ = ("_telemetry", "session_observer")

    def __init__(
        self,
        storage: Any,
        *,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        name: str | None = None,
        prefixes: Iterable[str] = (),
        record_keys: bool = False,
    ) -> None:
        super().__init__(storage)
        from botsessions.telemetry._instruments import Instruments  # needs the [otel] extra

        if isinstance(prefixes, str):
            raise TypeError(f"prefixes must be a collection of strings, got {prefixes!r}")
        self._telemetry: Instruments = Instruments(
            storage=type(storage).__name__ if name is None else name,
            prefixes=tuple(prefixes),
            record_keys=record_keys,
            meter_provider=meter_provider,
            tracer_provider=tracer_provider,
        )
        self.session_observer = self

    async def read(self, key: str) -> Any:
        """Read ``key`` (span ``botsessions.session.load``)."""
        with self._telemetry.measure("read", key, LOAD):
            return await super().read(key)

    async def write(self, key: str, value: Any) -> None:
        """Write ``key`` (span ``botsessions.session.save``)."""
        with self._telemetry.measure("write", key, SAVE):
            await super().write(key, value)

    async def delete(self, key: str) -> None:
        """Delete ``key`` (span ``botsessions.session.delete``)."""
        with self._telemetry.measure("delete", key, DELETE):
            await super().delete(key)

    async def has(self, key: str) -> bool:
        """Whether ``key`` is stored (timed, no span)."""
        with self._telemetry.measure("has", key):
            return await super().has(key)

    async def open_lease(self, key: str, *, read: bool) -> SessionLease:
        """Take the wrapped storage's lease: timed as ``acquire`` and as the lock wait,
        in a ``botsessions.session.load`` span (``botsessions.session.lock`` when the
        value is not read)."""
        with self._telemetry.measure("acquire", key, LOAD if read else LOCK, lock=True):
            return await super().open_lease(key, read=read)

    async def wrap_lease(self, key: str, lease: SessionLease) -> SessionLease:
        """An ``InstrumentedLease``, which times how the lease ends."""
        value = None if lease.value is None else self.transform_out(key, lease.value)
        return InstrumentedLease(self, key, lease, value)

    def write_skipped(self, key: str) -> None:
        """Count an update that read the session of ``key`` and wrote nothing (called by
        the session engine)."""
        self._telemetry.write_skipped(key)


class InstrumentedLease(WrappedLease):
    """The lease of an instrumented storage: its write, delete and release are timed; a
    write or delete refused with ``LeaseLostError`` counts as a lost lease."""

    __slots__ = ()

    owner: InstrumentedStorage

    async def write(self, value: Any, *, keep: bool = False) -> None:
        """Write under the lease (span ``botsessions.session.save``)."""
        with self.owner._telemetry.measure("lease.write", self.key, SAVE):
            await super().write(value, keep=keep)

    async def delete(self, *, keep: bool = False) -> None:
        """Delete under the lease (span ``botsessions.session.delete``)."""
        with self.owner._telemetry.measure("lease.delete", self.key, DELETE):
            await super().delete(keep=keep)

    async def release(self) -> None:
        """Release the lease (timed, no span)."""
        with self.owner._telemetry.measure("lease.release", self.key):
            await super().release()
