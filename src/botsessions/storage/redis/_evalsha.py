"""How the lock's Lua scripts are sent: ``EVALSHA sha numkeys keys... args...``, all bytes.

``Script.__call__`` of redis-py costs, per call, argument tuples, a ``Pipeline`` check, the
``evalsha`` wrapper and ``execute_command``, which packs every argument through the encoder
and records observability metrics. The lock sends two scripts per update, with 8 to 12
arguments each, so that packing is a good part of its client time.

Two paths, chosen once per storage:

- direct (the fast path; bench ``W2-redis``/``W2u-redis``, round trips per update): for a
  plain ``redis.asyncio.Redis`` with a connection pool (redis-py 5.3 or later), the command
  is packed here in one join (its head is built once per script) and goes through the
  client's own pool, connection and ``Retry``: ``get_connection``, ``send_packed_command``,
  ``read_response``, on a retryable error ``disconnect`` and try again, as
  ``execute_command`` does. It leaves out only redis-py's own operation metrics, and
  applies the socket timeout to the send itself (see ``_round_trip``).
- generic: ``execute_command("EVALSHA", ...)``, for a ``RedisCluster`` (which routes by
  the keys and loads scripts on every primary), a subclass (it may override
  ``execute_command``), a single-connection client and older redis-py.

Either way a ``NOSCRIPT`` reply (a server that does not know the script yet, or no longer,
after a restart or ``SCRIPT FLUSH``) loads the script and repeats the call once, as
redis-py's ``Script`` does.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.connection import AbstractConnection

__all__ = ["LuaScript"]

_EVALSHA = "EVALSHA"


def _direct_path_supported(client: Redis | RedisCluster) -> bool:
    import redis
    from redis.asyncio import Redis

    major, minor = (int(part) for part in redis.__version__.split(".")[:2])
    return (
        type(client) is Redis
        and not client.single_connection_client
        and (major, minor) >= (5, 3)  # get_connection() without a command name
    )


class LuaScript:
    """One Lua script taking ``numkeys`` keys; ``await script(*keys, *args)`` runs it."""

    __slots__ = ("_client", "_direct", "_head", "_missing", "_numkeys", "sha", "text")

    def __init__(self, client: Redis | RedisCluster, text: str, *, numkeys: int) -> None:
        from redis.exceptions import NoScriptError  # redis-py is imported by now

        self._client = client
        self._missing = NoScriptError
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest().encode()
        self._numkeys = str(numkeys).encode()
        self._direct = _direct_path_supported(client)
        # Everything after the array length: the command, the sha and numkeys.
        self._head = b"".join(_bulk(part) for part in (b"EVALSHA", self.sha, self._numkeys))

    async def __call__(self, *keys_and_args: bytes) -> Any:
        if self._direct:
            packed = b"".join(
                [b"*%d\r\n" % (len(keys_and_args) + 3), self._head]
                + [b"$%d\r\n%s\r\n" % (len(part), part) for part in keys_and_args]
            )
            try:
                return await self._send(packed)
            except self._missing:
                await self._client.script_load(self.text)
                return await self._send(packed)
        client = self._client
        try:
            return await client.execute_command(_EVALSHA, self.sha, self._numkeys, *keys_and_args)
        except self._missing:
            await client.script_load(self.text)
            return await client.execute_command(_EVALSHA, self.sha, self._numkeys, *keys_and_args)

    async def _send(self, packed: bytes) -> Any:
        pool = self._client.connection_pool  # type: ignore[union-attr]  # direct: a Redis
        conn = await pool.get_connection()
        try:
            return await conn.retry.call_with_retry(
                lambda: _round_trip(conn, packed), lambda error: conn.disconnect()
            )
        finally:
            await pool.release(conn)


_NEVER_WAITS = 16 * 1024
"""Bytes a send may have and still never wait: asyncio's stream transports buffer up to
64 KiB beyond what the socket takes before their writer's ``drain()`` waits (the default
high-water mark), and a connection out of the pool has nothing left unsent (the server read
each earlier command before it replied)."""


async def _round_trip(conn: AbstractConnection, packed: bytes) -> Any:
    timeout = conn.socket_timeout
    if not timeout:
        await conn.send_packed_command(packed)
        return await conn.read_response()
    # Fast path of the send: with a socket timeout (redis-py's default is 5 s), redis-py
    # writes under asyncio.wait_for, which on Python 3.11 runs the write in a task of its
    # own: two more turns of the event loop per command. Here a send that cannot wait
    # (``_NEVER_WAITS``) goes without a timer, a larger one under asyncio.timeout (a timer,
    # no turn); the reply is read under the socket timeout as before. It saves about 12 µs
    # per call against a 58 µs GET: a locked update that leaves its session unchanged went
    # from about 2.36 GET round trips to 1.94 (python -m bench, Redis phase), a kept write
    # in a burst from about 130 to 90 µs (python -m bench.burst_profile).
    # The connection is this call's alone (checked out of the pool); it connects and checks
    # its health under its own timeouts first, and gets its timeout back before the read.
    if not conn.is_connected:  # a retry after a dropped connection
        await conn.connect()  # type: ignore[no-untyped-call]
    await conn.check_health()  # type: ignore[no-untyped-call]
    conn.socket_timeout = None
    try:
        if len(packed) <= _NEVER_WAITS:
            await conn.send_packed_command(packed, check_health=False)
        else:
            async with asyncio.timeout(timeout):
                await conn.send_packed_command(packed, check_health=False)  # cancelled: dropped
    except TimeoutError:
        raise _write_timeout() from None
    finally:
        if conn.socket_timeout is None:  # unless redis-py relaxed it meanwhile
            conn.socket_timeout = timeout
    return await conn.read_response()


def _write_timeout() -> Exception:
    """What redis-py raises when a write does not finish within the socket timeout."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return RedisTimeoutError("Timeout writing to socket")


def _bulk(part: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(part), part)
