"""A small reverse proxy for the tests: round-robin over several service instances.

Plain HTTP/1.1 on 127.0.0.1, one request per upstream connection. Like nginx's
``proxy_next_upstream error``, a request whose instance cannot be reached, or that drops the
connection before answering, goes to the next instance, as long as nothing was sent to the client
yet; it adds ``X-Forwarded-For`` and ``X-Upstream`` (which instance answered) and counts what
each instance answered. Runs an asyncio loop on a background thread; bounded by the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field

_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}


@dataclass
class ProxyStats:
    answered: Counter[int] = field(default_factory=Counter)  # upstream port -> responses
    failovers: int = 0
    unavailable: int = 0


class ReverseProxy:
    """``with ReverseProxy([port_a, port_b]) as proxy: proxy.port …``"""

    def __init__(self, upstreams: list[int], *, timeout: float = 30.0) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.stats = ProxyStats()
        self.port = 0
        self._next = itertools.cycle(range(len(self.upstreams)))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> ReverseProxy:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                headers = [ln.split(b":", 1) for ln in lines[1:] if b":" in ln]
                length = next(
                    (int(v) for k, v in headers if k.strip().lower() == b"content-length"), 0
                )
                body = await reader.readexactly(length) if length else b""
                keep = [(k.strip(), v.strip()) for k, v in headers if k.strip().lower() not in _HOP]
                keep += [(b"X-Forwarded-For", peer.encode()), (b"Connection", b"close")]
                request = lines[0] + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in keep)
                response = await self._forward(request + b"\r\n" + body)
                writer.write(response)
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(self, request: bytes) -> bytes:
        start = next(self._next)
        for attempt in range(len(self.upstreams)):
            port = self.upstreams[(start + attempt) % len(self.upstreams)]
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), self.timeout
                )
                try:
                    w.write(request)
                    await w.drain()
                    response = await asyncio.wait_for(r.read(), self.timeout)
                finally:
                    w.close()
            except (TimeoutError, OSError):
                self.stats.failovers += 1
                continue
            if not _complete(response):
                self.stats.failovers += 1  # dropped before a whole answer: try the next one
                continue
            self.stats.answered[port] += 1
            status, rest = response.split(b"\r\n", 1)
            rest = b"".join(
                ln + b"\r\n"
                for ln in rest.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                if ln.split(b":", 1)[0].strip().lower() not in _HOP
            )
            body = response.split(b"\r\n\r\n", 1)[1]
            return (
                status
                + b"\r\n"
                + rest
                + b"X-Upstream: "
                + str(port).encode()
                + b"\r\nConnection: keep-alive\r\n\r\n"
                + body
            )
        self.stats.unavailable += 1
        body = b'{"error":{"code":"bad_gateway","message":"Geen instantie bereikbaar."}}'
        return (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n".encode()
            + body
        )


def _complete(response: bytes) -> bool:
    """A whole HTTP/1.1 response: head, and the body its framing announces."""
    if not response.startswith(b"HTTP/1.1 ") or b"\r\n\r\n" not in response:
        return False
    head, body = response.split(b"\r\n\r\n", 1)
    fields = {
        k.strip().lower(): v.strip()
        for k, v in (ln.split(b":", 1) for ln in head.split(b"\r\n")[1:] if b":" in ln)
    }
    if b"content-length" in fields:
        return len(body) == int(fields[b"content-length"])
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        return body.endswith(b"0\r\n\r\n")
    return True
