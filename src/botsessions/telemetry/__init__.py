"""OpenTelemetry metrics and spans for sessions (the ``[otel]`` extra).

Wrap a storage with ``instrument()`` and use the result as usual::

    from botsessions.telemetry import instrument

    bot.use(session(initial=dict, storage=instrument(RedisStorage(url))))

Importing this module loads no OpenTelemetry package; ``instrument()`` does, and raises
``ModuleNotFoundError`` naming the extra (``pip install "botsessions[otel]"``) when it is
missing. Metrics and spans go to the providers given, else to OpenTelemetry's global ones.

Metrics (attributes: ``botsessions.storage``, the storage class; ``botsessions.operation``;
``botsessions.prefix`` when ``prefixes`` were given; ``error.type`` on failures):

``botsessions.storage.duration`` (histogram, s)
    Every storage call, per operation: ``read``, ``write``, ``delete``, ``has``, and on a
    locking storage ``acquire``, ``lease.write``, ``lease.delete``, ``lease.release``.
``botsessions.lock.wait`` (histogram, s)
    Time in ``acquire``: waiting for a session's lock (and reading it, with the lock).
``botsessions.lease.lost`` (counter)
    Writes or deletes refused with ``LeaseLostError``: the lock's lease expired first.
``botsessions.session.write_skipped`` (counter, no ``botsessions.operation``)
    Updates that read their session and ended without writing it (unchanged, or never
    touched). Counted when the instrumented storage is the one given to ``session()``.

Spans: ``botsessions.session.load`` (``read``, or ``acquire`` with the read),
``botsessions.session.save`` (``write``, ``lease.write``), ``botsessions.session.delete``
and ``botsessions.session.lock`` (``acquire`` without a read), with the metric
attributes; failures are recorded on the span. Session keys, which are chat and user ids,
appear nowhere unless ``record_keys=True``, and then only on spans.
"""

from botsessions.telemetry._storage import InstrumentedLease, InstrumentedStorage, instrument

__all__ = ["InstrumentedLease", "InstrumentedStorage", "instrument"]
