"""``kansenkaart fetch`` against a real OGC API Features server (pygeoapi, started here).

The server serves the synthetic ``tiny`` sample (and, when ``../shared`` is there, the real Weesp
BAG, CBS 2022 municipalities and Kadastrale kaart parcels) as PDOK does: RD New storage, ``crs``
and ``bbox-crs`` (Part 2), pages with ``next`` links (Part 1). The fetched files must hold exactly
the municipality's objects, load with the readers, resume after an interruption and end up in
the scan's ``run_metadata``.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import pyogrio
import pytest
import yaml
from typer.testing import CliRunner

from pipeline import catalog, fetch
from pipeline.cli import app
from pipeline.sample import generate_sample

sys.path.insert(0, str(Path(__file__).parent))
from ogc_server import CRS84, RD, serve_ogc

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
CODE = "GM0940"  # Zilverkreek in the tiny sample (seed 3)


def _geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    pyogrio.write_dataframe(gdf, path, driver="GeoJSON", RFC7946=False)
    return path


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_sample(tmp_path_factory.mktemp("sample") / "raw", preset="tiny", seed=3)


@pytest.fixture(scope="module")
def server(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample's municipalities (CRS84), parcels, panden and verblijfsobjecten (RD)."""
    data = tmp_path_factory.mktemp("ogc")
    raw = sample.parent
    collections = {
        "gemeenten": (raw / "gemeenten.geojson", CRS84, "statcode"),
        "perceel": (
            _geojson(
                pyogrio.read_dataframe(raw / "kadastralekaart.gpkg", layer="perceel"),
                data / "perceel.geojson",
            ),
            RD,
            "identificatie",
        ),
        "pand": (
            _geojson(pyogrio.read_dataframe(raw / "bag.gpkg", layer="pand"), data / "pand.geojson"),
            RD,
            "identificatie",
        ),
        "verblijfsobject": (
            _geojson(
                pyogrio.read_dataframe(raw / "bag.gpkg", layer="verblijfsobject"),
                data / "vbo.geojson",
            ),
            RD,
            "identificatie",
        ),
    }
    with serve_ogc(data / "server", collections) as base:
        yield base


def config_for(
    base: str, *, page_size: int = 500, code_property: str = "statcode"
) -> fetch.FetchConfig:
    return fetch.FetchConfig.model_validate(
        {
            "municipalities": {
                "url": base,
                "collection": "gemeenten",
                "code_property": code_property,
            },
            "parcels": {"url": base, "collection": "perceel"},
            "buildings": {"url": base},
            "page_size": page_size,
            "attempts": 2,
            "backoff_s": 0.01,
        }
    )


def write_config(path: Path, cfg: fetch.FetchConfig) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump()), encoding="utf-8")
    return path


def ids(path: Path, layer: str, column: str = "identificatie") -> list[str]:
    return sorted(
        pyogrio.read_dataframe(path, layer=layer, read_geometry=False)[column].astype(str)
    )


def test_fetch_downloads_one_municipality_pages_and_all(
    sample: Path, server: str, tmp_path: Path
) -> None:
    out = tmp_path / "gm0940"
    cfg = write_config(tmp_path / "fetch.yaml", config_for(server))
    result = CliRunner().invoke(
        app, ["fetch", "--gemeente", CODE, "--out", str(out), "--config", str(cfg)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for key in ("zoning", "vacancy", "ownership", "transit_stops"):
        assert key in text  # named as not fetched, with where to get it
    assert "ruimtelijkeplannen.nl" in text and "gtfs" in text.lower()

    # exactly the features of the service that meet the municipality's bounding box
    raw = sample.parent
    mun = gpd.read_file(raw / "gemeenten.geojson").to_crs("EPSG:28992")
    bbox = tuple(mun[mun["statcode"] == CODE].total_bounds)
    for file, layer in (
        ("bag.gpkg", "pand"),
        ("bag.gpkg", "verblijfsobject"),
        ("kadastralekaart.gpkg", "perceel"),
    ):
        want = pyogrio.read_dataframe(raw / file, layer=layer, bbox=bbox)
        assert ids(out / file, layer) == sorted(want["identificatie"].astype(str)), layer
        assert len(want) > 500  # more than one page
    assert list(gpd.read_file(out / "gemeenten.geojson")["statcode"]) == [CODE]

    manifest = json.loads((out / "fetch_manifest.json").read_text())
    assert manifest["gemeente"] == CODE
    for d in manifest["downloads"]:
        assert d["url"].startswith(server) and d["fetched_at"]
        assert d["sha256"] == hashlib.sha256((out / d["path"]).read_bytes()).hexdigest()
    by_layer = {d["layer"]: d["count"] for d in manifest["downloads"]}
    assert by_layer["pand"] == len(ids(out / "bag.gpkg", "pand"))
    assert (
        "bbox-crs=" in manifest["downloads"][1]["url"]
        and "28992" in manifest["downloads"][1]["url"]
    )

    # sources.yaml is ready: only zoning and transit stops are missing files
    with pytest.raises(catalog.InputError if hasattr(catalog, "InputError") else Exception) as exc:
        catalog.load_sources(catalog.read_sources_yaml(out / "sources.yaml"))
    message = str(exc.value)
    assert "[zoning]" in message and "[transit_stops]" in message
    assert "[buildings]" not in message and "[parcels]" not in message


def test_fetched_files_scan_like_the_original_and_reach_run_metadata(
    sample: Path, server: str, tmp_path: Path
) -> None:
    out = tmp_path / "gm0940"
    fetch.fetch_municipality(CODE, out, config=config_for(server, page_size=1000))
    doc = yaml.safe_load((out / "sources.yaml").read_text())
    raw = sample.parent
    doc["sources"]["zoning"] = {"path": str(raw / "bestemmingsplannen"), "format": "imro"}
    doc["sources"]["transit_stops"] = {"path": str(raw / "ov_haltes.gpkg"), "format": "stops"}
    (out / "sources.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    fetched, report = catalog.load_sources(catalog.read_sources_yaml(out / "sources.yaml"))
    original, _ = catalog.load_sources(catalog.read_sources_yaml(sample), gemeenten=[CODE])
    for name, key in (("parcels", "parcel_id"), ("buildings", "pand_id"), ("units", "vbo_id")):
        got = fetched[name][fetched[name]["gemeentecode"] == CODE]
        assert sorted(got[key]) == sorted(original[name][key]), name
    assert report.fetch is not None and report.fetch["gemeente"] == CODE
    assert any("no vacancy is known" in w for w in report.warnings)  # the placeholder says so

    result = CliRunner().invoke(
        app, ["scan", "--sources", str(out / "sources.yaml"), "--out", str(out / "result.gpkg")]
    )
    assert result.exit_code == 0, result.output
    meta = pyogrio.read_dataframe(out / "result.gpkg", layer="run_metadata").set_index("key")[
        "value"
    ]
    recorded = json.loads(meta["fetch"])
    assert recorded == json.loads((out / "fetch_manifest.json").read_text())


def test_an_interrupted_fetch_resumes_where_it_stopped(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config_for(server, page_size=300)
    real_get = fetch.Client.get_json
    calls = {"n": 0, "stop_at": 0}

    def counted(self, url, params=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == calls["stop_at"]:
            raise KeyboardInterrupt  # the user pressed Ctrl-C halfway
        return real_get(self, url, params)

    monkeypatch.setattr(fetch.Client, "get_json", counted)
    full = tmp_path / "full"
    fetch.fetch_municipality(CODE, full, config=cfg)
    full_calls = calls["n"]  # 1 for the municipality + one per page
    assert full_calls > 12

    out = tmp_path / "resumed"
    calls.update(n=0, stop_at=12)
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch_municipality(CODE, out, config=cfg)
    assert not (out / "bag.gpkg").exists() and not (out / "sources.yaml").exists()
    calls.update(n=0, stop_at=0)
    fetch.fetch_municipality(CODE, out, config=cfg)
    # the 10 pages fetched before Ctrl-C are not fetched again (the municipality is)
    assert calls["n"] == full_calls - 10
    for file, layer in (
        ("bag.gpkg", "pand"),
        ("bag.gpkg", "verblijfsobject"),
        ("kadastralekaart.gpkg", "perceel"),
    ):
        assert ids(out / file, layer) == ids(full / file, layer)


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first ``fail`` requests, then a FeatureCollection."""

    fail = 2
    seen = 0

    def do_GET(self) -> None:
        type(self).seen += 1
        if type(self).seen <= type(self).fail:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        body = json.dumps({"type": "FeatureCollection", "features": [], "links": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_requests_are_retried_with_backoff_then_give_up_clearly() -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/collections/x/items"
    try:
        waits: list[float] = []
        client = fetch.Client(
            httpx.Client(timeout=5), attempts=4, backoff_s=0.5, sleep=waits.append
        )
        assert client.get_json(url)["type"] == "FeatureCollection"
        assert waits == [0.5, 1.0] and client.requests == 3  # doubled each time
        _Flaky.seen, _Flaky.fail = 0, 99
        client = fetch.Client(
            httpx.Client(timeout=5), attempts=3, backoff_s=0.5, sleep=waits.append
        )
        with pytest.raises(fetch.FetchError, match=r"gave up after 3 attempts: HTTP 503.*resumes"):
            client.get_json(url)
    finally:
        srv.shutdown()


def test_unknown_municipality_and_unreachable_service_exit_2_without_traceback(
    server: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path / "fetch.yaml", config_for(server))
    result = CliRunner().invoke(
        app, ["fetch", "-g", "GM9999", "--out", str(tmp_path / "x"), "--config", str(cfg)]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "GM9999 not found" in " ".join(result.output.split())
    with socket_closed() as port:
        dead = write_config(tmp_path / "dead.yaml", config_for(f"http://127.0.0.1:{port}"))
        result = CliRunner().invoke(
            app, ["fetch", "-g", CODE, "--out", str(tmp_path / "y"), "--config", str(dead)]
        )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "gave up after 2 attempts" in " ".join(result.output.split())
    bad = tmp_path / "bad.yaml"
    bad.write_text("municipalities: {url: x}\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["fetch", "-g", CODE, "--out", str(tmp_path / "z"), "--config", str(bad)]
    )
    assert result.exit_code == 2 and "'municipalities.collection'" in result.output


class socket_closed:
    """A local port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        pass


# --- the real files: Weesp as PDOK would serve it ---------------------------------------------------


@pytest.mark.real
@pytest.mark.slow
def test_fetch_weesp_from_a_server_with_the_real_files(tmp_path: Path) -> None:
    weesp = REAL / "bag_weesp_0457" / "BAGGEM0457L-15102021.zip"
    if not weesp.exists():
        pytest.skip("real data not available")
    bag = catalog.load_source(catalog.SourceSpec(key="buildings", path=weesp, format="bag"))
    pand = bag.layers["buildings"].rename(columns={"pand_id": "identificatie"})[
        ["identificatie", "bouwjaar", "status", "geometry"]
    ]
    vbo = bag.layers["units"]
    vbo = gpd.GeoDataFrame(  # PDOK's verblijfsobject fields
        {
            "identificatie": vbo["vbo_id"],
            "pand_identificatie": vbo["pand_id"],
            "gebruiksdoel": vbo["gebruiksdoel"].map(",".join),
            "oppervlakte": vbo["oppervlakte_m2"],
            "status": vbo["status"],
            "openbare_ruimte_naam": vbo["straatnaam"],
        },
        geometry=vbo.geometry,
        crs=vbo.crs,
    )
    parcels = catalog.load_source(
        catalog.SourceSpec(
            key="parcels",
            path=REAL / "brk_kadastralekaart_samples/v5/kadastralekaart_perceel.gml",
            format="brk",
        )
    ).layers["parcels"]
    parcels = parcels.rename(  # PDOK's perceel fields
        columns={
            "parcel_id": "identificatie_lokaal_id",
            "kadastrale_grootte_m2": "kadastrale_grootte_waarde",
            "akr_code": "akr_kadastrale_gemeente_code_waarde",
        }
    ).drop(columns=["gemeentecode", "area_m2"])
    data = tmp_path / "ogc"
    data.mkdir()
    collections = {
        "gemeenten": (
            REAL / "cbs_gemeenten_2022/gemeenten_2022_gegeneraliseerd.geojson",
            CRS84,
            "statcode",
        ),
        "perceel": (_geojson(parcels, data / "perceel.geojson"), RD, "identificatie_lokaal_id"),
        "pand": (_geojson(pand, data / "pand.geojson"), RD, "identificatie"),
        "verblijfsobject": (_geojson(vbo, data / "vbo.geojson"), RD, "identificatie"),
    }
    with serve_ogc(data / "server", collections) as base:
        out = tmp_path / "weesp"
        fetch.fetch_municipality("GM0457", out, config=config_for(base, page_size=1000))
    assert len(ids(out / "bag.gpkg", "pand")) == len(pand)  # the extract is Weesp only
    perceel = pyogrio.read_info(out / "kadastralekaart.gpkg", layer="perceel")
    assert perceel["features"] == 0  # Otterlo lies elsewhere
    loaded = catalog.load_source(
        catalog.SourceSpec(key="buildings", path=out / "bag.gpkg", format="bag")
    )
    assert not loaded.issues.problems, loaded.issues.problems
    assert len(loaded.layers["buildings"]) == len(pand)
    units = loaded.layers["units"].set_index("vbo_id")
    assert len(units) == len(vbo)
    assert units.loc["0457010000000368", "straatnaam"] == "Binnenveer"
    assert units.loc["0457010000000368", "gebruiksdoel"] == ["winkelfunctie"]
