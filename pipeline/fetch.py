"""``kansenkaart fetch``: one municipality's inputs from public OGC API Features services.

Downloads the municipality's boundary (CBS), its parcels (Kadastrale kaart) and its BAG panden and
verblijfsobjecten by the municipality's bounding box in EPSG:28992 (OGC API Features Part 2:
``bbox-crs`` and ``crs``), following the ``next`` links page by page (Part 1). Each page is
kept under ``DIR/.fetch/`` with the link to the next one, so an interrupted fetch resumes where
it stopped; requests are retried with exponential backoff (and ``Retry-After``). When every page
is in, the pages become the files the readers read (``gemeenten.geojson``, ``kadastralekaart.gpkg``,
``bag.gpkg``; written to a temporary name, then renamed), ``fetch_manifest.json`` records each
download (URL, time, count, sha256; the scan's ``run_metadata`` copies it) and ``sources.yaml``
points at them — and names the sources no public service delivers (zoning, vacancy, ownership,
transit stops, …) with where a user gets them.

Service URLs and collections come from ``pipeline/fetch.yaml`` (or ``--config``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pyogrio
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from pipeline import _yaml
from pipeline.errors import InputError, KansenkaartError, Problem

RD_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"
DEFAULT_CONFIG = Path(__file__).with_name("fetch.yaml")
MANIFEST = "fetch_manifest.json"
STATE_DIR = ".fetch"
GEOJSON = "application/geo+json, application/json;q=0.9"
#: HTTP statuses worth another try.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(KansenkaartError):
    """A service could not be reached or answered something unusable (exit 2, with the URL)."""


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MunicipalityService(_Strict):
    url: str
    collection: str
    code_property: str = "gemeentecode"


class ParcelService(_Strict):
    url: str
    collection: str = "perceel"


class BuildingService(_Strict):
    url: str
    pand_collection: str = "pand"
    verblijfsobject_collection: str = "verblijfsobject"


class FetchConfig(_Strict):
    municipalities: MunicipalityService
    parcels: ParcelService
    buildings: BuildingService
    page_size: int = 1000
    attempts: int = 6
    backoff_s: float = 1.0
    timeout_s: float = 60.0


def load_fetch_config(path: Path | None = None) -> FetchConfig:
    """The services to fetch from: ``path``, or the shipped ``pipeline/fetch.yaml``."""
    path = path or DEFAULT_CONFIG
    if not path.is_file():
        raise InputError(
            Problem("fetch configuration not found", fix="pass --config FILE.yaml", file=str(path))
        )
    try:
        doc = _yaml.safe_load(path.read_text(encoding="utf-8"))
        return FetchConfig.model_validate(doc)
    except yaml.YAMLError as exc:
        raise InputError(
            Problem(
                f"not valid YAML: {exc}".replace("\n", " "), fix="fix the syntax", file=str(path)
            )
        ) from None
    except ValidationError as exc:
        raise InputError(
            [
                Problem(
                    f"'{'.'.join(str(x) for x in err['loc'])}': {err['msg']}",
                    fix=f"see {DEFAULT_CONFIG.name} shipped with kansenkaart for every key",
                    file=str(path),
                )
                for err in exc.errors()
            ]
        ) from None


# ---------------------------------------------------------------------------------------------
# HTTP with retries
# ---------------------------------------------------------------------------------------------


@dataclass
class Client:
    """GET JSON with retries: 429/5xx/time-outs/dropped connections are tried ``attempts`` times,
    waiting ``backoff_s`` × 2^n seconds (or the server's ``Retry-After``) in between."""

    http: httpx.Client
    attempts: int = 6
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    #: the CRS of the last answer's coordinates (``Content-Crs``; GeoJSON's CRS84 without one)
    content_crs: str = "OGC:CRS84"

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        last = ""
        for attempt in range(self.attempts):
            self.requests += 1
            wait = self.backoff_s * 2**attempt
            try:
                response = self.http.get(url, params=params, headers={"Accept": GEOJSON})
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    self.content_crs = _crs_of(response.headers.get("content-crs"))
                    try:
                        body = response.json()
                    except ValueError:
                        raise FetchError(
                            f"{response.url} did not answer JSON (content type "
                            f"{response.headers.get('content-type', '?')}): is it an OGC API "
                            "Features service? Check the URL in the fetch configuration"
                        ) from None
                    if not isinstance(body, dict):
                        raise FetchError(f"{response.url} answered JSON that is not an object")
                    return body
                last = f"HTTP {response.status_code} from {response.url}"
                if response.status_code not in RETRY_STATUS:
                    hint = (
                        "check the collection names in the fetch configuration"
                        if response.status_code == 404
                        else "check the URL and parameters in the fetch configuration"
                    )
                    raise FetchError(f"{last}: {response.text[:200]!r}; {hint}")
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait = max(wait, float(retry_after))
            if attempt + 1 < self.attempts:
                self.sleep(wait)
        raise FetchError(
            f"gave up after {self.attempts} attempts: {last}; the service may be down or "
            "unreachable — run the same command again later (it resumes where it stopped)"
        )


def _crs_of(header: str | None) -> str:
    """``EPSG:28992`` for ``<http://www.opengis.net/def/crs/EPSG/0/28992>``; CRS84 when absent."""
    if not header:
        return "OGC:CRS84"
    uri = header.strip().strip("<>")
    if "/EPSG/" in uri:
        return "EPSG:" + uri.rstrip("/").rsplit("/", 1)[-1]
    return "OGC:CRS84"


# ---------------------------------------------------------------------------------------------
# paging with resume
# ---------------------------------------------------------------------------------------------


def _next_link(page: dict[str, Any], base: str) -> str | None:
    for link in page.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return urljoin(base, str(link["href"]))
    return None


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    tmp.replace(path)


@dataclass
class Download:
    """One collection's download: where its pages are kept and what the first request was."""

    name: str
    url: str
    params: dict[str, Any]
    folder: Path

    @property
    def first_url(self) -> str:
        return str(httpx.URL(self.url, params=self.params))

    def state(self) -> dict[str, Any]:
        path = self.folder / "state.json"
        if path.is_file():
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("first_url") == self.first_url:
                return dict(state)
        return {"first_url": self.first_url, "next": self.first_url, "pages": 0, "count": 0}

    def pages(self) -> list[Path]:
        return sorted(self.folder.glob("page-*.geojson"))


def run_download(
    d: Download, client: Client, *, on_page: Callable[[int, int | None], None]
) -> dict[str, Any]:
    """Fetch every page not fetched yet (resuming from ``state.json``); return the final state."""
    d.folder.mkdir(parents=True, exist_ok=True)
    state = d.state()
    if state.get("done"):
        on_page(int(state["count"]), state.get("matched"))
        return state
    for stale in d.pages()[int(state["pages"]) :]:  # a page written after the last saved state
        stale.unlink()
    if state["pages"]:
        on_page(int(state["count"]), state.get("matched"))
    url: str | None = state["next"]
    while url:
        page = client.get_json(url)
        features = page.get("features")
        if not isinstance(features, list):
            raise FetchError(f"{url} answered without a 'features' list: not OGC API Features")
        for f in features:  # keep the feature id (some servers lift the key out of properties)
            if isinstance(f, dict) and f.get("id") is not None:
                props = f.setdefault("properties", {}) or {}
                props.setdefault("id", f["id"])
                f["properties"] = props
        n = int(state["pages"]) + 1
        _write_json(
            d.folder / f"page-{n:05d}.geojson", {"type": "FeatureCollection", "features": features}
        )
        matched = page.get("numberMatched")
        nxt = _next_link(page, url) if features else None
        state.update(
            crs=client.content_crs,
            pages=n,
            count=int(state["count"]) + len(features),
            next=nxt,
            matched=matched if isinstance(matched, int) else state.get("matched"),
        )
        if nxt is None:
            state.update(done=True, fetched_at=_now())
        _write_json(d.folder / "state.json", state)  # after the page: a crash re-fetches it
        on_page(int(state["count"]), state.get("matched"))
        url = nxt
    return state


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------------------------
# pages -> the files the readers read
# ---------------------------------------------------------------------------------------------


def _read_pages(d: Download) -> gpd.GeoDataFrame:
    """The pages of a finished download as one frame in EPSG:28992 (a server that ignored
    ``crs=`` answered CRS84, said by the missing ``Content-Crs``: reprojected here)."""
    crs = str(d.state().get("crs") or "OGC:CRS84")
    parts = [
        pyogrio.read_dataframe(p, use_arrow=True).set_crs(crs, allow_override=True)
        for p in d.pages()
        if p.stat().st_size > 60  # (an empty FeatureCollection)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:28992"), crs="EPSG:28992")
    gdf = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    ident = ("identificatie", "identificatie_lokaal_id")
    if "id" in gdf.columns and not any(c in gdf.columns for c in ident):
        gdf = gdf.rename(columns={"id": "identificatie"})  # the object's key served as feature id
    # pages overlap nothing, but a bbox query on a changing service may repeat a feature
    key = next((c for c in ("identificatie", "id", "identificatie_lokaal_id") if c in gdf), None)
    if key is not None:
        gdf = gdf[~gdf[key].duplicated(keep="last")]
    return gpd.GeoDataFrame(gdf, geometry="geometry").to_crs("EPSG:28992")


def _pand_of_units(vbo: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """PDOK's verblijfsobject may name its pand(en) under another field (a relation such as
    ``pand`` with hrefs or ids): give the readers ``pand_identificatie`` (the first 16-digit id)."""
    if "pand_identificatie" in vbo.columns or not len(vbo):
        return vbo
    for col in [c for c in vbo.columns if "pand" in c.lower() and c != "geometry"]:
        ids = vbo[col].astype("str").str.extract(r"(\d{16})", expand=False)
        if ids.notna().any():
            return vbo.assign(pand_identificatie=ids)
    return vbo


def _write_layers(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Write layers to a new GeoPackage next to ``path`` and rename it into place."""
    tmp = path.with_name(path.name + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    for name, gdf in layers.items():
        gdf = gdf.copy()
        for col in gdf.columns:  # lists (JSON arrays) as comma-separated text, like PDOK's GPKG
            if col != "geometry" and gdf[col].dtype == object:
                gdf[col] = gdf[col].map(
                    lambda v: (
                        ",".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v
                    )
                )
        pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG", append=tmp.exists())
    tmp.replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# the sources no service delivers
# ---------------------------------------------------------------------------------------------

#: sources.yaml key -> (path in DIR, where a user gets it); formats from the catalog's registry.
NOT_FETCHED = {
    "zoning": (
        "bestemmingsplannen/",
        "the municipality's bestemmingsplannen as IMRO GML: ruimtelijkeplannen.nl (per plan: "
        "'Download GML'), or the municipality itself",
    ),
    "vacancy": (
        "leegstand.csv",
        "the municipality's own vacancy register (Leegstandsregistratie or the municipality's "
        "makelaars/WOZ data), as CSV with verblijfsobject_id;leegstand_sinds;bron",
    ),
    "ownership": (
        "eigendom.gpkg",
        "the municipality's or province's own land ownership (Kadaster BRK eigendomsgegevens are "
        "not open data), polygons with eigenaar_klasse and eigenaar_naam",
    ),
    "transit_stops": (
        "ov_haltes/stops.txt",
        "a GTFS feed of the Netherlands (gtfs.ovapi.nl: gtfs-nl.zip) or the NDOV Loket; unpack "
        "stops.txt, routes.txt, trips.txt and stop_times.txt into ov_haltes/",
    ),
    "noise": (
        "geluid_lden.tif",
        "a noise map in dB Lden as GeoTIFF (RIVM Atlas Leefomgeving, 'Geluid in Nederland')",
    ),
    "exclusion_zones": (
        "uitsluitingen.gpkg",
        "Natura 2000 (PDOK), the province's Natuurnetwerk Nederland and external-safety zones "
        "(risicokaart), as polygons with a column kind",
    ),
    "housing_plans": (
        "woningbouwplannen.gpkg",
        "the province's Monitor Plancapaciteit (Zuid-Holland: the plan-capacity file the "
        "province shares with municipalities)",
    ),
    "bsd": (
        "bsd.gpkg",
        "the province's bestaand stads- en dorpsgebied (Zuid-Holland: Omgevingsverordening, "
        "the province's open geodata)",
    ),
}


def _placeholders(out: Path) -> list[str]:
    """Valid empty vacancy and ownership files, so the scan runs and says that nothing is
    known (each gives a warning); written only when the user has not put a file there."""
    made = []
    vacancy = out / NOT_FETCHED["vacancy"][0]
    if not vacancy.exists():
        vacancy.write_text(
            "# placeholder written by kansenkaart fetch: no vacancy is known until you fill in\n"
            "# the municipality's vacancy register (one row per vacant verblijfsobject)\n"
            "verblijfsobject_id;leegstand_sinds;bron\n",
            encoding="utf-8",
        )
        made.append("vacancy")
    ownership = out / NOT_FETCHED["ownership"][0]
    if not ownership.exists():
        gpd.GeoDataFrame(
            {
                "eigenaar_klasse": pd.Series([], dtype="str"),
                "eigenaar_naam": pd.Series([], dtype="str"),
            },
            geometry=gpd.GeoSeries([], crs="EPSG:28992"),
            crs="EPSG:28992",
        ).to_file(ownership, layer="eigendom", driver="GPKG")
        made.append("ownership")
    return made


def _sources_yaml(code: str, date: str, placeholders: list[str]) -> str:
    lines = [
        f"# Written by `kansenkaart fetch --gemeente {code}` on {date}.",
        "# municipalities, parcels and buildings were fetched (see fetch_manifest.json); the",
        "# others are not published as open services: put them at the paths below (see the",
        "# comment of each), then run `kansenkaart check --sources sources.yaml`.",
        "sources:",
        f"  municipalities: {{path: gemeenten.geojson, format: cbs, date: {date}}}",
        f"  parcels: {{path: kadastralekaart.gpkg, format: brk, layer: perceel, date: {date}}}",
        f"  buildings: {{path: bag.gpkg, format: bag, date: {date}}}",
    ]
    from pipeline.catalog.registry import SOURCE_KINDS

    for key, (path, where) in NOT_FETCHED.items():
        kind = SOURCE_KINDS[key]
        note = " (an empty placeholder: nothing is known yet)" if key in placeholders else ""
        lines.append(f"  # {key}: {where}{note}")
        optional = ", optional: true" if kind.optional else ""
        lines.append(f"  {key}: {{path: {path}, format: {kind.format}{optional}}}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------


@dataclass
class FetchResult:
    out: Path
    manifest: dict[str, Any]
    not_fetched: dict[str, str]


def _municipality(
    client: Client, cfg: MunicipalityService, code: str
) -> tuple[dict[str, Any], str, str]:
    url = f"{cfg.url.rstrip('/')}/collections/{cfg.collection}/items"
    params = {"f": "json", cfg.code_property: code, "crs": RD_URI, "limit": 10}
    page = client.get_json(url, params)
    features = [
        f
        for f in page.get("features") or []
        if str((f.get("properties") or {}).get(cfg.code_property, "")).upper() == code
    ]
    if not features:
        raise FetchError(
            f"municipality {code} not found in {url} (property '{cfg.code_property}'): check the "
            "code (CBS codes such as GM0599) and the year of the service in the fetch "
            "configuration (municipalities merge: Weesp GM0457 is part of Amsterdam from 2022)"
        )
    return (
        {"type": "FeatureCollection", "features": features[:1]},
        str(httpx.URL(url, params=params)),
        client.content_crs,
    )


def fetch_municipality(
    code: str,
    out: Path,
    *,
    config: FetchConfig,
    console: Console | None = None,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Download municipality ``code``'s boundary, parcels and BAG into ``out`` (see module doc).

    Raises
    ------
    InputError
        A code that is not ``GM`` + 4 digits, or an ``out`` that is a file.
    FetchError
        A service that cannot be reached after every retry, or answers what is not OGC API
        Features. The pages fetched so far are kept: run again to resume.
    """
    code = code.strip().upper()
    if not (len(code) == 6 and code.startswith("GM") and code[2:].isdigit()):
        raise InputError(
            Problem(f"'{code}' is not a municipality code", fix="pass a CBS code such as GM0599")
        )
    if out.exists() and not out.is_dir():
        raise InputError(Problem("not a folder", fix="pass --out with a folder", file=str(out)))
    out.mkdir(parents=True, exist_ok=True)
    state_dir = out / STATE_DIR / code
    own = http is None
    http = http or httpx.Client(timeout=config.timeout_s, follow_redirects=True)
    client = Client(http, attempts=config.attempts, backoff_s=config.backoff_s, sleep=sleep)
    console = console or Console(stderr=True)
    try:
        boundary, boundary_url, boundary_crs = _municipality(client, config.municipalities, code)
        mun_path = out / "gemeenten.geojson"
        _write_json(mun_path.with_suffix(".tmp"), boundary)
        mun = pyogrio.read_dataframe(mun_path.with_suffix(".tmp"))
        # coordinates in the CRS the server said (Content-Crs), else GeoJSON's CRS84
        mun = mun.set_crs(boundary_crs, allow_override=True).to_crs("EPSG:28992")
        pyogrio.write_dataframe(mun, mun_path.with_suffix(".tmp.geojson"), driver="GeoJSON")
        mun_path.with_suffix(".tmp").unlink()
        mun_path.with_suffix(".tmp.geojson").replace(mun_path)
        x0, y0, x1, y1 = (float(v) for v in mun.total_bounds)
        bbox = f"{x0:.3f},{y0:.3f},{x1:.3f},{y1:.3f}"
        common = {
            "f": "json",
            "bbox": bbox,
            "bbox-crs": RD_URI,
            "crs": RD_URI,
            "limit": config.page_size,
        }

        def items(base: str, collection: str) -> str:
            return f"{base.rstrip('/')}/collections/{collection}/items"

        b = config.buildings
        downloads = {
            "perceel": Download(
                "perceel",
                items(config.parcels.url, config.parcels.collection),
                common,
                state_dir / "perceel",
            ),
            "pand": Download("pand", items(b.url, b.pand_collection), common, state_dir / "pand"),
            "verblijfsobject": Download(
                "verblijfsobject",
                items(b.url, b.verblijfsobject_collection),
                common,
                state_dir / "verblijfsobject",
            ),
        }
        states: dict[str, dict[str, Any]] = {}
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            for name, d in downloads.items():
                task = progress.add_task(f"{code} {name}", total=None)

                def on_page(count: int, matched: int | None, task: Any = task) -> None:
                    progress.update(task, completed=count, total=matched)

                states[name] = run_download(d, client, on_page=on_page)
                progress.update(task, total=states[name]["count"], completed=states[name]["count"])
        parcels = _read_pages(downloads["perceel"])
        pand = _read_pages(downloads["pand"])
        vbo = _pand_of_units(_read_pages(downloads["verblijfsobject"]))
        _write_layers(out / "kadastralekaart.gpkg", {"perceel": parcels})
        _write_layers(out / "bag.gpkg", {"pand": pand, "verblijfsobject": vbo})
    finally:
        if own:
            http.close()
    today = dt.date.today().isoformat()
    files = [
        ("municipalities", mun_path, boundary_url, len(mun), _now()),
        (
            "parcels",
            out / "kadastralekaart.gpkg",
            downloads["perceel"].first_url,
            len(parcels),
            states["perceel"].get("fetched_at"),
        ),
        (
            "buildings",
            out / "bag.gpkg",
            downloads["pand"].first_url,
            len(pand),
            states["pand"].get("fetched_at"),
        ),
        (
            "buildings",
            out / "bag.gpkg",
            downloads["verblijfsobject"].first_url,
            len(vbo),
            states["verblijfsobject"].get("fetched_at"),
        ),
    ]
    layers_of = {0: None, 1: "perceel", 2: "pand", 3: "verblijfsobject"}
    manifest = {
        "gemeente": code,
        "gemeentenaam": str(mun.iloc[0].get("gemeentenaam", mun.iloc[0].get("statnaam", ""))),
        "bbox_rd": [x0, y0, x1, y1],
        "fetched_at": _now(),
        "software": "kansenkaart fetch",
        "downloads": [
            {
                "source": source,
                "path": path.name,
                "layer": layers_of[k],
                "url": url,
                "fetched_at": at,
                "count": int(n),
                "sha256": _sha256(path),
            }
            for k, (source, path, url, n, at) in enumerate(files)
        ],
        "not_fetched": {k: v[1] for k, v in NOT_FETCHED.items()},
    }
    _write_json(out / MANIFEST, manifest)
    placeholders = _placeholders(out)
    (out / "sources.yaml.tmp").write_text(
        _sources_yaml(code, today, placeholders), encoding="utf-8"
    )
    (out / "sources.yaml.tmp").replace(out / "sources.yaml")
    return FetchResult(out, manifest, {k: v[1] for k, v in NOT_FETCHED.items()})


def run_fetch_command(
    code: str, out: Path, *, config_path: Path | None, console: Console
) -> FetchResult:
    """``kansenkaart fetch``: fetch, then print what was fetched and what the user must add."""
    config = load_fetch_config(config_path)
    result = fetch_municipality(code, out, config=config, console=console)
    m = result.manifest
    console.print(
        f"[green]fetched[/] {escape(m['gemeente'])} {escape(m['gemeentenaam'])} into {escape(str(out))}:"
    )
    for d in m["downloads"]:
        layer = f" ({d['layer']})" if d["layer"] else ""
        console.print(f"  {d['source']:<15} {d['count']:>9,}  {escape(d['path'])}{escape(layer)}")
    console.print("[yellow]not fetched[/] (no open service; see the comments in sources.yaml):")
    for key, where in result.not_fetched.items():
        console.print(f"  {key:<15} {escape(where)}", soft_wrap=True)
    console.print(
        f"next: add those files, then [bold]kansenkaart check --sources {escape(str(out / 'sources.yaml'))}[/]"
    )
    return result


def read_manifest(sources_dir: Path) -> dict[str, Any] | None:
    """The ``fetch_manifest.json`` next to a sources.yaml, or ``None``."""
    path = sources_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
