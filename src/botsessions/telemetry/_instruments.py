"""The OpenTelemetry side of an instrumented storage: names, instruments, one measurement.

This module imports ``opentelemetry`` at its top, so it is itself imported only when a
storage is instrumented; without the ``[otel]`` extra that import fails with a message
naming the extra.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from botsessions._errors import LeaseLostError

try:
    from opentelemetry import metrics, trace
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a fresh interpreter
    raise ModuleNotFoundError(
        'botsessions.telemetry needs OpenTelemetry: pip install "botsessions[otel]"',
        name="opentelemetry",
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from opentelemetry.util.types import AttributeValue

__all__ = ["Instruments"]

SCOPE = "botsessions"

STORAGE_DURATION = "botsessions.storage.duration"
LOCK_WAIT = "botsessions.lock.wait"
LEASE_LOST = "botsessions.lease.lost"
WRITE_SKIPPED = "botsessions.session.write_skipped"

ATTR_STORAGE = "botsessions.storage"
ATTR_OPERATION = "botsessions.operation"
ATTR_PREFIX = "botsessions.prefix"
ATTR_KEY = "botsessions.session.key"
ATTR_ERROR = "error.type"

# Seconds: a Redis round trip on one host is well under a millisecond, a lock wait can
# last as long as a slow handler.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Attributes = dict[str, "AttributeValue"]


class Instruments:
    """The meter instruments and the tracer of one instrumented storage.

    Attributes are computed once per (operation, prefix) and reused: the storage class,
    the operation and, when ``prefixes`` were given, the first of them that the key
    starts with. The key itself goes only on spans, and only with ``record_keys``.
    """

    __slots__ = (
        "_attributes",
        "_duration",
        "_lease_lost",
        "_lock_wait",
        "_prefixes",
        "_record_keys",
        "_storage",
        "_tracer",
        "_write_skipped",
    )

    def __init__(
        self,
        *,
        storage: str,
        prefixes: tuple[str, ...],
        record_keys: bool,
        meter_provider: MeterProvider | None,
        tracer_provider: TracerProvider | None,
    ) -> None:
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        self._duration = meter.create_histogram(
            STORAGE_DURATION,
            unit="s",
            description="Duration of storage calls made for sessions, per operation",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )
        self._lock_wait = meter.create_histogram(
            LOCK_WAIT,
            unit="s",
            description="Time spent taking a session's storage lock (acquire)",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )
        self._lease_lost = meter.create_counter(
            LEASE_LOST,
            unit="{lease}",
            description="Session writes refused because the lock's lease was lost",
        )
        self._write_skipped = meter.create_counter(
            WRITE_SKIPPED,
            unit="{update}",
            description="Updates that read their session and did not need to write it",
        )
        self._storage = storage
        # Longest first, so "chat:admin:" wins over "chat:".
        self._prefixes = tuple(sorted(prefixes, key=len, reverse=True))
        self._record_keys = record_keys
        self._attributes: dict[tuple[str | None, str | None], Attributes] = {}

    def attributes(self, operation: str | None, key: str | None) -> Attributes:
        """The metric attributes of ``operation`` on ``key`` (never the key itself)."""
        prefix = None
        if key is not None:
            prefix = next((p for p in self._prefixes if key.startswith(p)), None)
        found = self._attributes.get((operation, prefix))
        if found is None:
            found = {ATTR_STORAGE: self._storage}
            if operation is not None:
                found[ATTR_OPERATION] = operation
            if prefix is not None:
                found[ATTR_PREFIX] = prefix
            self._attributes[(operation, prefix)] = found
        return found

    @contextlib.contextmanager
    def measure(
        self, operation: str, key: str | None, span: str | None = None, *, lock: bool = False
    ) -> Iterator[None]:
        """Time the storage call in the block, in a span named ``span`` when given.

        A failure is recorded with its ``error.type``; a ``LeaseLostError`` also counts as
        a lost lease. ``lock`` records the time in the lock-wait histogram too.
        """
        attributes = self.attributes(operation, key)
        start = time.perf_counter()
        try:
            if span is None:
                yield
            else:
                on_span = attributes
                if self._record_keys and key is not None:
                    on_span = {**attributes, ATTR_KEY: key}
                with self._tracer.start_as_current_span(span, attributes=on_span):
                    yield
        except BaseException as exc:
            if isinstance(exc, LeaseLostError):
                self._lease_lost.add(1, attributes)
            failed = {**attributes, ATTR_ERROR: type(exc).__qualname__}
            self._record(time.perf_counter() - start, failed, lock=lock)
            raise
        self._record(time.perf_counter() - start, attributes, lock=lock)

    def _record(self, seconds: float, attributes: Attributes, *, lock: bool) -> None:
        self._duration.record(seconds, attributes)
        if lock:
            self._lock_wait.record(seconds, attributes)

    def write_skipped(self, key: str) -> None:
        """Count an update that read the session of ``key`` and did not write it."""
        self._write_skipped.add(1, self.attributes(None, key))
