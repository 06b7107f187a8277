"""The HTTP/1.1 client under Api: keep-alive, stale connections, bodies, limits, timeouts."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import pytest

from botsessions.bot import Api, NetworkError, _http
from botsessions.bot._errors import TransportError
from botsessions.bot._http import HTTPClient, Origin, Response


@dataclass
class Exchange:
    """One request the server received, and the stream to answer it on."""

    connection: int  # 1 for the first connection the server accepted, ...
    target: str
    headers: dict[str, str]
    body: bytes
    writer: asyncio.StreamWriter


Answer = Callable[[Exchange], Awaitable[bool]]
"""Writes the raw answer to an exchange; returns whether to keep the connection open."""


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{header}\r\n" for header in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


async def answer_ok(exchange: Exchange) -> bool:
    body = b"echo:" + exchange.body
    exchange.writer.write(response(body, f"Content-Length: {len(body)}"))
    return True


class RawServer:
    """An HTTP server on raw streams that answers each request as a test scripts it."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.answer: Answer = answer_ok
        self._tls = tls
        self.exchanges: list[Exchange] = []
        self.connections = 0
        self.closed_by_client = 0
        self.all_closed = asyncio.Event()
        self._open = 0
        self._server: asyncio.Server | None = None
        self.origin: Origin = ("http", "127.0.0.1", 0)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        scheme = "http" if self._tls is None else "https"
        self.origin = (scheme, "127.0.0.1", self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"{self.origin[0]}://127.0.0.1:{self.origin[2]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open += 1
        self.all_closed.clear()
        number = self.connections
        try:
            while True:
                exchange = await self._read_request(number, reader, writer)
                if exchange is None:
                    self.closed_by_client += 1
                    break
                self.exchanges.append(exchange)
                keep = await self.answer(exchange)
                await writer.drain()
                if not keep:
                    break
        except ConnectionError:
            self.closed_by_client += 1
        finally:
            writer.close()
            self._open -= 1
            if not self._open:
                self.all_closed.set()

    async def _read_request(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Exchange | None:
        parser = h11.Connection(our_role=h11.SERVER)  # one per request: nothing is pipelined
        target = ""
        headers: dict[str, str] = {}
        body = b""
        while True:
            event = parser.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                if not data and parser.their_state is h11.IDLE:
                    return None
                parser.receive_data(data)
            elif isinstance(event, h11.Request):
                target = event.target.decode()
                headers = {name.decode(): value.decode() for name, value in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return Exchange(number, target, headers, body, writer)


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    await raw.start()
    yield raw
    await raw.stop()


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    http = HTTPClient()
    yield http
    await http.close()


async def post(client: HTTPClient, server: RawServer, body: bytes = b"hi") -> bytes:
    answer = await client.post(
        server.origin, "/x", body, content_type="text/plain", timeout=10, connect_timeout=10
    )
    assert answer.status == 200
    return answer.body


class TestKeepAlive:
    async def test_sequential_requests_share_one_connection(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        answers = [await post(client, server, f"n{n}".encode()) for n in range(3)]
        assert answers == [b"echo:n0", b"echo:n1", b"echo:n2"]
        assert server.connections == 1

    async def test_concurrent_requests_get_their_own_connections_then_reuse_them(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        both_arrived = asyncio.Event()

        async def wait_for_both(exchange: Exchange) -> bool:
            if len(server.exchanges) == 2:
                both_arrived.set()
            await both_arrived.wait()
            return await answer_ok(exchange)

        server.answer = wait_for_both
        answers = await asyncio.gather(post(client, server, b"a"), post(client, server, b"b"))
        assert list(answers) == [b"echo:a", b"echo:b"]
        server.answer = answer_ok
        await post(client, server, b"c")
        assert server.connections == 2

    async def test_an_answer_with_connection_close_is_not_reused(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def close_after(exchange: Exchange) -> bool:
            exchange.writer.write(response(b"bye", "Content-Length: 3", "Connection: close"))
            return False

        server.answer = close_after
        assert await post(client, server) == b"bye"
        assert await post(client, server) == b"bye"
        assert server.connections == 2

    async def test_close_closes_every_connection(self, server: RawServer) -> None:
        client = HTTPClient()
        await post(client, server)
        await client.close()
        await server.all_closed.wait()
        assert server.closed_by_client == 1
        assert await post(client, server) == b"echo:hi"  # a later request opens a new one
        await client.close()
        assert server.connections == 2


class TestStaleConnections:
    async def test_a_connection_the_server_closed_while_idle_is_replaced(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def answer_then_hang_up(exchange: Exchange) -> bool:
            await answer_ok(exchange)
            return False  # closed after the answer, without saying so

        server.answer = answer_then_hang_up
        assert await post(client, server, b"one") == b"echo:one"
        assert await post(client, server, b"two") == b"echo:two"
        assert server.connections == 2

    async def test_a_request_sent_as_the_server_closes_is_sent_again_once(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def hang_up_on_the_second_request(exchange: Exchange) -> bool:
            if len(server.exchanges) == 2:
                return False  # read it, closed without a byte of answer
            return await answer_ok(exchange)

        server.answer = hang_up_on_the_second_request
        await post(client, server, b"one")
        assert await post(client, server, b"two") == b"echo:two"
        assert [e.connection for e in server.exchanges] == [1, 1, 2]

    async def test_a_new_connection_closed_without_an_answer_is_not_retried(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def hang_up(exchange: Exchange) -> bool:
            return False

        server.answer = hang_up
        with pytest.raises(TransportError, match="without answering"):
            await post(client, server)
        assert len(server.exchanges) == 1

    async def test_an_answer_that_breaks_off_is_not_retried(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def half_answer_the_second(exchange: Exchange) -> bool:
            if len(server.exchanges) == 2:
                exchange.writer.write(response(b"abc", "Content-Length: 10"))
                return False
            return await answer_ok(exchange)

        server.answer = half_answer_the_second
        await post(client, server)
        with pytest.raises(TransportError, match="broke off"):
            await post(client, server)
        assert len(server.exchanges) == 2


class TestBodies:
    async def test_a_chunked_answer_is_read_whole(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def chunked(exchange: Exchange) -> bool:
            exchange.writer.write(response(b"", "Transfer-Encoding: chunked"))
            for chunk in (b"first,", b"second,", b"third"):
                exchange.writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await exchange.writer.drain()
            exchange.writer.write(b"0\r\n\r\n")
            return True

        server.answer = chunked
        assert await post(client, server) == b"first,second,third"
        assert await post(client, server) == b"first,second,third"
        assert server.connections == 1

    async def test_an_answer_without_a_length_is_read_to_the_end_of_the_stream(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        async def until_close(exchange: Exchange) -> bool:
            exchange.writer.write(response(b"all of it"))
            return False

        server.answer = until_close
        assert await post(client, server) == b"all of it"
        assert await post(client, server) == b"all of it"
        assert server.connections == 2

    async def test_an_answer_over_the_size_limit_is_refused_and_its_connection_dropped(
        self, server: RawServer
    ) -> None:
        client = HTTPClient(max_response_size=8)
        try:
            with pytest.raises(TransportError, match="larger than 8 bytes"):
                await post(client, server, b"a long body")
            assert await post(client, server, b"abc") == b"echo:abc"
        finally:
            await client.close()
        assert server.connections == 2

    async def test_the_request_carries_its_target_host_type_and_length(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        answer = await client.post(
            server.origin,
            "/bot1:x/getMe?x=1",
            b"{}",
            content_type="application/json",
            timeout=10,
            connect_timeout=10,
        )
        assert answer.body == b"echo:{}"
        (exchange,) = server.exchanges
        assert exchange.target == "/bot1:x/getMe?x=1"
        assert exchange.headers["host"] == f"127.0.0.1:{server.origin[2]}"
        assert exchange.headers["content-type"] == "application/json"
        assert exchange.headers["content-length"] == "2"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            *subject,
            *files,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[RawServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    raw = RawServer(tls=context)
    await raw.start()
    yield raw
    await raw.stop()


class TestTLS:
    async def test_https_is_verified_against_the_system_certificates(
        self, client: HTTPClient, tls_server: RawServer
    ) -> None:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await post(client, tls_server)

    async def test_https_connections_are_encrypted_and_kept_alive(
        self,
        client: HTTPClient,
        tls_server: RawServer,
        certificate: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        trusting = ssl.create_default_context(cafile=str(certificate[0]))
        monkeypatch.setattr(_http, "_tls_context", trusting)  # stands in for the system CAs
        assert await post(client, tls_server, b"one") == b"echo:one"
        assert await post(client, tls_server, b"two") == b"echo:two"
        assert tls_server.connections == 1
        assert tls_server.exchanges[0].headers["host"] == f"127.0.0.1:{tls_server.origin[2]}"


class TestTimeouts:
    async def test_no_answer_in_time_raises_timeout_error_and_drops_the_connection(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        release = asyncio.Event()

        async def stall(exchange: Exchange) -> bool:
            await release.wait()
            return await answer_ok(exchange)

        server.answer = stall
        with pytest.raises(TimeoutError):
            await client.post(
                server.origin,
                "/x",
                b"",
                content_type="text/plain",
                timeout=0.05,
                connect_timeout=10,
            )
        release.set()
        server.answer = answer_ok
        assert await post(client, server) == b"echo:hi"
        assert server.connections == 2

    async def test_a_cancelled_request_drops_its_connection(
        self, client: HTTPClient, server: RawServer
    ) -> None:
        arrived = asyncio.Event()

        async def stall(exchange: Exchange) -> bool:
            arrived.set()
            await asyncio.Event().wait()
            return False

        server.answer = stall
        request = asyncio.create_task(post(client, server))
        await arrived.wait()
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        server.answer = answer_ok
        assert await post(client, server) == b"echo:hi"
        assert server.connections == 2

    async def test_an_api_call_without_an_answer_in_time_is_a_network_error(
        self, server: RawServer
    ) -> None:
        release = asyncio.Event()

        async def stall(exchange: Exchange) -> bool:
            await release.wait()
            return False

        server.answer = stall
        async with Api("1:x", server=server.url) as api:
            with pytest.raises(NetworkError, match=r"did not answer within 0\.05 s") as info:
                await api.call("getMe", request_timeout=0.05)
        release.set()
        assert info.value.error_code is None
        assert info.value.method == "getMe"

    async def test_an_api_call_whose_answer_breaks_off_is_a_network_error(
        self, server: RawServer
    ) -> None:
        async def half_answer(exchange: Exchange) -> bool:
            exchange.writer.write(response(b'{"ok": tr', "Content-Length: 100"))
            return False

        server.answer = half_answer
        async with Api("1:x", server=server.url) as api:
            with pytest.raises(NetworkError, match="broke off"):
                await api.get_me()


class TestApiOverHTTP:
    async def test_calls_reuse_one_connection_and_reach_the_method_path(
        self, server: RawServer
    ) -> None:
        async def ok_true(exchange: Exchange) -> bool:
            exchange.writer.write(response(b'{"ok":true,"result":true}', "Content-Length: 25"))
            return True

        server.answer = ok_true
        async with Api("123:abc", server=server.url + "/prefix/") as api:
            assert await api.delete_webhook() is True
            assert await api.call("close") is True
        assert [e.target for e in server.exchanges] == [
            "/prefix/bot123:abc/deleteWebhook",
            "/prefix/bot123:abc/close",
        ]
        assert server.connections == 1

    @pytest.mark.parametrize(
        ("server", "origin", "path"),
        [
            ("https://api.telegram.org", ("https", "api.telegram.org", 443), ""),
            ("HTTP://127.0.0.1:8081/", ("http", "127.0.0.1", 8081), ""),
            ("http://localhost/tg/api", ("http", "localhost", 80), "/tg/api"),
            ("https://[::1]:8443/x", ("https", "::1", 8443), "/x"),
            ("http://[::1]", ("http", "::1", 80), ""),
        ],
    )
    async def test_the_server_url_gives_origin_and_path(
        self, server: str, origin: Origin, path: str
    ) -> None:
        sent: list[tuple[Origin, str]] = []

        class Recording(HTTPClient):
            async def post(self, origin: Origin, target: str, body: bytes, **_: Any) -> Response:
                sent.append((origin, target))
                return Response(200, b'{"ok": true, "result": true}')

        api = Api("1:x", server=server)
        api._http = Recording()
        assert await api.call("close") is True
        assert sent == [(origin, f"{path}/bot1:x/close")]

    @pytest.mark.parametrize(
        "server",
        [
            "127.0.0.1:8081",
            "ftp://example.org",
            "http://",
            "http://:8081",
            "http://host:port",
            "http://host:99999",
            "http://host:\uff18\uff10",
            "http://user:secret@host",
            "http://host/?q=1",
            "http://[::1",
            "http://[::1]x",
        ],
    )
    def test_a_server_that_is_not_an_http_base_url_is_refused(self, server: str) -> None:
        with pytest.raises(ValueError, match="http:// or https:// URL of a host"):
            Api("1:x", server=server)
