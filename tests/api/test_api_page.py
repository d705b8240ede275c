"""The web page is served compressed and cacheable (issue 11, item 9): the build names the bundle
by its content and writes gzip copies; the api sends a gzip copy only to clients that accept
gzip, lets browsers keep the hashed files for a year and has them revalidate index.html."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Env
from needs import need

from api.http import HASHED_NAME, IMMUTABLE, accepts_gzip

DIST = Path(__file__).resolve().parents[2] / "api" / "static" / "dist"
ON_GPKG = pytest.mark.parametrize("backend", ["gpkg"])  # the page does not touch the data


def _bundle(index: str) -> tuple[str, str]:
    js = re.search(r'<script src="([^"]+)"', index)
    css = re.search(r'<link rel="stylesheet" href="([^"]+)"', index)
    assert js and css, "index.html names no script or stylesheet"
    return js.group(1), css.group(1)


@pytest.fixture
def page() -> Path:
    if not (DIST / "index.html").is_file():
        need(f"the web map is not built ({DIST}): run `make setup`")
    return DIST


def test_the_build_names_the_bundle_by_content_and_writes_gzip_copies(page: Path):
    js, css = _bundle((page / "index.html").read_text())
    for name in (js, css):
        assert HASHED_NAME.search(name), f"{name} is not named by its content (app-<hash>.js)"
        raw = (page / name).read_bytes()
        packed = (page / f"{name}.gz").read_bytes()
        assert gzip.decompress(packed) == raw
    assert (page / f"{js}.gz").stat().st_size < 0.4 * (page / js).stat().st_size
    assert (
        gzip.decompress((page / "index.html.gz").read_bytes()) == (page / "index.html").read_bytes()
    )
    assert not (page / "app.js").exists(), "an unhashed app.js is left over from an older build"


@ON_GPKG
def test_the_bundle_is_sent_gzipped_to_who_accepts_it_and_kept_for_a_year(
    page: Path, make_env: Callable[..., Env]
):
    c = make_env(static_dir=page).client()
    index = c.get("/", headers={"Accept-Encoding": "gzip"})
    assert index.status_code == 200
    assert index.headers["cache-control"] == "no-cache"  # revalidated: it names the new bundle
    assert index.headers["content-encoding"] == "gzip"
    js, _ = _bundle(index.text)
    raw = (page / js).read_bytes()

    zipped = c.get(f"/{js}", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert int(zipped.headers["content-length"]) == (page / f"{js}.gz").stat().st_size
    assert zipped.content == raw  # httpx unpacked it
    assert zipped.headers["cache-control"] == IMMUTABLE
    assert zipped.headers["vary"] == "Accept-Encoding"

    for refuses in ("identity", "gzip;q=0", ""):
        plain = c.get(f"/{js}", headers={"Accept-Encoding": refuses})
        assert "content-encoding" not in plain.headers, refuses
        assert int(plain.headers["content-length"]) == len(raw)
        assert plain.content == raw
        assert plain.headers["etag"] != zipped.headers["etag"]

    again = c.get(
        f"/{js}", headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]}
    )
    assert again.status_code == 304


@ON_GPKG
def test_page_files_on_a_hand_made_build(tmp_path: Path, make_env: Callable[..., Env]):
    """The same rules without npm: a file without a .gz copy is sent as it is; a name that is
    not content-hashed is revalidated."""
    (tmp_path / "index.html").write_text('<script src="app-ABCDEFGH.js"></script>')
    (tmp_path / "app-ABCDEFGH.js").write_text("console.log(1);\n" * 200)
    (tmp_path / "app-ABCDEFGH.js.gz").write_bytes(
        gzip.compress((tmp_path / "app-ABCDEFGH.js").read_bytes())
    )
    (tmp_path / "favicon.svg").write_text("<svg/>")
    c = make_env(static_dir=tmp_path).client()
    r = c.get("/app-ABCDEFGH.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["cache-control"] == IMMUTABLE
    icon = c.get("/favicon.svg", headers={"Accept-Encoding": "gzip"})
    assert icon.status_code == 200 and "content-encoding" not in icon.headers
    assert icon.headers["cache-control"] == "no-cache" and "vary" not in icon.headers
    index = c.get("/", headers={"Accept-Encoding": "gzip"})
    assert index.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("*;q=0, gzip", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0, identity", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding(header: str, takes: bool):
    assert accepts_gzip(header) is takes
