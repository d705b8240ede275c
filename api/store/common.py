"""What both :class:`~api.store.data.DataStore` implementations share, so their answers agree.

The GeoPackage store (:mod:`api.store.gpkg`) and the PostGIS store (:mod:`api.store.postgis`)
differ in where rows come from; the rules that shape an answer live here once: page cursors and
the paging loop, the run information read from ``run_metadata``, the "why (not) here?" answer and
its Dutch summary, and the private cache of exports.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

from api.errors import ApiError, Forbidden, InvalidParameter, InvalidRequest, NotFound
from api.security import Scope
from api.store.data import (
    CANDIDATE_LAYERS,
    CRS84,
    RD_NEW,
    BBox,
    ExportInfo,
    FeaturePage,
    ItemsPage,
    RunInfo,
)
from api.store.data import EXCLUDED_LAYERS as EXCLUDED_LAYERS  # (the stores import it from here)

#: Search radius (m) around a clicked point for point candidates (plinten).
POINT_TOLERANCE_M = 15.0
#: The search index and orientation layers (issue 12): exported only with the excluded layers
#: (large, and public BAG/BRK data).
INDEX_LAYERS = ("zoekindex", "orientatie_namen", "orientatie_water")
RD = "EPSG:28992"


def transformer(src: CRS, dst: str) -> Transformer:
    """A cached lon/lat-ordered transformer from ``src`` to ``dst``."""
    return _cached_transformer(src.to_wkt(), dst)


@functools.lru_cache(maxsize=32)
def _cached_transformer(src_wkt: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), dst, always_xy=True)


def scoped_bounds(
    bounds_wgs: Mapping[str, tuple[float, float, float, float]], scope: Scope
) -> tuple[float, float, float, float] | None:
    """The WGS84 box around the municipalities in scope (``None`` when there are none)."""
    boxes = [b for c, b in bounds_wgs.items() if scope.allows(c)]
    if not boxes:
        return None
    arr = np.array(boxes)
    return (
        float(arr[:, 0].min()),
        float(arr[:, 1].min()),
        float(arr[:, 2].max()),
        float(arr[:, 3].max()),
    )


# -- small value helpers ------------------------------------------------------------------------
def json_value(text: Any) -> Any:
    """A ``run_metadata`` or ``explanation`` text parsed as JSON (the text itself if it is not)."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def split_text(text: Any, sep: str) -> list[str]:
    """A joined text column (reason codes, reasons) as a list without empty parts."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [t.strip() for t in text.split(sep) if t.strip()]


def file_name(path: Any) -> Any:
    """Only the file name of a server path (``/data/raw/bag.gpkg`` → ``bag.gpkg``): answers and
    exports never tell where the server keeps its files."""
    if not isinstance(path, str) or not path:
        return path
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def run_info(metadata: dict[str, Any]) -> RunInfo:
    """The run id, finish time, synthetic flag and input sources of a result's ``run_metadata``."""
    synthetic = metadata.get("synthetic", False)
    if isinstance(synthetic, str):
        synthetic = synthetic.strip().lower() == "true"
    sources = []
    inputs = metadata.get("inputs") or []
    if isinstance(inputs, list):
        for item in inputs:
            if isinstance(item, dict):
                sources.append(
                    {
                        "source": item.get("source"),
                        "date": item.get("date"),
                        "path": file_name(item.get("path")),  # never a server path
                    }
                )
    run_id = metadata.get("run_id")
    finished = metadata.get("finished_at")
    tiers = metadata.get("tiers")
    return RunInfo(
        run_id=str(run_id) if run_id is not None else None,
        finished_at=str(finished) if finished is not None else None,
        synthetic=bool(synthetic),
        sources=sources,
        tiers={
            str(k): float(v)
            for k, v in (tiers.items() if isinstance(tiers, dict) else ())
            if isinstance(v, int | float)
        },
    )


# -- feature pages ------------------------------------------------------------------------------
def encode_cursor(layer: str, site_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([layer, site_id]).encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str,
    *,
    layers: tuple[str, ...] = CANDIDATE_LAYERS,
    error: type[ApiError] = InvalidRequest,
) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        layer, site_id = json.loads(raw)
        if layer not in layers or not isinstance(site_id, str):
            raise ValueError
        return layer, site_id
    except (ValueError, TypeError, UnicodeDecodeError):
        raise error("Ongeldige cursor: gebruik de next_cursor van de vorige pagina.") from None


#: ``fetch(layer, after, n)``: the first ``n`` matching features of ``layer`` in ``site_id``
#: order whose ``site_id`` is greater than ``after`` (all when ``None``), as (site_id, GeoJSON).
FetchFeatures = Callable[[str, str | None, int], Sequence[tuple[str, str]]]


def paginate(
    layer: str | None, *, limit: int, cursor: str | None, fetch: FetchFeatures
) -> FeaturePage:
    """One page over the candidate layers (in :data:`CANDIDATE_LAYERS` order, each by ``site_id``).

    The page holds at most ``limit`` features; ``next_cursor`` points after its last one, or at
    the start of the next layer that still has features, and is ``None`` at the end.
    """
    names = [layer] if layer else list(CANDIDATE_LAYERS)
    start_layer, after = None, None
    if cursor:
        start_layer, after = decode_cursor(cursor)
        if start_layer not in names:
            raise InvalidRequest("Ongeldige cursor voor deze laag.")
        names = names[names.index(start_layer) :]
    out: list[str] = []
    for name in names:
        room = limit - len(out)
        rows = fetch(name, after if name == start_layer else None, room + 1)
        if room == 0:
            if rows:
                return FeaturePage(out, encode_cursor(name, ""))
            continue
        out.extend(feature for _, feature in rows[:room])
        if len(rows) > room:
            return FeaturePage(out, encode_cursor(name, rows[room - 1][0]))
    return FeaturePage(out, None)


# -- the excluded layers as OGC API collections -------------------------------------------------
#: The natural id of each excluded layer (the feature id of its OGC API collection).
EXCLUDED_IDS = {"uitgesloten_percelen": "parcel_id", "uitgesloten_panden": "pand_id"}

#: ``fetch(after, n)``: up to ``n`` rows with a feature id (``fid``) greater than ``after``, in
#: ``fid`` order, in the caller's scope and meeting the store's box prefilter, each as
#: ``(fid, properties, RD geometry)``.
FetchExcluded = Callable[[int, int], Sequence[tuple[int, dict[str, Any], Any]]]


def bbox_in_rd(bbox: BBox) -> Any:
    """The area of ``bbox`` in RD New: the box itself, or a lon/lat box as an RD polygon (its
    edges densified into 32 pieces, since they curve in RD)."""
    import shapely

    box = shapely.box(bbox.minx, bbox.miny, bbox.maxx, bbox.maxy)
    if bbox.crs == RD_NEW:
        return box
    step = max(bbox.maxx - bbox.minx, bbox.maxy - bbox.miny) / 32 or 1e-6
    tr = transformer(CRS.from_user_input("EPSG:4326"), RD)
    return shapely.transform(
        shapely.segmentize(box, step), lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1]))
    )


def excluded_features(
    rows: Sequence[tuple[int, dict[str, Any], Any]], *, id_column: str, crs: str
) -> list[str]:
    """GeoJSON features of excluded rows, in WGS84 (7 decimals) or RD New (3)."""
    import shapely

    if not rows:
        return []
    geoms = np.array([g for _, _, g in rows], dtype=object)
    if crs == CRS84:
        tr = transformer(CRS.from_user_input(RD), "EPSG:4326")
        coords = lambda c: np.round(np.column_stack(tr.transform(c[:, 0], c[:, 1])), 7)  # noqa: E731
    else:
        coords = lambda c: np.round(c, 3)  # noqa: E731
    texts = shapely.to_geojson(shapely.transform(geoms, coords)).tolist()
    out = []
    for (_, props, _), text in zip(rows, texts, strict=True):
        clean = {k: _plain(v) for k, v in props.items()}
        out.append(
            f'{{"type":"Feature","id":{json.dumps(str(clean[id_column]))},'
            f'"geometry":{text or "null"},"properties":{json.dumps(clean, ensure_ascii=False)}}}'
        )
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def excluded_page(
    collection: str,
    *,
    fetch: FetchExcluded,
    matched: int | None,
    shape: Any,
    crs: str,
    limit: int,
    cursor: str | None,
) -> ItemsPage:
    """One page of an excluded layer: rows in ``fid`` order (the layers are too large to sort
    per request), the exact ``shape`` test (RD) applied here so both stores agree; the cursor
    holds the last ``fid`` (the api seals it: a row number must not reach the client)."""
    import shapely

    after = -1
    if cursor:
        _, key = decode_cursor(cursor, layers=(collection,), error=InvalidParameter)
        if not key.isdigit():
            raise InvalidParameter("Ongeldige cursor: volg de next-link van de vorige pagina.")
        after = int(key)
    kept: list[tuple[int, dict[str, Any], Any]] = []
    more = False
    while True:  # the exact test may drop rows: read on until the page is full
        wanted = limit + 1 - len(kept)
        rows = list(fetch(after, wanted))
        if rows:
            after = int(rows[-1][0])
        read = len(rows)
        if shape is not None and rows:
            hits = shapely.intersects(np.array([g for _, _, g in rows], dtype=object), shape)
            rows = [r for r, hit in zip(rows, hits, strict=True) if hit]
        kept += rows
        if len(kept) > limit:
            more, kept = True, kept[:limit]
            break
        if read < wanted:
            break
    return ItemsPage(
        features=excluded_features(kept, id_column=EXCLUDED_IDS[collection], crs=crs),
        number_matched=matched,
        next_cursor=encode_cursor(collection, str(kept[-1][0])) if more else None,
    )


# -- why (not) here? ----------------------------------------------------------------------------
def why_point(x: float, y: float, crs: str) -> tuple[float, float, dict[str, float]]:
    """The clicked point in RD New and the answer's ``location`` (lon/lat and RD, rounded)."""
    if crs == RD:
        rx, ry = x, y
        lon, lat = transformer(CRS.from_user_input(RD), "EPSG:4326").transform(x, y)
    else:
        lon, lat = x, y
        rx, ry = transformer(CRS.from_user_input("EPSG:4326"), RD).transform(x, y)
    if not (math.isfinite(rx) and math.isfinite(ry)):
        raise InvalidRequest("Dit punt kan niet worden omgerekend naar RD New.")
    location = {
        "lon": round(lon, 7),
        "lat": round(lat, 7),
        "rd_x": round(rx, 2),
        "rd_y": round(ry, 2),
    }
    return rx, ry, location


def why_answer(
    *,
    location: dict[str, float],
    gemeentecode: str | None,
    gemeentenaam: str | None,
    candidates: list[dict[str, Any]],
    parcel: dict[str, Any] | None,
    building: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``/api/why`` answer from what a store found at the point (rows as column → value)."""
    result: dict[str, Any] = {
        "location": location,
        "gemeentecode": gemeentecode,
        "gemeentenaam": gemeentenaam,
        "candidates": candidates,
        "parcel": None,
        "building": None,
        "summary": "",
    }
    if gemeentecode is None:
        result["summary"] = "Dit punt ligt buiten het gescande gebied."
        return result
    if parcel is not None:
        result["parcel"] = {
            "parcel_id": parcel.get("parcel_id"),
            "reason_codes": split_text(parcel.get("reason_codes"), ","),
            "reasons": split_text(parcel.get("reasons"), "\n"),
        }
    if building is not None:
        result["building"] = {
            "pand_id": building.get("pand_id"),
            "kantoor_reason_codes": split_text(building.get("kantoor_reason_codes"), ","),
            "kantoor_reasons": split_text(building.get("kantoor_reasons"), "\n"),
            "plint_reason_codes": split_text(building.get("plint_reason_codes"), ","),
            "plint_reasons": split_text(building.get("plint_reasons"), "\n"),
        }
    result["summary"] = why_summary(result)
    return result


def why_summary(result: dict[str, Any]) -> str:
    """The Dutch sentence that sums up a ``/api/why`` answer."""
    cands = result["candidates"]
    if cands:
        best = max(cands, key=lambda c: c["score"] if c["score"] is not None else -1)
        what = best.get("label") or best["site_id"]
        return f"Hier ligt een kans: {what} (score {best['score']}, klasse {best['tier']})."
    parts = []
    if result["parcel"] and result["parcel"]["reasons"]:
        parts.append("Perceel: " + " ".join(result["parcel"]["reasons"]))
    if result["building"]:
        b = result["building"]
        reasons = b["kantoor_reasons"] + b["plint_reasons"]
        if reasons:
            parts.append("Pand: " + " ".join(reasons))
    if not result["building"]:
        parts.append(
            "Panden zonder kantoor- of winkelruimte komen niet in aanmerking voor kantoor- of "
            "plinttransformatie."
        )
    if result["parcel"] or result["building"]:
        return "Geen kans op deze plek. " + " ".join(parts)
    return ("Op deze plek ligt geen kans en geen perceel uit de scan. " + " ".join(parts)).strip()


# -- exports ------------------------------------------------------------------------------------
class ExportCache:
    """Built exports, one file per (result version, municipality, with excluded layers), kept in a
    private temporary directory (mode 0700) until the store closes.

    An export depends only on the data version and the municipality (the scope decides *whether*
    one may have it, not what is in it), so repeated downloads are served from here; files of
    replaced results are removed after a grace period for downloads in flight.
    """

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._lock = threading.Lock()
        #: Exports being built: their lock and how many requests use it (so the table stays small).
        self._locks: dict[tuple[str, str, bool], tuple[threading.Lock, list[int]]] = {}

    def get(
        self,
        version: str,
        gemeentecode: str,
        include_excluded: bool,
        build: Callable[[Path], dict[str, int]],
        *,
        scope: Scope,
        known: Collection[str],
    ) -> ExportInfo:
        """The cached export, or ``build(tmp_path)`` (→ feature counts) renamed into place.

        Refused outside ``scope`` (403) and for a municipality not in the result (404).
        """
        if not scope.allows(gemeentecode):
            raise Forbidden("Deze gemeente valt buiten uw toegang.")
        if gemeentecode not in known:
            raise NotFound(f"Gemeente {gemeentecode} komt niet voor in het scanresultaat.")
        key = (version, gemeentecode, include_excluded)
        with self._lock:  # one lock per export being built, dropped when nobody waits for it
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                return self._get(version, gemeentecode, include_excluded, build)
        finally:
            with self._lock:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]

    def _get(
        self,
        version: str,
        gemeentecode: str,
        include_excluded: bool,
        build: Callable[[Path], dict[str, int]],
    ) -> ExportInfo:
        folder = self._folder()
        dest = folder / f"{version}-{gemeentecode}{'-volledig' if include_excluded else ''}.gpkg"
        meta = dest.with_suffix(".json")
        if dest.exists() and meta.exists():
            return ExportInfo(dest, json.loads(meta.read_text()))
        tmp = folder / f".{dest.stem}.{threading.get_ident()}.tmp.gpkg"
        try:
            counts = build(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(dest)
        meta.write_text(json.dumps(counts))
        self._evict(keep_version=version)
        return ExportInfo(dest, counts)

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _folder(self) -> Path:
        if self._dir is None or not self._dir.is_dir():
            self._dir = Path(tempfile.mkdtemp(prefix="kansenkaart-exports-"))  # mode 0700
        return self._dir

    def _evict(self, *, keep_version: str, keep_files: int = 16) -> None:
        """Drop exports of older results (after 5 minutes) and the least recent beyond ``keep_files``."""
        folder = self._folder()
        now = time.time()
        files = sorted(folder.glob("*.gpkg"), key=lambda p: p.stat().st_mtime, reverse=True)
        for i, path in enumerate(files):
            stale = not path.name.startswith(keep_version) and now - path.stat().st_mtime > 300
            if stale or i >= keep_files:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
