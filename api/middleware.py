"""ASGI middleware of the service: the client's address and scheme from trusted proxies only,
security headers on every answer (HSTS over HTTPS), and a limit on the bytes of a request body
that are read at all."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import audit

#: Largest request body read (bytes); the api only takes small JSON bodies.
MAX_BODY = 64 * 1024
#: Sent with every answer over HTTPS (directly or from a trusted proxy).
HSTS = b"max-age=31536000"


class RequestTooLarge(HTTPException):
    """The request body is larger than the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"Verzoek te groot: ten hoogste {limit // 1024} KiB.",
            headers={"Connection": "close"},  # the unread rest is not worth reading
        )


class BodyLimit:
    """Read at most ``limit`` bytes of any request body, on every route, before anything parses it.

    A declared ``Content-Length`` above the limit is refused before the app runs. A body without
    one (``Transfer-Encoding: chunked``) or with a false one is counted as it is read, and the read
    that passes the limit raises :class:`RequestTooLarge` instead of returning the bytes; the
    error handlers turn it into the JSON 413 answer. The server holds the unread rest in its
    bounded socket buffer and closes the connection, so nobody can make the process hold more
    than ``limit`` bytes of one body.

    (FastAPI's own ``max_body_size`` does the counting too, but answers every request with a
    too large ``Content-Length`` in plain text, replacing the JSON error body of
    docs/contracts.md §D.)
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._refuse(scope, receive, send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            if received > self.limit:
                raise RequestTooLarge(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise RequestTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except RequestTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = RequestTooLarge(self.limit)
        await audit.denied(Request(scope), 413, "too_large")
        body = {"error": {"code": "too_large", "message": exc.detail}}
        await JSONResponse(body, status_code=413, headers=exc.headers)(scope, receive, send)


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every response.

    API responses are ``no-store`` unless the route chose its own caching (tiles: ``private``).
    """

    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in names]
                if https:  # browsers then refuse plain HTTP to this host for a year
                    headers.append((b"strict-transport-security", HSTS))
                if is_api and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class TrustedProxies:
    """Believe ``X-Forwarded-For`` and ``X-Forwarded-Proto`` only from configured proxies.

    When the TCP peer is one of ``networks``, the client is the right-most address of
    ``X-Forwarded-For`` that is not itself a trusted proxy, and the scheme is the right-most
    ``X-Forwarded-Proto`` (the one the nearest proxy set). From any other peer — loopback
    included — both headers are ignored, so nobody can claim another address (throttling, audit)
    or HTTPS (cookies, HSTS). Runs before everything else; uvicorn's own proxy handling is off.
    """

    def __init__(self, app: ASGIApp, *, networks: Sequence[Network]) -> None:
        self.app = app
        self.networks = list(networks)

    def trusted(self, host: str) -> bool:
        addr = _address(host)
        return addr is not None and any(addr in net for net in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self.trusted(client[0]):
            headers = {k: v.decode("latin-1") for k, v in scope.get("headers", ())}
            hops = [h.strip() for h in headers.get(b"x-forwarded-for", "").split(",") if h]
            real = next((h for h in reversed(hops) if not self.trusted(h)), hops[0] if hops else "")
            if _address(real) is not None:
                scope = {**scope, "client": (real.strip("[]"), 0)}
            protos = [p.strip().lower() for p in headers.get(b"x-forwarded-proto", "").split(",")]
            if protos[-1] in ("http", "https"):
                scope = {**scope, "scheme": protos[-1]}
        await self.app(scope, receive, send)
