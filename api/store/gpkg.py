"""The :class:`~api.store.data.DataStore` for the result GeoPackage (docs/contracts.md §C).

At load the candidate layers and the municipality summary are read once with pyogrio (Arrow),
reprojected once to EPSG:3857 (tiles) and EPSG:4326 (GeoJSON, serialised per feature up front)
and indexed with STRtrees. The big layers of excluded parcels and buildings stay on disk and are
queried through the GeoPackage's own R-tree when someone asks "why not here?". When a new scan
replaces the file (new inode, mtime or size) the next request loads it and swaps it in; requests
in flight keep the snapshot they started with. Exports are written by GDAL
(:func:`api.store.export.export_gemeente`) and cached per result version and municipality.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from api import tiles as mvt
from api.errors import (
    Forbidden,
    InvalidParameter,
    NotFound,
    ResultUnavailable,
)
from api.security import Scope
from api.store.common import (
    EXCLUDED_IDS,
    POINT_TOLERANCE_M,
    RD,
    ExportCache,
    bbox_in_rd,
    decode_cursor,
    encode_cursor,
    excluded_features,
    excluded_page,
    json_value,
    paginate,
    run_info,
    scoped_bounds,
    transformer,
    why_answer,
    why_point,
)
from api.store.data import (
    CANDIDATE_LAYERS,
    CRS84,
    DETAIL_ZOOM,
    EXCLUDED_LAYERS,
    GEMEENTE_TILE_FIELDS,
    RD_NEW,
    TILE_DETAIL_FIELDS,
    TILE_FIELDS,
    ZOOMS,
    BBox,
    ExportInfo,
    FeaturePage,
    Filters,
    ItemsPage,
    RunInfo,
)
from api.store.export import export_gemeente
from api.store.gpkg_worktool import WorkToolQueries

log = logging.getLogger("kansenkaart.api")


# -- helpers ------------------------------------------------------------------------------------
def _reproject(geoms: np.ndarray, tr: Transformer, *, decimals: int | None = None) -> np.ndarray:
    def fn(c: np.ndarray) -> np.ndarray:
        x, y = tr.transform(c[:, 0], c[:, 1])
        out = np.column_stack([x, y])
        return np.round(out, decimals) if decimals is not None else out

    return shapely.transform(geoms, fn)


def _texts(values: Any) -> np.ndarray:
    """Strings as an object array for ``np.isin`` (a fixed-width unicode array would drop
    trailing NUL characters, so "GM0901\\x00" would match GM0901)."""
    return np.array(list(values), dtype=object)


def _json_lines(df: pd.DataFrame) -> list[str]:
    if df.empty:
        return []
    text = df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
    return text.rstrip("\n").split("\n")


def _py(values: pd.Series) -> np.ndarray:
    """A column as an object array of Python scalars, ``None`` for missing."""
    out = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    return out


def _scalar(value: Any) -> Any:
    """A table cell as a JSON-friendly Python value (``None`` for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _explanation(path: Path, table: str, fid: int) -> str | None:
    """The ``explanation`` of one candidate, read from the GeoPackage by feature id."""
    con = _connect_ro(path)
    try:
        cols = con.execute(f'PRAGMA table_info("{table}")').fetchall()
        if not any(c["name"] == "explanation" for c in cols):
            return None
        pk = next((c["name"] for c in cols if c["pk"]), "fid")
        row = con.execute(f'SELECT explanation FROM "{table}" WHERE "{pk}" = ?', (fid,)).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def _gpkg_geometry(blob: bytes | None) -> shapely.Geometry | None:
    """Decode a GeoPackage geometry blob (header + WKB)."""
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0x07, 0)
    return shapely.from_wkb(blob[8 + envelope :])


def _features(ids: list[str], geoms: np.ndarray, props: list[str]) -> list[str]:
    """Serialised GeoJSON features from ids, geometries and serialised properties."""
    texts = shapely.to_geojson(geoms).tolist() if len(geoms) else []
    return [
        f'{{"type":"Feature","id":{json.dumps(i)},"geometry":{g or "null"},"properties":{p}}}'
        for i, g, p in zip(ids, texts, props, strict=True)
    ]


def _rd_geometries(geoms: np.ndarray) -> np.ndarray:
    """RD New geometries rounded to the millimetre, for GeoJSON in EPSG:28992."""
    return shapely.transform(geoms, lambda c: np.round(c, 3))


@dataclass(frozen=True)
class _Collection:
    """What :meth:`GeoPackageStore.items` needs of a loaded layer, whatever its kind."""

    ids: np.ndarray  # sorted ascending
    gemeentecode: np.ndarray
    tree_rd: shapely.STRtree
    tree_merc: shapely.STRtree
    serialise: Callable[[np.ndarray, str], list[str]]  # (positions, crs) -> features
    index: pd.Index


# -- the loaded data ----------------------------------------------------------------------------
@dataclass
class LoadedLayer:
    name: str
    point: bool
    attrs: (
        pd.DataFrame
    )  # file order; position p is row order[p]; no ``explanation`` (read on demand)
    order: np.ndarray
    fids: np.ndarray  # GeoPackage feature ids, by position
    site_ids: np.ndarray
    index: pd.Index
    gemeentecode: np.ndarray
    score: np.ndarray
    capacity: np.ndarray
    owner_class: np.ndarray
    tier: np.ndarray
    geom_rd: np.ndarray
    geom_merc: np.ndarray
    geom_wgs: np.ndarray
    tree_merc: shapely.STRtree
    tree_rd: shapely.STRtree
    tile_props: dict[str, np.ndarray]

    def geojson_features(self, positions: np.ndarray, crs: str = CRS84) -> list[str]:
        """GeoJSON features (every column but ``explanation``) for these positions, in WGS84
        (:data:`CRS84`) or RD New (:data:`RD_NEW`)."""
        if len(positions) == 0:
            return []
        props = _json_lines(self.attrs.iloc[self.order[positions]])
        geoms = (
            self.geom_wgs[positions] if crs == CRS84 else _rd_geometries(self.geom_rd[positions])
        )
        return _features(self.site_ids[positions].tolist(), geoms, props)

    def cell(self, position: int, column: str) -> Any:
        """One attribute of the feature at ``position``."""
        if column not in self.attrs.columns:
            return None
        return _scalar(self.attrs[column].iat[int(self.order[position])])


@dataclass
class LoadedGemeenten:
    codes: np.ndarray
    fids: np.ndarray  # GeoPackage feature ids, in code order
    names: dict[str, str]
    geom_rd: np.ndarray
    geom_merc: np.ndarray
    tree_rd: shapely.STRtree
    tree_merc: shapely.STRtree
    bounds_wgs: dict[str, tuple[float, float, float, float]]
    bounds_rd: dict[str, tuple[float, float, float, float]]
    features: list[str]
    props: list[str]  # each feature's properties, serialised
    tile_props: dict[str, np.ndarray]
    index: pd.Index  # by code

    def geojson_features(self, positions: np.ndarray, crs: str = CRS84) -> list[str]:
        """The summary features at these positions, in WGS84 or RD New."""
        if crs == CRS84:
            return [self.features[i] for i in positions.tolist()]
        return _features(
            self.codes[positions].tolist(),
            _rd_geometries(self.geom_rd[positions]),
            [self.props[i] for i in positions.tolist()],
        )


@dataclass
class _Excluded:
    table: str
    pk: str
    geom: str
    rtree: str | None
    columns: set[str]
    fields: tuple[str, ...]  # every column but the primary key and the geometry, in table order
    id_column: str  # the natural id (parcel_id, pand_id): the OGC API's feature id


@dataclass
class _Snapshot:
    path: Path
    signature: tuple[int, int, int]
    version: str
    layers: dict[str, LoadedLayer]
    gemeenten: LoadedGemeenten
    excluded: dict[str, _Excluded]
    metadata: dict[str, Any]
    run: RunInfo


def read_layer(path: Path, name: str, *, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    columns = None
    if skip:
        fields = [str(f) for f in pyogrio.read_info(path, layer=name)["fields"]]
        columns = [f for f in fields if f not in skip]
    return pyogrio.read_dataframe(
        path, layer=name, columns=columns, use_arrow=True, fid_as_index=True
    )


def load_candidates(gdf: Any, name: str) -> LoadedLayer:
    if "site_id" not in gdf.columns:
        raise ValueError(f"layer '{name}' has no site_id column")
    # Per-feature arrays are kept in site_id order ("positions"); the attribute table stays in
    # file order and is reached through ``order`` (sorting it would copy every column).
    site_ids_file = gdf["site_id"].astype(str).to_numpy(dtype=object)
    order = np.argsort(site_ids_file, kind="stable")
    crs = gdf.crs or CRS.from_user_input(RD)
    geom_src = gdf.geometry.to_numpy()[order]
    to_rd = crs.equals(CRS.from_user_input(RD))
    geom_rd = geom_src if to_rd else _reproject(geom_src, transformer(crs, RD))
    geom_wgs_full = _reproject(geom_src, transformer(crs, "EPSG:4326"))
    geom_merc = shapely.transform(
        geom_wgs_full, lambda c: np.column_stack(mvt.lonlat_to_3857(c[:, 0], c[:, 1]))
    )
    geom_wgs = shapely.transform(geom_wgs_full, lambda c: np.round(c, 7))
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    for col in ("gemeentecode", "owner_class", "tier", "label"):
        if col not in attrs.columns:
            attrs[col] = None
    for col in ("score", "capacity_units", "rank"):
        if col not in attrs.columns:
            attrs[col] = np.nan
    # Arrow-backed string columns make row takes slow (chunk handling per column); plain object
    # columns make a 1,000-row page a few milliseconds. ``explanation`` is only read one at a time.
    for col in attrs.columns:
        if col != "explanation" and pd.api.types.is_string_dtype(attrs[col].dtype):
            attrs[col] = attrs[col].to_numpy(dtype=object)
    tile_props: dict[str, np.ndarray] = {}
    for col in (*TILE_FIELDS, *TILE_DETAIL_FIELDS):
        series = attrs[col]
        if col in ("capacity_units", "rank"):
            series = pd.to_numeric(series, errors="coerce").astype("Int64")
        elif col == "score":
            series = pd.to_numeric(series, errors="coerce").astype(float)
        tile_props[col] = mvt.encode_values(_py(series))[order]
    types = shapely.get_type_id(geom_merc)
    site_ids = site_ids_file[order]
    return LoadedLayer(
        name=name,
        point=bool(len(types)) and bool(np.all(np.isin(types, (0, 4)))),
        attrs=attrs.reset_index(drop=True),
        order=order,
        fids=np.asarray(gdf.index, dtype=np.int64)[order],
        site_ids=site_ids,
        index=pd.Index(site_ids),
        gemeentecode=attrs["gemeentecode"].astype(object).to_numpy(dtype=object)[order],
        score=pd.to_numeric(attrs["score"], errors="coerce").to_numpy(dtype=float)[order],
        capacity=pd.to_numeric(attrs["capacity_units"], errors="coerce").to_numpy(dtype=float)[
            order
        ],
        owner_class=attrs["owner_class"].astype(object).to_numpy(dtype=object)[order],
        tier=attrs["tier"].astype(object).to_numpy(dtype=object)[order],
        geom_rd=geom_rd,
        geom_merc=geom_merc,
        geom_wgs=geom_wgs,
        tree_merc=shapely.STRtree(geom_merc),
        tree_rd=shapely.STRtree(geom_rd),
        tile_props=tile_props,
    )


def load_gemeenten(gdf: Any) -> LoadedGemeenten:
    gdf = gdf.sort_values("gemeentecode")
    fids = np.asarray(gdf.index, dtype=np.int64)
    gdf = gdf.reset_index(drop=True)
    crs = gdf.crs or CRS.from_user_input(RD)
    geom_src = gdf.geometry.to_numpy()
    geom_rd = (
        geom_src
        if crs.equals(CRS.from_user_input(RD))
        else _reproject(geom_src, transformer(crs, RD))
    )
    geom_merc = _reproject(geom_src, transformer(crs, "EPSG:3857"))
    geom_wgs = _reproject(geom_src, transformer(crs, "EPSG:4326"), decimals=6)
    codes = gdf["gemeentecode"].astype(str).to_numpy(dtype=object)
    names_col = gdf["gemeentenaam"] if "gemeentenaam" in gdf.columns else gdf["gemeentecode"]
    names = dict(zip(codes.tolist(), names_col.astype(str).tolist(), strict=True))
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    props = _json_lines(attrs)
    features = _features(codes.tolist(), geom_wgs, props)
    bw = shapely.bounds(geom_wgs)
    br = shapely.bounds(geom_rd)
    if "capacity_ab" not in attrs.columns:
        attrs["capacity_ab"] = None
    tile_props = {
        c: mvt.encode_values(
            _py(attrs[c] if c in attrs.columns else pd.Series([None] * len(attrs)))
        )
        for c in GEMEENTE_TILE_FIELDS
    }
    return LoadedGemeenten(
        codes=codes,
        fids=fids,
        names=names,
        geom_rd=geom_rd,
        geom_merc=geom_merc,
        tree_rd=shapely.STRtree(geom_rd),
        tree_merc=shapely.STRtree(geom_merc),
        bounds_wgs={c: tuple(b) for c, b in zip(codes.tolist(), bw.tolist(), strict=True)},
        bounds_rd={c: tuple(b) for c, b in zip(codes.tolist(), br.tolist(), strict=True)},
        features=features,
        props=props,
        tile_props=tile_props,
        index=pd.Index(codes),
    )


def _connect_ro(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    return con


def _excluded_tables(path: Path) -> tuple[dict[str, _Excluded], dict[str, Any]]:
    excluded: dict[str, _Excluded] = {}
    metadata: dict[str, Any] = {}
    con = _connect_ro(path)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for name in EXCLUDED_LAYERS:
            if name not in tables:
                continue
            info = con.execute(f'PRAGMA table_info("{name}")').fetchall()
            pk = next((r["name"] for r in info if r["pk"]), "fid")
            geom_row = con.execute(
                "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (name,)
            ).fetchone()
            geom = geom_row[0] if geom_row else "geom"
            rtree = f"rtree_{name}_{geom}"
            excluded[name] = _Excluded(
                name,
                pk,
                geom,
                rtree if rtree in tables else None,
                {r["name"] for r in info},
                tuple(r["name"] for r in info if r["name"] not in (pk, geom)),
                EXCLUDED_IDS[name],
            )
        if "run_metadata" in tables:
            for row in con.execute("SELECT key, value FROM run_metadata"):
                metadata[row["key"]] = json_value(row["value"])
    finally:
        con.close()
    return excluded, metadata


def load_snapshot(path: Path, signature: tuple[int, int, int]) -> _Snapshot:
    """Read the result GeoPackage into memory (candidates and summary; excluded layers stay on disk)."""
    present = {str(n) for n, _ in pyogrio.list_layers(path)}
    if "gemeenten" not in present:
        raise ValueError(f"{path}: layer 'gemeenten' is missing (is this a kansenkaart result?)")
    layers: dict[str, LoadedLayer] = {}
    gem_gdf = read_layer(path, "gemeenten")
    for name in CANDIDATE_LAYERS:
        gdf = (
            read_layer(path, name, skip=("explanation",))
            if name in present
            else gem_gdf.iloc[0:0].assign(site_id=pd.Series(dtype=str))
        )
        layers[name] = load_candidates(gdf, name)
    excluded, metadata = _excluded_tables(path)
    version = hashlib.sha256(repr(signature).encode()).hexdigest()[:16]
    return _Snapshot(
        path=path,
        signature=signature,
        version=version,
        layers=layers,
        gemeenten=load_gemeenten(gem_gdf),
        excluded=excluded,
        metadata=metadata,
        run=run_info(metadata),
    )


# -- the store ----------------------------------------------------------------------------------
class GeoPackageStore(WorkToolQueries):
    """Serves the result GeoPackage; reloads it when the file is replaced."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._snapshot: _Snapshot | None = None
        self._failed: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        self._exports = ExportCache()
        #: Feature ids of the excluded collections per (version, layer, scope): paging and counts.
        self._listings: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self._listings_lock = threading.Lock()

    # snapshot management
    #: Tiles are rendered in this process with numpy and shapely, which hold the GIL for most of
    #: a tile; one render at a time (with 32 clients: 2.0 against 3.3-5.8 ms of CPU a tile, p95
    #: 76 against 155-440 ms, benchmarks/README.md).
    tile_threads = 1

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> _Snapshot:
        """The loaded data, reloading first when the file changed."""
        sig = self._signature()
        snap = self._snapshot
        if sig is None:
            if snap is None:
                raise ResultUnavailable()
            return snap  # file briefly absent during a replace: keep serving the last result
        if snap is not None and snap.signature == sig:
            return snap
        if sig == self._failed:
            if snap is None:
                raise ResultUnavailable(
                    "Het scanresultaat kan niet gelezen worden; zie het serverlog."
                )
            return snap
        blocking = snap is None
        if not self._lock.acquire(blocking=blocking):
            return snap  # type: ignore[return-value]  # another thread is loading; keep serving
        try:
            snap = self._snapshot
            if snap is not None and snap.signature == sig:
                return snap
            try:
                new = load_snapshot(self.path, sig)
            except Exception:
                log.exception("could not load the result %s; keeping the previous one", self.path)
                self._failed = sig
                if snap is None:
                    raise ResultUnavailable(
                        "Het scanresultaat kan niet gelezen worden; zie het serverlog."
                    ) from None
                return snap
            log.info("loaded result %s (version %s)", self.path, new.version)
            self._snapshot = new
            return new
        finally:
            self._lock.release()

    def available(self) -> bool:
        try:
            self.current()
        except ResultUnavailable:
            return False
        return True

    # interface
    def version(self) -> str:
        return self.current().version

    def loaded_version(self) -> str | None:
        snap = self._snapshot
        if snap is None or self._signature() != snap.signature:
            return None
        return snap.version

    def run_info(self) -> RunInfo:
        return self.current().run

    def gemeente_names(self) -> dict[str, str]:
        return dict(self.current().gemeenten.names)

    def bounds(self, scope: Scope) -> tuple[float, float, float, float] | None:
        return scoped_bounds(self.current().gemeenten.bounds_wgs, scope)

    @staticmethod
    def _mask(layer: LoadedLayer, idx: np.ndarray, scope: Scope, filters: Filters) -> np.ndarray:
        codes = layer.gemeentecode[idx]
        if scope.gemeenten is not None:
            keep = np.isin(codes, _texts(scope.gemeenten))
        else:
            keep = np.ones(len(idx), dtype=bool)
        if filters.gemeenten:
            keep &= np.isin(codes, _texts(filters.gemeenten))
        if filters.min_score is not None:
            keep &= layer.score[idx] >= filters.min_score
        if filters.min_capacity is not None:
            keep &= layer.capacity[idx] >= filters.min_capacity
        if filters.owner_class:
            keep &= np.isin(layer.owner_class[idx], _texts(filters.owner_class))
        if filters.tiers:
            keep &= np.isin(layer.tier[idx], list(filters.tiers))
        return keep

    def features(
        self,
        layer: str | None,
        *,
        scope: Scope,
        filters: Filters,
        bbox: BBox | None,
        limit: int,
        cursor: str | None,
    ) -> FeaturePage:
        snap = self.current()
        box = None
        if bbox is not None:
            x0, y0 = mvt.lonlat_to_3857(bbox.minx, bbox.miny)
            x1, y1 = mvt.lonlat_to_3857(bbox.maxx, bbox.maxy)
            box = shapely.box(float(x0), float(y0), float(x1), float(y1))

        def fetch(name: str, after: str | None, n: int) -> list[tuple[str, str]]:
            lyr = snap.layers[name]
            if box is not None:
                idx = np.sort(lyr.tree_merc.query(box, predicate="intersects"))
            else:
                idx = np.arange(len(lyr.site_ids))
            if after is not None and len(idx):
                idx = idx[lyr.site_ids[idx] > after]
            take = idx[self._mask(lyr, idx, scope, filters)][:n]
            return list(zip(lyr.site_ids[take].tolist(), lyr.geojson_features(take), strict=True))

        return paginate(layer, limit=limit, cursor=cursor, fetch=fetch)

    def feature(self, layer: str, site_id: str, *, scope: Scope) -> dict[str, Any] | None:
        snap = self.current()
        lyr = snap.layers[layer]
        pos = int(lyr.index.get_indexer(pd.Index([site_id]))[0])
        if pos < 0 or not scope.allows(lyr.gemeentecode[pos]):
            return None
        feature = json.loads(lyr.geojson_features(np.array([pos]))[0])
        props = feature["properties"]
        raw = _explanation(snap.path, layer, int(lyr.fids[pos]))
        props["explanation"] = json_value(raw) if raw is not None else None
        return {
            "type": "Feature",
            "id": site_id,
            "geometry": feature["geometry"],
            "properties": props,
            "layer": layer,
            "sources": snap.run.sources,
        }

    @staticmethod
    def _collection(snap: _Snapshot, name: str) -> _Collection:
        if name == "gemeenten":
            gem = snap.gemeenten
            return _Collection(
                gem.codes, gem.codes, gem.tree_rd, gem.tree_merc, gem.geojson_features, gem.index
            )
        if name not in snap.layers:
            raise NotFound(f"Collectie '{name}' bestaat niet.")
        lyr = snap.layers[name]
        return _Collection(
            lyr.site_ids,
            lyr.gemeentecode,
            lyr.tree_rd,
            lyr.tree_merc,
            lyr.geojson_features,
            lyr.index,
        )

    def items(
        self,
        collection: str,
        *,
        scope: Scope,
        bbox: BBox | None,
        crs: str,
        limit: int,
        cursor: str | None,
    ) -> ItemsPage:
        snap = self.current()
        if collection in EXCLUDED_LAYERS:
            return self._excluded_items(
                snap, collection, scope=scope, bbox=bbox, crs=crs, limit=limit, cursor=cursor
            )
        col = self._collection(snap, collection)
        if bbox is None:
            idx = np.arange(len(col.ids))
        elif bbox.crs == RD_NEW:
            box = shapely.box(bbox.minx, bbox.miny, bbox.maxx, bbox.maxy)
            idx = np.sort(col.tree_rd.query(box, predicate="intersects"))
        else:  # a lon/lat box is a box in Web Mercator too (x depends on lon only, y on lat)
            x0, y0 = mvt.lonlat_to_3857(bbox.minx, bbox.miny)
            x1, y1 = mvt.lonlat_to_3857(bbox.maxx, bbox.maxy)
            box = shapely.box(float(x0), float(y0), float(x1), float(y1))
            idx = np.sort(col.tree_merc.query(box, predicate="intersects"))
        if scope.gemeenten is not None:
            idx = idx[np.isin(col.gemeentecode[idx], list(scope.gemeenten))]
        matched = len(idx)
        if cursor:
            _, after = decode_cursor(cursor, layers=(collection,), error=InvalidParameter)
            idx = idx[col.ids[idx] > after]
        page = idx[:limit]
        more = len(idx) > limit
        return ItemsPage(
            features=col.serialise(page, crs),
            number_matched=matched,
            next_cursor=encode_cursor(collection, str(col.ids[page[-1]])) if more else None,
        )

    def item(self, collection: str, item_id: str, *, scope: Scope, crs: str) -> str | None:
        snap = self.current()
        if collection in EXCLUDED_LAYERS:
            return self._excluded_item(snap, collection, item_id, scope=scope, crs=crs)
        col = self._collection(snap, collection)
        pos = int(col.index.get_indexer(pd.Index([item_id]))[0])
        if pos < 0 or not scope.allows(col.gemeentecode[pos]):
            return None
        return col.serialise(np.array([pos]), crs)[0]

    # -- the excluded layers as collections: read from disk, page by page ----------------------
    def _excluded_items(
        self,
        snap: _Snapshot,
        name: str,
        *,
        scope: Scope,
        bbox: BBox | None,
        crs: str,
        limit: int,
        cursor: str | None,
    ) -> ItemsPage:
        """Rows in scope with a geometry, in feature-id order, tested exactly against a ``bbox`` by
        :func:`excluded_page`. With a ``bbox`` the R-tree pre-selects them (the query box within
        the box around the caller's municipalities); without, the ids in scope are listed once."""
        ex = snap.excluded.get(name)
        if ex is None:
            return ItemsPage([], 0, None)
        shape = bbox_in_rd(bbox) if bbox is not None else None
        where = [f't."{ex.geom}" IS NOT NULL']
        params: list[Any] = []
        box = shapely.bounds(shape).tolist() if shape is not None else None
        if scope.gemeenten is not None:
            codes = sorted(scope.gemeenten)
            where.append(f't."gemeentecode" IN ({",".join("?" * len(codes)) or "NULL"})')
            params += codes
            scoped = np.array(
                [snap.gemeenten.bounds_rd[c] for c in codes if c in snap.gemeenten.bounds_rd],
                dtype=float,
            ).reshape(-1, 4)
            if len(scoped):  # the box around the caller's municipalities (within the query box)
                around = [*scoped[:, :2].min(axis=0), *scoped[:, 2:].max(axis=0)]
                box = (
                    around
                    if box is None
                    else [*np.maximum(box[:2], around[:2]), *np.minimum(box[2:], around[2:])]
                )
        if box is not None and ex.rtree:
            where.append(
                f't."{ex.pk}" IN (SELECT id FROM "{ex.rtree}" WHERE maxx >= ? AND minx <= ? '
                "AND maxy >= ? AND miny <= ?)"
            )
            params += [float(box[0]), float(box[2]), float(box[1]), float(box[3])]
        condition = " AND ".join(where)
        select = ", ".join(f't."{c}"' for c in (ex.pk, *ex.fields))
        con = _connect_ro(snap.path)
        try:

            def rows(sql: str, args: list[Any]) -> list[tuple[int, dict[str, Any], Any]]:
                return [
                    (int(r[ex.pk]), {f: r[f] for f in ex.fields}, _gpkg_geometry(r["_g"]))
                    for r in con.execute(sql, args).fetchall()
                ]

            if shape is not None:  # a box: the R-tree narrows it, pages in fid order
                by_box = (
                    f'SELECT {select}, t."{ex.geom}" AS _g FROM "{ex.table}" t WHERE {condition} '
                    f'AND t."{ex.pk}" > ? ORDER BY t."{ex.pk}" LIMIT ?'
                )
                return excluded_page(
                    name,
                    fetch=lambda after, n: rows(by_box, [*params, after, n]),
                    matched=None,
                    shape=shape,
                    crs=crs,
                    limit=limit,
                    cursor=cursor,
                )
            # The whole layer in scope: its feature ids are listed once per result version and
            # scope (one pass over the table), then each page reads its rows by primary key.
            fids = self._listing(
                (snap.version, name, scope.key()),
                lambda: con.execute(
                    f'SELECT t."{ex.pk}" FROM "{ex.table}" t WHERE {condition} '
                    f'ORDER BY t."{ex.pk}"',
                    params,
                ).fetchall(),
            )
            by_id = (
                f'SELECT {select}, t."{ex.geom}" AS _g FROM "{ex.table}" t '
                f'WHERE t."{ex.pk}" IN (SELECT value FROM json_each(?)) ORDER BY t."{ex.pk}"'
            )

            def fetch(after: int, n: int) -> list[tuple[int, dict[str, Any], Any]]:
                start = int(np.searchsorted(fids, after, side="right"))
                chunk = fids[start : start + n]
                return rows(by_id, [json.dumps(chunk.tolist())]) if len(chunk) else []

            return excluded_page(
                name,
                fetch=fetch,
                matched=len(fids),
                shape=None,
                crs=crs,
                limit=limit,
                cursor=cursor,
            )
        finally:
            con.close()

    def _listing(self, key: tuple[str, str, str], read: Callable[[], list[Any]]) -> np.ndarray:
        """The sorted feature ids of an excluded layer in one scope (a small LRU, per version)."""
        with self._listings_lock:
            found = self._listings.get(key)
            if found is not None:
                self._listings.move_to_end(key)
                return found
        fids = np.array([r[0] for r in read()], dtype=np.int64)
        with self._listings_lock:
            self._listings[key] = fids
            while len(self._listings) > 8:
                self._listings.popitem(last=False)
        return fids

    def _excluded_item(
        self, snap: _Snapshot, name: str, item_id: str, *, scope: Scope, crs: str
    ) -> str | None:
        ex = snap.excluded.get(name)
        if ex is None:
            return None
        select = ", ".join(f'"{c}"' for c in (ex.pk, *ex.fields))
        con = _connect_ro(snap.path)
        try:
            row = con.execute(
                f'SELECT {select}, "{ex.geom}" AS _g FROM "{ex.table}" '
                f'WHERE "{ex.id_column}" = ? AND "{ex.geom}" IS NOT NULL ORDER BY "{ex.pk}" LIMIT 1',
                (item_id,),
            ).fetchone()
        finally:
            con.close()
        if row is None or not scope.allows(row["gemeentecode"]):
            return None
        rows = [(int(row[ex.pk]), {f: row[f] for f in ex.fields}, _gpkg_geometry(row["_g"]))]
        return excluded_features(rows, id_column=ex.id_column, crs=crs)[0]

    def tile(
        self, layer: str, z: int, x: int, y: int, *, scope: Scope, filters: Filters, max_bytes: int
    ) -> bytes:
        snap = self.current()
        bounds = mvt.tile_bounds_3857(z, x, y)
        pad = (bounds[2] - bounds[0]) * mvt.BUFFER / mvt.EXTENT
        query = shapely.box(bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        if layer == "gemeenten":
            gem = snap.gemeenten
            lo, hi = ZOOMS["gemeenten"]
            if z < lo:
                return mvt.encode_tile(
                    [mvt.encode_layer(layer, np.array([]), {}, geom_type=mvt.GEOM_POLYGON)]
                )
            idx = np.sort(gem.tree_merc.query(query, predicate="intersects"))
            keep = np.array(
                [
                    scope.allows(c) and (not filters.gemeenten or c in filters.gemeenten)
                    for c in gem.codes[idx]
                ],
                dtype=bool,
            )
            idx = idx[keep] if len(idx) else idx
            simplify = 2.0 if z < hi else 0.0
            geoms, kept = mvt.prepare_polygons(gem.geom_merc[idx], bounds, simplify=simplify)
            props = {k: v[idx][kept] for k, v in gem.tile_props.items()}
            return mvt.encode_tile(
                [
                    mvt.encode_layer(
                        layer, geoms, props, geom_type=mvt.GEOM_POLYGON, pre_encoded=True
                    )
                ]
            )
        lyr = snap.layers[layer]
        lo, hi = ZOOMS["candidates"]
        gtype = mvt.GEOM_POINT if lyr.point else mvt.GEOM_POLYGON
        if z < lo:
            return mvt.encode_tile([mvt.encode_layer(layer, np.array([]), {}, geom_type=gtype)])
        idx = np.sort(lyr.tree_merc.query(query, predicate="intersects"))
        idx = idx[self._mask(lyr, idx, scope, filters)]
        fields = TILE_FIELDS + (TILE_DETAIL_FIELDS if z >= DETAIL_ZOOM else ())
        simplify = 1.0 if z < 14 else 0.0
        while True:
            if lyr.point:
                geoms, kept = mvt.prepare_points(lyr.geom_merc[idx], bounds)
            else:
                geoms, kept = mvt.prepare_polygons(lyr.geom_merc[idx], bounds, simplify=simplify)
            sel = idx[kept]
            props = {k: lyr.tile_props[k][sel] for k in fields}
            data = mvt.encode_tile(
                [mvt.encode_layer(layer, geoms, props, geom_type=gtype, pre_encoded=True)]
            )
            if len(data) <= max_bytes or len(sel) <= 1:
                return data
            # Too big: keep the best-scoring share that fits (never more than the limit).
            share = max_bytes / len(data) * 0.9
            order = np.argsort(-np.nan_to_num(lyr.score[sel], nan=-1.0), kind="stable")
            idx = np.sort(sel[order[: max(1, math.floor(len(sel) * share))]])
            simplify = max(simplify * 2, 2.0)

    def why(self, x: float, y: float, *, crs: str, scope: Scope) -> dict[str, Any]:
        snap = self.current()
        rx, ry, location = why_point(x, y, crs)
        pt = shapely.Point(rx, ry)
        gem = snap.gemeenten
        hits = gem.tree_rd.query(pt, predicate="intersects")
        code = str(gem.codes[hits.min()]) if len(hits) else None
        if not scope.allows(code):
            raise Forbidden("Dit punt ligt buiten uw gemeente(n).")
        candidates: list[dict[str, Any]] = []
        if code is not None:
            for name, lyr in snap.layers.items():
                if lyr.point:
                    idx = lyr.tree_rd.query(pt, predicate="dwithin", distance=POINT_TOLERANCE_M)
                else:
                    idx = lyr.tree_rd.query(pt, predicate="intersects")
                for i in np.sort(idx).tolist():
                    if not scope.allows(lyr.gemeentecode[i]):
                        continue
                    score = lyr.score[i]
                    candidates.append(
                        {
                            "layer": name,
                            "site_id": str(lyr.site_ids[i]),
                            "score": None if math.isnan(score) else float(score),
                            "tier": lyr.cell(i, "tier"),
                            "label": lyr.cell(i, "label"),
                        }
                    )
        found = code is not None
        return why_answer(
            location=location,
            gemeentecode=code,
            gemeentenaam=gem.names.get(code) if code else None,
            candidates=candidates,
            parcel=self._excluded_at(snap, "uitgesloten_percelen", pt, scope) if found else None,
            building=self._excluded_at(snap, "uitgesloten_panden", pt, scope) if found else None,
        )

    @staticmethod
    def _excluded_at(
        snap: _Snapshot, name: str, pt: shapely.Point, scope: Scope
    ) -> dict[str, Any] | None:
        ex = snap.excluded.get(name)
        if ex is None:
            return None
        cols = [c for c in ex.columns if c != ex.geom]
        select = ", ".join(f'"{c}"' for c in cols)
        con = _connect_ro(snap.path)
        try:
            if ex.rtree:
                rows = con.execute(
                    f'SELECT {select}, "{ex.geom}" AS _g FROM "{ex.table}" WHERE "{ex.pk}" IN '
                    f'(SELECT id FROM "{ex.rtree}" WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ?)',
                    (pt.x, pt.x, pt.y, pt.y),
                ).fetchall()
            else:  # no spatial index: let GDAL filter by the point's box
                gdf = pyogrio.read_dataframe(
                    snap.path, layer=name, bbox=(pt.x, pt.y, pt.x, pt.y), use_arrow=True
                )
                rows = [
                    {**{str(k): v for k, v in r.items()}, "_g": g}
                    for r, g in zip(
                        pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_dict("records"),
                        gdf.geometry,
                        strict=True,
                    )
                ]
        finally:
            con.close()
        for row in rows:
            data = dict(row)
            geom = data.pop("_g")
            geom = _gpkg_geometry(geom) if isinstance(geom, bytes) else geom
            if geom is None or not shapely.intersects(geom, pt):
                continue
            if not scope.allows(data.get("gemeentecode")):
                continue
            return data
        return None

    def gemeenten(self, *, scope: Scope, codes: tuple[str, ...] = ()) -> list[str]:
        gem = self.current().gemeenten
        return [
            f
            for c, f in zip(gem.codes.tolist(), gem.features, strict=True)
            if scope.allows(c) and (not codes or c in codes)
        ]

    def gemeente_properties(self, scope: Scope) -> list[dict[str, Any]]:
        gem = self.current().gemeenten
        return [
            json.loads(p)
            for c, p in zip(gem.codes.tolist(), gem.props, strict=True)
            if scope.allows(c)
        ]

    def export(
        self, gemeentecode: str, *, scope: Scope, include_excluded: bool = False
    ) -> ExportInfo:
        """The GeoPackage of one municipality, built once per result version (:class:`ExportCache`)."""
        snap = self.current()
        return self._exports.get(
            snap.version,
            gemeentecode,
            include_excluded,
            lambda tmp: export_gemeente(
                snap.path,
                tmp,
                gemeentecode,
                bbox_rd=snap.gemeenten.bounds_rd[gemeentecode],
                include_excluded=include_excluded,
            ),
            scope=scope,
            known=snap.gemeenten.names,
        )

    def close(self) -> None:
        """Remove the export cache (called when the app shuts down)."""
        self._exports.close()
