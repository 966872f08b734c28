"""A small HTTP/1.1 client on asyncio for the OpenAI-compatible backend: keep-alive connections, JSON bodies,
Content-Length, chunked and read-to-close responses, server-sent-event lines, gzip/deflate, TLS.

Why not aiohttp's client: importing it costs 60-120 ms (it builds two TLS contexts at import time, even for a
``http://`` endpoint), which is most of the time before a run's first request, and its request path costs about
twice the CPU of this one per call (`python bench/scale.py`), CPU the event loop spends between a response
arriving and the next request leaving. What an evaluation needs of HTTP is small: POST a JSON body, read a JSON
body or an event stream, reuse connections.

Not supported, on purpose: proxies (like aiohttp's client without ``trust_env``), redirects (an API endpoint that
redirects is misconfigured: the 3xx is reported), HTTP/2.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
import ssl as ssllib
import zlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

#: Largest response head (status line and headers) accepted.
_MAX_HEAD = 64 * 1024
#: How long a host name's addresses are reused before it is looked up again.
_DNS_TTL_S = 300.0


class HttpError(ConnectionError):
    """The exchange failed below HTTP status level: refused, reset or dropped connection, malformed response."""


class Headers(dict):
    """Response headers by lower-case name; `get` takes any case."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: bytes in a buffer, one waiter woken when more arrive or the peer is gone."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.error: BaseException | None = None
        self._failure: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        """Drop the connection; its reader, waiting now or next, gets ``exc`` (a timeout)."""
        self._failure = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    async def more(self) -> None:
        """Wait for more bytes; `HttpError` when the peer closed the connection instead."""
        if self._failure is not None:
            raise self._failure
        if self.closed:
            raise HttpError(f"the server closed the connection ({self.error or 'end of stream'})")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()


class Response:
    """A response whose head has been read; the body is read with `read`, `text`, `json` or `content`."""

    def __init__(self, conn: _Connection, status: int, headers: Headers, keep_alive: bool, *,
                 bodyless: bool = False) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        self._keep_alive = keep_alive
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = 0 if bodyless else (int(length) if length is not None and not self._chunked
                                                            else None)
        if self._remaining is None and not self._chunked:
            self._keep_alive = False  # the body ends when the connection does
        self._chunk_left = 0
        self.done = bodyless or self._remaining == 0
        encoding = headers.get("content-encoding", "").lower()
        self._inflate = (zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip"
                         else zlib.decompressobj() if encoding == "deflate" else None)

    async def _raw_chunk(self) -> bytes | None:
        """The next piece of the body as sent (after de-chunking); ``None`` at its end."""
        conn = self._conn
        if self.done:
            return None
        if self._remaining is not None:  # Content-Length
            while not conn.buffer:
                await conn.more()
            piece = bytes(conn.buffer[:self._remaining])
            del conn.buffer[:len(piece)]
            self._remaining -= len(piece)
            self.done = self._remaining == 0
            return piece
        if not self._chunked:  # read to the end of the connection
            while not conn.buffer and not conn.closed:
                await conn.more()
            if not conn.buffer:
                self.done = True
                return None
            piece = bytes(conn.buffer)
            conn.buffer.clear()
            return piece
        while True:
            if self._chunk_left:
                while not conn.buffer:
                    await conn.more()
                piece = bytes(conn.buffer[:self._chunk_left])
                del conn.buffer[:len(piece)]
                self._chunk_left -= len(piece)
                if not self._chunk_left:
                    await self._expect_crlf()
                return piece
            end = conn.buffer.find(b"\r\n")
            while end < 0:
                if len(conn.buffer) > _MAX_HEAD:
                    raise HttpError("malformed chunked body: chunk size line too long")
                await conn.more()
                end = conn.buffer.find(b"\r\n")
            line = bytes(conn.buffer[:end]).split(b";", 1)[0].strip()
            del conn.buffer[:end + 2]
            try:
                size = int(line, 16)
            except ValueError:
                raise HttpError(f"malformed chunked body: chunk size {line[:40]!r}") from None
            if size == 0:
                await self._skip_trailers()
                self.done = True
                return None
            self._chunk_left = size

    async def _expect_crlf(self) -> None:
        conn = self._conn
        while len(conn.buffer) < 2:
            await conn.more()
        if conn.buffer[:2] != b"\r\n":
            raise HttpError("malformed chunked body: no CRLF after a chunk")
        del conn.buffer[:2]

    async def _skip_trailers(self) -> None:
        conn = self._conn
        while True:
            end = conn.buffer.find(b"\r\n")
            while end < 0:
                await conn.more()
                end = conn.buffer.find(b"\r\n")
            del conn.buffer[:end + 2]
            if end == 0:
                return

    async def _chunk(self) -> bytes | None:
        piece = await self._raw_chunk()
        if self._inflate is None:
            return piece
        if piece is None:
            rest = self._inflate.flush()
            self._inflate = None
            return rest or None
        return self._inflate.decompress(piece)

    async def read(self) -> bytes:
        """The whole body."""
        conn = self._conn
        if self._inflate is None and self._remaining is not None and not self.done:
            # The common case in one step: wait for Content-Length bytes, slice once.
            while len(conn.buffer) < self._remaining:
                await conn.more()
            body = bytes(conn.buffer[:self._remaining])
            del conn.buffer[:self._remaining]
            self._remaining = 0
            self.done = True
            return body
        parts = []
        while (piece := await self._chunk()) is not None:
            parts.append(piece)
        return b"".join(parts)

    async def text(self) -> str:
        return (await self.read()).decode("utf-8", "replace")

    async def json(self) -> Any:
        return jsonlib.loads(await self.read())

    @property
    def content(self) -> AsyncIterator[bytes]:
        """The body line by line (each with its ``\\n``, the last one perhaps without), for event streams."""
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        pending = b""
        while (piece := await self._chunk()) is not None:
            pending += piece
            start = 0
            while (end := pending.find(b"\n", start)) >= 0:
                yield pending[start:end + 1]
                start = end + 1
            pending = pending[start:]
        if pending:
            yield pending

    @property
    def reusable(self) -> bool:
        return self.done and self._keep_alive and self._conn.reusable and not self._conn.buffer


class _Exchange:
    """``async with session.post(...) as response``: the connection goes back to the pool when the body was read
    to its end, and is closed otherwise."""

    def __init__(self, session: HttpSession, method: str, url: str, body: bytes | None, headers: dict[str, str],
                 timeout_s: float | None) -> None:
        self._args = (method, url, body, headers)
        self._session = session
        self._timeout_s = session.timeout_s if timeout_s is None else timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self._response: Response | None = None
        self._key: tuple[str, int, bool] | None = None
        self._conn: _Connection | None = None
        self._expired = False

    async def __aenter__(self) -> Response:
        loop = asyncio.get_running_loop()
        if self._timeout_s:
            self._timer = loop.call_later(self._timeout_s, self._expire)
        try:
            self._key, self._response = await self._session._send(*self._args, on_conn=self._track)
        except BaseException:
            self._cancel_timer()
            if self._conn is not None:  # failed or cancelled half-way: the connection is in an unknown state
                self._conn.close()
            raise
        return self._response

    def _track(self, conn: _Connection) -> None:
        self._conn = conn
        if self._expired:
            self._expire()

    def _expire(self) -> None:
        self._expired = True
        if self._conn is not None:
            self._conn.fail(asyncio.TimeoutError(f"no complete response within {self._timeout_s:g} s"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def __aexit__(self, *exc: object) -> None:
        self._cancel_timer()
        response = self._response
        if response is None:
            return
        if response.reusable and self._key is not None:
            self._session._release(self._key, response._conn)
        else:
            response._conn.close()


class HttpSession:
    """Keep-alive connections to any number of hosts, as many at once as callers ask for.

    Args:
        timeout_s: limit for one exchange, from sending to the end of the body (``None``: none).
        connect_timeout_s: limit for opening a connection.
        verify_tls: check the server's certificate (``https://`` only).
    """

    def __init__(self, *, timeout_s: float | None = None, connect_timeout_s: float = 30.0,
                 verify_tls: bool = True) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.verify_tls = verify_tls
        self._idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        self._addresses: dict[tuple[str, int], tuple[float, asyncio.Future[list[str]]]] = {}
        self._ssl: ssllib.SSLContext | None = None
        self._closed = False

    def post(self, url: str, *, json: Any = None, data: bytes | None = None, headers: dict[str, str] | None = None,
             timeout_s: float | None = None) -> _Exchange:
        """POST ``json`` (encoded here) or ``data``."""
        hdrs = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        return _Exchange(self, "POST", url, data or b"", hdrs, timeout_s)

    def get(self, url: str, *, headers: dict[str, str] | None = None, timeout_s: float | None = None) -> _Exchange:
        return _Exchange(self, "GET", url, None, dict(headers or {}), timeout_s)

    async def close(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def _release(self, key: tuple[str, int, bool], conn: _Connection) -> None:
        if self._closed:
            conn.close()
        else:
            self._idle.setdefault(key, []).append(conn)

    def _context(self) -> ssllib.SSLContext:
        if self._ssl is None:
            if self.verify_tls:
                self._ssl = ssllib.create_default_context()
            else:
                self._ssl = ssllib.SSLContext(ssllib.PROTOCOL_TLS_CLIENT)
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssllib.CERT_NONE
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    async def _resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, looked up once per `_DNS_TTL_S` (a run opens hundreds of connections to it)."""
        loop = asyncio.get_running_loop()
        cached = self._addresses.get((host, port))
        if cached is not None and loop.time() - cached[0] < _DNS_TTL_S:
            return await asyncio.shield(cached[1])  # connections opened together share one look-up
        found: asyncio.Future[list[str]] = loop.create_future()
        self._addresses[(host, port)] = (loop.time(), found)
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:
            del self._addresses[(host, port)]  # a failed look-up is not remembered
            found.set_exception(exc if isinstance(exc, Exception) else OSError("look-up cancelled"))
            found.exception()  # retrieved: nobody else may be waiting
            raise
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        found.set_result(addresses)
        return addresses

    async def _connect(self, key: tuple[str, int, bool]) -> _Connection:
        host, port, tls = key
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise HttpError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        for address in addresses:  # in the resolver's order, the next one when one refuses
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(_Connection, address, port, ssl=self._context() if tls else None,
                                           server_hostname=host if tls else None),
                    self.connect_timeout_s)
                return conn
            except OSError as exc:
                failure = exc
        raise HttpError(f"cannot connect to {host}:{port}: {getattr(failure, 'strerror', None) or failure}")

    async def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str], *,
                    on_conn: Any) -> tuple[tuple[str, int, bool], Response]:
        if self._closed:
            raise HttpError("the session is closed")
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if tls else 80)
        key = (parts.hostname, port, tls)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rsplit("@", 1)[-1]
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "User-Agent: mathgauge", "Accept: */*"]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.reusable:
                conn.close()
                continue
            on_conn(conn)
            try:
                return key, await self._exchange(conn, request, method)
            except HttpError:
                # The server closed a kept-alive connection as we reused it (an idle timeout): the request was
                # never read, so it is sent again once, on a new connection.
                if conn.buffer or not conn.closed:
                    raise
                conn.close()
                break
        conn = await self._connect(key)
        on_conn(conn)
        return key, await self._exchange(conn, request, method)

    async def _exchange(self, conn: _Connection, request: bytes, method: str) -> Response:
        assert conn.transport is not None
        conn.transport.write(request)
        while True:
            end = conn.buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(conn.buffer) > _MAX_HEAD:
                    raise HttpError("malformed response: head too long")
                await conn.more()
                end = conn.buffer.find(b"\r\n\r\n")
            head = bytes(conn.buffer[:end]).decode("latin-1")
            del conn.buffer[:end + 4]
            status_line, *header_lines = head.split("\r\n")
            fields = status_line.split(" ", 2)
            if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
                raise HttpError(f"malformed response status line: {status_line[:100]!r}")
            status = int(fields[1])
            if 100 <= status < 200:
                continue  # an interim response (100 Continue): the real one follows
            headers = Headers()
            for line in header_lines:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            keep_alive = "close" not in connection and (fields[0] != "HTTP/1.0" or "keep-alive" in connection)
            return Response(conn, status, headers, keep_alive,
                            bodyless=method == "HEAD" or status in (204, 304))
