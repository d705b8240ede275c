"""A real OGC API Features server for the tests: pygeoapi serving GeoJSON files on a free port.

``serve_ogc(folder, {"pand": (path, storage_crs, id_field), …})`` writes a pygeoapi configuration
and its OpenAPI document into ``folder``, starts pygeoapi (Flask under werkzeug) in a subprocess
on a free local port and yields its base URL; the process is ended (by its id) afterwards.
pygeoapi implements Part 1 paging (``next`` links) and Part 2 ``crs``/``bbox-crs``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from needs import need

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
RD = "http://www.opengis.net/def/crs/EPSG/0/28992"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(port: int, collections: dict[str, tuple[Path, str, str]], max_items: int) -> dict:
    text = {"title": "kansenkaart test server", "description": "tests", "keywords": ["test"]}
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": max_items},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "-"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                **text,
                "keywords_type": "theme",
                "terms_of_service": "-",
                "url": "http://127.0.0.1",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "tests", "url": "http://127.0.0.1"},
            "contact": {"name": "tests", "email": "tests@example.org", "role": "pointOfContact"},
        },
        "resources": {
            name: {
                "type": "collection",
                "title": name,
                "description": name,
                "keywords": [name],
                "extents": {"spatial": {"bbox": [-180, -90, 180, 90], "crs": CRS84}},
                "providers": [
                    {
                        "type": "feature",
                        "name": "GeoJSON",
                        "data": str(path),
                        "id_field": id_field,
                        "storage_crs": storage_crs,
                        "crs": [CRS84, RD],
                    }
                ],
            }
            for name, (path, storage_crs, id_field) in collections.items()
        },
    }


@contextmanager
def serve_ogc(
    folder: Path, collections: dict[str, tuple[Path, str, str]], *, max_items: int = 1000
) -> Iterator[str]:
    """Serve ``collections`` (name -> (GeoJSON path, storage CRS URI, id field)) with pygeoapi."""
    try:
        import pygeoapi  # noqa: F401
    except ImportError:
        need("pygeoapi is not installed (pip install -e '.[dev]')")
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cfg = folder / "pygeoapi.yml"
    cfg.write_text(yaml.safe_dump(_config(port, collections, max_items)), encoding="utf-8")
    openapi = folder / "openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(openapi)],
        env=env,
        check=True,
        capture_output=True,
    )
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from werkzeug.serving import run_simple; "
            "from pygeoapi.flask_app import APP; "
            "run_simple('127.0.0.1', int(sys.argv[1]), APP, threaded=True)",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/conformance?f=json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                need(f"pygeoapi did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
