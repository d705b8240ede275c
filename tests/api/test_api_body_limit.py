"""Request bodies are limited by the bytes actually read, on every route (issue 11, item 1).

A body sent with ``Transfer-Encoding: chunked`` has no Content-Length to check up front; it must
still be cut off at the limit while it is read, before anything parses it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import uvicorn

LIMIT = 64 * 1024


def _chunks(total: int, size: int = 16 * 1024, counter: list[int] | None = None):
    sent = 0
    while sent < total:
        part = b" " * min(size, total - sent)
        sent += len(part)
        if counter is not None:
            counter[0] = sent
        yield part


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/tokens"])
def test_a_chunked_body_over_the_limit_is_refused(env, path):
    c = env.login("bm1@test.nl")
    body = b'{"email": "bm1@test.nl", "password": "' + b"x" * (2 * LIMIT) + b'"}'
    r = c.post(path, content=iter([body[i : i + 4096] for i in range(0, len(body), 4096)]))
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    assert "content-length" not in {k.lower() for k in r.request.headers}  # it was chunked


def test_a_body_just_under_the_limit_is_read_and_parsed(env):
    body = b'{"email": "bm1@test.nl", "password": "' + b"x" * (LIMIT - 100) + b'"}'
    r = env.client().post("/api/auth/login", content=iter([body]))
    assert r.status_code == 422  # read whole and parsed: the password is too long (1,024 max)


@pytest.fixture
def live_server(env):
    """The app served by uvicorn on a free port (a real HTTP/1.1 server reads the socket)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(env.app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/auth/login", 413), ("/api/tokens", 413), ("/healthz", 405), ("/api/me", 405)],
)
def test_the_server_answers_before_the_rest_of_a_chunked_upload_is_sent(live_server, path, status):
    """An anonymous 200 MiB chunked upload: the answer comes after about the limit (413 where
    the route reads a body; its own answer where it reads none), long before the upload would
    end, so the body is never held in memory."""
    conn = socket.create_connection(("127.0.0.1", live_server), timeout=10)
    conn.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b" " * 16 * 1024)
    sent = 0  # body bytes handed to the socket
    pending = memoryview(b"")
    answer = b""
    conn.setblocking(False)
    try:
        while sent < 200 * 1024 * 1024 and b"\r\n\r\n" not in answer:
            if not pending:
                pending = memoryview(chunk)
                sent += 16 * 1024
            try:
                pending = pending[conn.send(pending) :]
            except BlockingIOError:
                time.sleep(0.005)  # the server stopped reading: wait for its answer
            with contextlib.suppress(BlockingIOError):
                answer += conn.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection after answering
    conn.settimeout(10)  # no answer at all within 10 s after the upload: a failure
    try:
        while b"\r\n\r\n" not in answer:
            part = conn.recv(65536)
            if not part:
                break
            answer += part
    except OSError:
        pass
    conn.close()
    assert answer.startswith(b"HTTP/1.1 %d" % status), (sent, answer[:60])
    assert sent < 32 * 1024 * 1024, f"the server let the client send {sent} bytes before answering"
