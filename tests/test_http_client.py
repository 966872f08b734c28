"""mathgauge's HTTP/1.1 client against a real socket server that answers with hand-written bytes: every way a
response body can be framed, connection reuse, a kept-alive connection the server dropped, timeouts, broken
responses."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable

import pytest

from mathgauge.models._http import HttpError, HttpSession

Reply = Callable[[bytes], bytes]


class RawServer:
    """Reads one request head (and its Content-Length body) at a time and writes back what ``reply`` returns;
    ``close_after`` closes the connection after that many replies; ``drop_after`` reads one more request after that
    many replies and closes the connection without answering it (a keep-alive timeout racing a reused
    connection)."""

    def __init__(self, reply: Reply, close_after: int | None = None, drop_after: int | None = None) -> None:
        self.reply = reply
        self.close_after = close_after
        self.drop_after = drop_after
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if self.drop_after is not None and served >= self.drop_after:
                    break
                answer = self.reply(head + body)
                if answer:
                    writer.write(answer)
                    await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def chunked(*pieces: bytes) -> bytes:
    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for piece in pieces:
        out += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def test_bodies_of_every_framing_come_back_whole() -> None:
    replies = {b"/len": ok(b'{"a": 1}'), b"/chunked": chunked(b'{"a"', b": ", b"1}"),
               b"/gzip": ok(gzip.compress(b'{"a": 1}'), "Content-Encoding: gzip"),
               b"/continue": b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'{"a": 1}')}

    async def main() -> None:
        async with RawServer(lambda req: replies[req.split(b" ")[1]]) as url:
            session = HttpSession(timeout_s=5)
            for path in replies:
                async with session.post(url + path.decode(), json={"q": "ü"}) as resp:
                    assert resp.status == 200 and await resp.json() == {"a": 1}, path
            await session.close()

    run(main())


def test_a_body_read_to_the_close_and_http_1_0() -> None:
    async def main() -> None:
        async with RawServer(lambda req: b"HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nno length here", close_after=1) as url:
            session = HttpSession(timeout_s=5)
            for _ in range(2):  # a new connection each time: the body ended with the connection
                async with session.get(url + "/") as resp:
                    assert resp.headers.get("x-a") == "1" and await resp.text() == "no length here"
            await session.close()

    run(main())


def test_connections_are_kept_alive_and_reused() -> None:
    async def main() -> None:
        server = RawServer(lambda req: ok(b"{}"))
        async with server as url:
            session = HttpSession(timeout_s=5)

            async def one() -> None:
                async with session.post(url + "/x", data=b"x" * 10) as resp:
                    await resp.read()

            for _ in range(5):
                await one()
            await asyncio.gather(*(one() for _ in range(8)))
            await session.close()
        assert server.connections <= 8 and len(server.requests) == 13
        assert server.requests[0].startswith(b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:")

    run(main())


def test_a_kept_alive_connection_the_server_dropped_is_replaced() -> None:
    async def main() -> None:
        closed = RawServer(lambda req: ok(b"{}"), close_after=1)  # the close arrives while the connection idles
        async with closed as url:
            session = HttpSession(timeout_s=5)
            for _ in range(3):
                async with session.post(url + "/x", json={}) as resp:
                    assert await resp.json() == {}
                await asyncio.sleep(0.05)
            await session.close()
        assert closed.connections == 3 and len(closed.requests) == 3
        dropped = RawServer(lambda req: ok(b"{}"), drop_after=1)  # the close races the reused connection's request
        async with dropped as url:
            session = HttpSession(timeout_s=5)
            for _ in range(3):
                async with session.post(url + "/x", json={}) as resp:
                    assert await resp.json() == {}
            await session.close()
        # Requests 2 and 3 each went out on the kept-alive connection, were dropped, and were sent again once.
        assert dropped.connections == 3 and len(dropped.requests) == 5

    run(main())


def test_streams_come_line_by_line_across_chunks() -> None:
    events = [b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b"data: [DONE]\n\n"]
    stream = b"".join(events)

    async def main() -> None:
        async with RawServer(lambda req: chunked(stream[:7], stream[7:20], stream[20:])) as url:
            session = HttpSession(timeout_s=5)
            async with session.post(url + "/s", json={}) as resp:
                lines = [line async for line in resp.content]
            await session.close()
        assert b"".join(lines) == stream and all(line.endswith(b"\n") for line in lines)
        assert lines[0] == b'data: {"n": 1}\n'

    run(main())


@pytest.mark.parametrize("reply,message", [
    (b"", "closed the connection"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed the connection"),
    (b"garbage\r\n\r\n", "malformed response status line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunked body"),
])
def test_broken_responses_raise_http_errors(reply: bytes, message: str) -> None:
    async def main() -> None:
        async with RawServer(lambda req: reply, close_after=1) as url:
            session = HttpSession(timeout_s=5)
            with pytest.raises(HttpError, match=message):
                async with session.post(url + "/x", json={}) as resp:
                    await resp.read()
            await session.close()

    run(main())


def test_a_silent_server_times_out_and_its_connection_is_not_reused() -> None:
    async def main() -> None:
        server = RawServer(lambda req: b"" if b"/slow" in req else ok(b"{}"))
        async with server as url:
            session = HttpSession(timeout_s=0.3)
            with pytest.raises(asyncio.TimeoutError):
                async with session.post(url + "/slow", json={}) as resp:
                    await resp.read()
            async with session.post(url + "/fast", json={}) as resp:
                assert await resp.json() == {}
            await session.close()
        assert server.connections == 2

    run(main())


def test_refused_connections_raise_http_errors() -> None:
    async def main() -> None:
        session = HttpSession(timeout_s=5)
        with pytest.raises(HttpError, match="cannot connect"):
            async with session.get("http://127.0.0.1:9/"):
                pass
        with pytest.raises(HttpError, match="cannot connect to no-such-host.invalid:80"):
            async with session.get("http://no-such-host.invalid/"):
                pass
        await session.close()

    run(main())


def test_host_names_are_looked_up_once() -> None:
    async def main() -> None:
        server = RawServer(lambda req: ok(b"{}"))
        async with server as url:
            session = HttpSession(timeout_s=5)
            lookups = []
            loop = asyncio.get_running_loop()
            real = loop.getaddrinfo

            async def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                lookups.append(args[0])
                return await real(*args, **kwargs)

            loop.getaddrinfo = counted  # type: ignore[method-assign]

            async def one() -> None:
                async with session.post(url.replace("127.0.0.1", "localhost") + "/x", json={}) as resp:
                    assert await resp.json() == {}

            await asyncio.gather(*(one() for _ in range(6)))
            await session.close()
        assert lookups == ["localhost"] and server.connections == 6  # six connections opened at once, one look-up

    run(main())
