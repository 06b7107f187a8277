"""A small HTTP/1.1 client on asyncio streams, with h11 speaking the protocol.

The Bot API needs little of HTTP: ``POST`` a body, read the whole answer. This client
does that over a pool of keep-alive connections per origin (scheme, host, port), and
nothing else: no redirects, no cookies, no proxies, no compression. It exists because a
full client stack costs more at import than the rest of a bot (``aiohttp``'s client loads
some 300 modules and builds two TLS contexts at import; ``bench/startup.py`` measures
process start to first reply against grammY).

Connections:

- one request at a time per connection; concurrent requests open more connections, and
  at most ``_MAX_IDLE_PER_ORIGIN`` stay open when idle;
- a connection goes back to the pool only when request and response were both complete
  and the server did not ask to close it; one that failed, timed out, was cancelled or
  left a response half-read is closed, never reused;
- an idle connection is dropped after ``_KEEPALIVE_EXPIRY`` seconds, or when the server
  has closed it meanwhile;
- the server may still close an idle connection just as a request is sent on it. Bot API
  calls are POSTs, so a request is sent again only when the failure could not have
  reached the server's handler: the connection was reused, and it broke while writing the
  request or before the first byte of the response arrived. That retry happens once, on
  a new connection.

TLS is used for ``https`` only; its context (``ssl.create_default_context()``, which reads
the system's CA certificates) is made on the first ``https`` connection and shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

import h11

from botsessions.bot._errors import TransportError

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "HTTPClient", "Origin", "Response"]

_READ_CHUNK = 64 * 1024
_KEEPALIVE_EXPIRY = 15.0  # seconds; servers drop idle connections, often silently
_MAX_IDLE_PER_ORIGIN = 8
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
"""Largest response body read (bytes); a Bot API answer is far smaller."""

_tls_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    global _tls_context
    if _tls_context is None:
        _tls_context = ssl.create_default_context()
    return _tls_context


Origin = tuple[str, str, int]
"""Where connections go: scheme (``"http"`` or ``"https"``), host, port."""


def _authority(origin: Origin) -> str:
    """The ``Host`` header: the host, and the port unless it is the scheme's default."""
    scheme, host, port = origin
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response: its status code and whole body."""

    status: int
    body: bytes


class _Connection:
    """One open connection and the h11 state of the exchange on it."""

    __slots__ = ("aborted", "h11", "idle_since", "reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)
        self.reused = False
        self.aborted = False  # closed by this side, e.g. by HTTPClient.close() mid-request
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Whether this idle connection may carry another request."""
        return (
            now - self.idle_since < _KEEPALIVE_EXPIRY
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        """Close the connection at once (a TLS connection without its closing handshake)."""
        self.aborted = True
        with contextlib.suppress(RuntimeError):  # its event loop is already closed
            self.writer.transport.abort()

    async def closed(self) -> None:
        """Wait until the socket of a closed connection is released."""
        with contextlib.suppress(OSError, RuntimeError):  # the error that ended it
            await self.writer.wait_closed()


class _StaleConnection(Exception):
    """A reused connection broke before any of the response arrived: safe to send again."""


class HTTPClient:
    """Keep-alive HTTP/1.1 connections, pooled per origin; closed by ``close()``.

    Args:
        max_response_size: the largest response body accepted, in bytes.

    Connections belong to the event loop that opened them: used from another loop, the
    client drops the old ones and opens new ones.
    """

    def __init__(self, *, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE) -> None:
        self._max_response_size = max_response_size
        self._idle: dict[Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(
        self,
        origin: Origin,
        target: str,
        body: bytes,
        *,
        content_type: str,
        timeout: float,  # noqa: ASYNC109 (a deadline per request, not per client)
        connect_timeout: float,
    ) -> Response:
        """``POST body`` to ``target`` on ``origin``; the whole response.

        ``timeout`` bounds the whole exchange, connecting included; connecting alone
        gets at most ``connect_timeout``.

        Raises:
            TimeoutError: no complete answer within ``timeout`` (or no connection within
                ``connect_timeout``).
            TransportError: the connection failed or the server broke the protocol.
        """
        self._adopt_loop()
        headers = [
            ("Host", _authority(origin)),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Accept", "application/json"),
        ]
        request = h11.Request(method="POST", target=target, headers=headers)
        async with asyncio.timeout(timeout):
            connection = self._idle_connection(origin)
            if connection is not None:
                try:
                    return await self._exchange(connection, origin, request, body)
                except _StaleConnection:
                    pass  # the server closed it while idle: one more try, on a new connection
            connection = await self._connect(origin, connect_timeout)
            return await self._exchange(connection, origin, request, body)

    async def close(self) -> None:
        """Close every connection, idle or in use (idempotent).

        A request still in flight fails with ``TransportError``.
        """
        connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            connection.close()
        if self._loop is asyncio.get_running_loop():
            for connection in connections:
                await connection.closed()

    def _adopt_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                for idle in self._idle.values():
                    for connection in idle:
                        connection.close()
                self._idle.clear()
                self._busy.clear()
            self._loop = loop

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.usable(now):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, connect_timeout: float) -> _Connection:
        scheme, host, port = origin
        tls = _tls() if scheme == "https" else None
        try:
            async with asyncio.timeout(connect_timeout) as connecting:
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, limit=_READ_CHUNK
                )
        except TimeoutError as exc:
            if connecting.expired():
                raise TransportError(f"no connection within {connect_timeout:g} s") from exc
            raise
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise TransportError(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, origin: Origin, request: h11.Request, body: bytes
    ) -> Response:
        """One request and its response on ``connection``, which is pooled or closed after."""
        self._busy.add(connection)
        try:
            response = await self._send_and_read(connection, request, body)
        except BaseException:  # cancelled and timed out included: the answer may be half-read
            self._busy.discard(connection)
            connection.close()
            raise
        self._busy.discard(connection)
        self._release(connection, origin)
        return response

    async def _send_and_read(
        self, connection: _Connection, request: h11.Request, body: bytes
    ) -> Response:
        protocol = connection.h11
        try:
            head = protocol.send(request) or b""
            content = protocol.send(h11.Data(data=body)) or b""
            connection.writer.writelines((head, content, protocol.send(h11.EndOfMessage()) or b""))
            await connection.writer.drain()
            first = await connection.reader.read(_READ_CHUNK)
        except ConnectionError as exc:
            if connection.reused and not connection.aborted:
                raise _StaleConnection(str(exc)) from exc
            raise TransportError(str(exc) or type(exc).__name__) from exc
        except OSError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from exc
        if not first:
            if connection.aborted:
                raise TransportError("the client was closed during the request")
            if connection.reused:
                raise _StaleConnection("the server closed the idle connection")
            raise TransportError("the server closed the connection without answering")
        try:
            return await self._read_response(protocol, connection.reader, first)
        except (OSError, h11.ProtocolError) as exc:
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"the answer broke off: {detail}") from exc

    async def _read_response(
        self, protocol: h11.Connection, reader: asyncio.StreamReader, first: bytes
    ) -> Response:
        status = 0
        body = bytearray()
        protocol.receive_data(first)
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                # b"" at the end of the stream tells h11 so (it ends a body read to close)
                protocol.receive_data(await reader.read(_READ_CHUNK))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self._max_response_size:
                    raise TransportError(
                        f"the answer is larger than {self._max_response_size} bytes"
                    )
            elif isinstance(event, h11.EndOfMessage):
                return Response(status, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                raise TransportError("the server closed the connection mid-answer")
            # h11.InformationalResponse (100 Continue): wait for the real one

    def _release(self, connection: _Connection, origin: Origin) -> None:
        protocol = connection.h11
        if protocol.our_state is not h11.DONE or protocol.their_state is not h11.DONE:
            connection.close()  # the server asked to close, or the exchange is unfinished
            return
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= _MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        protocol.start_next_cycle()
        connection.reused = True
        connection.idle_since = time.monotonic()
        idle.append(connection)
