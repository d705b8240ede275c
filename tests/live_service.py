"""The real api, served for tests that drive real clients (Chromium, QGIS, GDAL), and a real scan
for it to serve.

- :func:`serve` runs an app with uvicorn in a background thread on a free port (several worktrees
  run their suites at once: never a fixed port) and can record every request it receives.
- :func:`scan_tiny_sample` makes a real result: ``kansenkaart sample --preset tiny`` and
  ``kansenkaart scan`` (two municipalities, a few seconds).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str
    query: str
    auth_scheme: str  # "basic", "bearer", or "" (none)


@dataclass
class Recorder:
    """ASGI wrapper that notes every HTTP request before the app answers it."""

    app: Any
    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            auth = dict(scope.get("headers") or []).get(b"authorization", b"")
            self.seen.append(
                Seen(
                    scope["path"],
                    scope.get("query_string", b"").decode(),
                    auth.split(b" ", 1)[0].decode().lower(),
                )
            )
        await self.app(scope, receive, send)


@contextlib.contextmanager
def serve(app: Any, *, recorder: Recorder | None = None) -> Iterator[str]:
    """Serve ``app`` (through ``recorder`` when given) on 127.0.0.1; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            recorder if recorder is not None else app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the api did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def scan_tiny_sample(out_dir: Path) -> Path:
    """A real scan of the tiny synthetic sample (two municipalities); returns the result."""
    from rich.console import Console

    from pipeline.sample import generate_sample
    from pipeline.scan_command import run_scan_command

    sources_yaml = generate_sample(out_dir / "raw", preset="tiny", seed=42)
    out = out_dir / "kansenkaart.gpkg"
    run_scan_command(
        sources_yaml, gemeenten=None, config_path=None, out=out, console=Console(file=io.StringIO())
    )
    return out
