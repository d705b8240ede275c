"""Fixtures for the browser tests: the real api (uvicorn, background thread) on a free port against
a real result GeoPackage, users in its real SQLite store, a local basemap, and Chromium.

Everything here is skipped with a clear reason when a part is missing (a failure in CI, see
``tests/needs.py``): /usr/bin/chromium, the
built page (``make setup`` builds it into api/static/dist/), or the service.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import re
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from live_service import free_port, scan_tiny_sample, serve
from needs import need

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "api" / "static" / "dist"
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET = "browser-tests-secret-key-0123456789-abcdefghijkl"
PASSWORD = "Flexwonen-2026!"


# -- a local basemap: every tile is the same small light PNG ----------------------------------
def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (
            struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


TILE_PNG = _png(256, 256, (232, 236, 226))


class _TileHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(TILE_PNG)))
        self.end_headers()
        self.wfile.write(TILE_PNG)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="session")
def basemap_server() -> Iterator[str]:
    """URL template of a local XYZ basemap (stands in for PDOK, which tests never call)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/brt/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()


# -- the result GeoPackage --------------------------------------------------------------------
@pytest.fixture(scope="session")
def result_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The result GeoPackage the api serves: a real scan of the tiny synthetic sample. A failed
    scan fails the browser tests (it is part of this repository, not a missing machine part)."""
    out_dir = tmp_path_factory.mktemp("browser-result")
    try:
        path = scan_tiny_sample(out_dir)
        # `kansenkaart sensitivity` on it, so the site panel shows the robustness of the tier
        from pipeline.sensitivity import result_stability, write_stability

        write_stability(path, result_stability(path, draws=20, spread=0.2, seed=1))
        return path
    except Exception as exc:
        pytest.fail(f"the sample scan for the browser tests failed: {exc!r}", pytrace=True)


@dataclass
class Scope:
    """Two municipalities of the result with sites: the tests' beleidsmaker sees only ``own``."""

    own: str
    own_naam: str
    other: str
    codes: list[str]


@pytest.fixture(scope="session")
def scope(result_gpkg: Path) -> Scope:
    import pyogrio

    counts: dict[str, int] = {}
    for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
        df = pyogrio.read_dataframe(
            result_gpkg, layer=layer, columns=["gemeentecode"], read_geometry=False
        )
        for code, n in df["gemeentecode"].value_counts().items():
            counts[str(code)] = counts.get(str(code), 0) + int(n)
    gem = pyogrio.read_dataframe(
        result_gpkg,
        layer="gemeenten",
        columns=["gemeentecode", "gemeentenaam"],
        read_geometry=False,
    )
    names = dict(zip(gem["gemeentecode"], gem["gemeentenaam"], strict=False))
    ranked = sorted(counts, key=lambda c: -counts[c])
    assert len(ranked) >= 2, "the result needs sites in two municipalities for the scope test"
    # The smaller of the two busiest municipalities keeps the map light; the other is the one
    # the beleidsmaker must never see.
    own, other = ranked[1], ranked[0]
    return Scope(own=own, own_naam=str(names.get(own, own)), other=other, codes=sorted(names))


# -- the api ----------------------------------------------------------------------------------
@dataclass
class Service:
    base: str
    basemap_url: str
    users: dict[str, str] = field(default_factory=dict)  # role -> e-mail
    result: Path | None = None

    @property
    def allowed_hosts(self) -> set[str]:
        hosts = {urlsplit(self.base).netloc}
        if self.basemap_url:
            hosts.add(urlsplit(self.basemap_url).netloc)
        return hosts


def _require_page() -> None:
    """The built page: index.html and the bundle it names (app-<hash>.js, app-<hash>.css)."""
    index = DIST / "index.html"
    named = re.findall(r'(?:src|href)="(app-[^"]+)"', index.read_text()) if index.is_file() else []
    if len(named) < 2 or not all((DIST / name).is_file() for name in named):
        need(
            f"the web map is not built ({DIST}: no index.html naming app-<hash>.js and "
            f".css that exist): run `make setup` (npm ci + npm run build in webmap/)"
        )


@contextlib.contextmanager
def run_service(
    result: Path,
    tmp: Path,
    *,
    basemap_url: str,
    scope: Scope,
    served: str | None = None,
    database: str | None = None,
) -> Iterator[Service]:
    """Start the real api with uvicorn in a background thread and create the test users.

    ``served``: what the api serves (a PostGIS URL where ``result`` is published; default the
    file itself); ``database``: the service database (default a SQLite file in ``tmp``)."""
    try:
        from api.main import create_app
        from api.settings import Settings
        from api.store.users import open_user_store
    except ImportError as exc:  # our own code: a failure, never a skip
        pytest.fail(f"the api is not importable: {exc}")
    _require_page()
    settings = Settings(
        result=served or result,
        database=database or str(tmp / "users.sqlite"),
        secret_key=SECRET,
        basemap_url=basemap_url,
        basemap_attribution="Test-achtergrond",
        static_dir=DIST,
    )
    store = open_user_store(settings.database, secret=settings.secret)
    users = {
        "beleidsmaker": "beleid@gemeente.example",
        "analist": "analist@provincie.example",
        "throttled": "vergeten@gemeente.example",
        "provincie": "provincie@provincie.example",
        "beleidsmaker_other": "beleid@anderegemeente.example",
    }
    store.add_user(users["beleidsmaker"], PASSWORD, role="beleidsmaker", gemeenten=[scope.own])
    store.add_user(users["analist"], PASSWORD, role="analist", gemeenten=[])
    store.add_user(users["throttled"], PASSWORD, role="beleidsmaker", gemeenten=[scope.own])
    store.add_user(users["provincie"], PASSWORD, role="provincie", gemeenten=[])
    store.add_user(
        users["beleidsmaker_other"], PASSWORD, role="beleidsmaker", gemeenten=[scope.other]
    )

    with serve(create_app(settings)) as base:
        yield Service(base=base, basemap_url=basemap_url, users=users, result=result)


@pytest.fixture(scope="session")
def service(
    result_gpkg: Path, scope: Scope, basemap_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The api with a reachable (local) basemap."""
    with run_service(
        result_gpkg, tmp_path_factory.mktemp("svc"), basemap_url=basemap_server, scope=scope
    ) as svc:
        yield svc


@pytest.fixture(scope="session")
def service_postgis(
    result_gpkg: Path, scope: Scope, basemap_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The api serving the result published to PostGIS, its state in PostgreSQL (a private
    cluster)."""
    from pgcluster import PgCluster, PgUnavailable

    from api.publish import publish_result

    try:
        cluster = PgCluster.start()
    except PgUnavailable as exc:
        need(f"PostgreSQL with PostGIS (the postgis backend): {exc}")
    try:
        url = cluster.create_database("browser_result")
        publish_result(result_gpkg, url)
        state = cluster.create_database("browser_state")
        with run_service(
            result_gpkg,
            tmp_path_factory.mktemp("svc-pg"),
            basemap_url=basemap_server,
            scope=scope,
            served=url,
            database=state,
        ) as svc:
            yield svc
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def service_offline_basemap(
    result_gpkg: Path, scope: Scope, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The api configured with a basemap that cannot be reached (nothing listens on the port)."""
    dead = f"http://127.0.0.1:{free_port()}/brt/{{z}}/{{x}}/{{y}}.png"
    with run_service(
        result_gpkg, tmp_path_factory.mktemp("svc-offline"), basemap_url=dead, scope=scope
    ) as svc:
        yield svc


# -- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        need("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        need(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def decode_tile(body: bytes) -> dict[str, Any]:
    """Decode an MVT (gzip or not) with mapbox_vector_tile."""
    import mapbox_vector_tile

    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return mapbox_vector_tile.decode(body) if body else {}


def chromium_available() -> bool:
    return CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is not None
