"""The working-tool queries of the GeoPackage store: search, orientation, site lists, the
surroundings of a site (for its sheet) and the names of places "waarom hier niet?" explains.

A mixin of :class:`api.store.gpkg.GeoPackageStore` (kept apart so the core store stays
readable). Everything is scoped by the caller's :class:`~api.security.Scope` inside the query.
The search reads the result's ``zoekindex`` through its SQLite indexes; the orientation layers
(``orientatie_namen``, ``orientatie_water``) are small and read once per result version.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyogrio
import shapely

from api import tiles as mvt
from api.search import Query
from api.security import Scope
from api.store.data import CANDIDATE_LAYERS, BBox, Filters

if TYPE_CHECKING:
    from api.store.gpkg import LoadedLayer as _Layer
    from api.store.gpkg import _Snapshot

#: Columns of the site list (CSV, Excel and the page's table), in order, when the layer has them.
LIST_COLUMNS = (
    "layer",
    "site_id",
    "label",
    "gemeentecode",
    "gemeentenaam",
    "score",
    "tier",
    "rank",
    "capacity_units",
    "capacity_low",
    "capacity_high",
    "owner_class",
    "aandachtspunt_codes",
)
SORTABLE = ("score", "tier", "capacity_units", "gemeentenaam", "label", "site_id", "rank")
#: Largest number of orientation labels in one answer (the most-used names first).
MAX_NAMES = 250


@dataclass
class _Orientation:
    version: str
    names: pd.DataFrame  # soort, naam, gemeentecode, n, lon, lat
    names_tree: shapely.STRtree
    names_geom: np.ndarray
    water: pd.DataFrame  # naam, gemeentecode
    water_geom: np.ndarray  # WGS84, rounded
    water_tree: shapely.STRtree


@dataclass
class _Lookup:
    version: str
    by_layer_key: dict[str, dict[str, list[int]]]


def _connect(path: Any) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    return con


def _point(blob: bytes | None) -> shapely.Geometry | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((blob[3] >> 1) & 0x07, 0)
    return shapely.from_wkb(blob[8 + envelope :])


class WorkToolQueries:
    """Mixin: needs ``current()`` returning the loaded snapshot."""

    _wt_lock = threading.Lock()

    def current(self) -> _Snapshot:  # pragma: no cover - provided by the store
        raise NotImplementedError

    # -- lookups per snapshot ---------------------------------------------------------------
    def _lookup(self, snap: _Snapshot) -> _Lookup:
        cached: _Lookup | None = getattr(self, "_wt_lookup", None)
        if cached is not None and cached.version == snap.version:
            return cached
        by: dict[str, dict[str, list[int]]] = {}
        for name, column in (
            ("tijdelijke_locaties", "parcel_ids"),
            ("kantoren", "pand_id"),
            ("plinten", "vbo_id"),
        ):
            lyr = snap.layers[name]
            keys: dict[str, list[int]] = {}
            if column in lyr.attrs.columns and len(lyr.site_ids):
                values = lyr.attrs[column].to_numpy(dtype=object)[lyr.order]
                for pos, value in enumerate(values.tolist()):
                    if value is None or (isinstance(value, float) and math.isnan(value)):
                        continue
                    for key in str(value).split(","):
                        keys.setdefault(key.strip(), []).append(pos)
            by[name] = keys
        new = _Lookup(snap.version, by)
        self._wt_lookup = new
        return new

    def _site_ref(self, lyr: _Layer, pos: int) -> dict[str, Any]:
        score = lyr.score[pos]
        return {
            "layer": lyr.name,
            "site_id": str(lyr.site_ids[pos]),
            "label": lyr.cell(pos, "label"),
            "tier": lyr.cell(pos, "tier"),
            "score": None if math.isnan(score) else float(score),
            "capacity_units": lyr.cell(pos, "capacity_units"),
        }

    def _sites_at(
        self, snap: _Snapshot, row: dict[str, Any], pt: shapely.Geometry | None, scope: Scope
    ) -> list[dict[str, Any]]:
        """The candidates an index row belongs to: its parcel, its building, its unit, or
        (for an address) the plot its point lies on."""
        look = self._lookup(snap)
        found: dict[tuple[str, int], None] = {}
        for name, key in (
            ("tijdelijke_locaties", row.get("parcel_id")),
            ("kantoren", row.get("pand_id")),
            ("plinten", row.get("vbo_id")),
        ):
            if key:
                for pos in look.by_layer_key[name].get(str(key), []):
                    found[(name, pos)] = None
        if pt is not None and row.get("soort") == "adres":
            lyr = snap.layers["tijdelijke_locaties"]
            for pos in np.sort(lyr.tree_rd.query(pt, predicate="intersects")).tolist():
                found[("tijdelijke_locaties", int(pos))] = None
        out = []
        for name, pos in found:
            lyr = snap.layers[name]
            if scope.allows(lyr.gemeentecode[pos]):
                out.append(self._site_ref(lyr, pos))
        return sorted(out, key=site_order)

    # -- search -----------------------------------------------------------------------------
    def search(self, query: Query, *, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
        """Places and sites matching ``query`` within ``scope`` (at most ``limit``)."""
        snap = self.current()
        if query.kind == "site":
            return self._search_site(snap, query.site_id or "", scope)
        where: list[str] = []
        args: list[Any] = []
        if query.kind == "perceel":
            where += ["akr_code = ?", "sectie = ?", "perceelnummer = ?"]
            args += [query.akr_code, query.sectie, query.perceelnummer]
        elif query.kind == "postcode":
            where.append("postcode = ?")
            args.append(query.postcode)
        else:
            text = query.straat or ""
            where += ["straat >= ?", "straat < ?"]
            args += [text, text + "\U0010ffff"]
            if query.woonplaats:
                where.append("woonplaats LIKE ?")
                args.append(query.woonplaats.replace("%", "").replace("_", "") + "%")
        if query.kind in ("postcode", "straat") and query.huisnummer is not None:
            where.append("huisnummer = ?")
            args.append(query.huisnummer)
            if query.toevoeging:
                where.append("(toevoeging = ? OR toevoeging LIKE ?)")
                args += [query.toevoeging, query.toevoeging + " %"]
        if scope.gemeenten is not None:
            codes = sorted(scope.gemeenten)
            if not codes:
                return []
            where.append(f"gemeentecode IN ({','.join('?' * len(codes))})")
            args += codes
        con = _connect(snap.path)
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "zoekindex" not in tables:
                return []
            geom = con.execute(
                "SELECT column_name FROM gpkg_geometry_columns WHERE table_name='zoekindex'"
            ).fetchone()
            gcol = geom[0] if geom else "geom"
            rows = con.execute(
                f'SELECT soort, naam, gemeentecode, parcel_id, pand_id, vbo_id, "{gcol}" AS g '
                f"FROM zoekindex WHERE {' AND '.join(where)} "
                "ORDER BY straat, huisnummer, toevoeging, naam LIMIT ?",
                (*args, limit),
            ).fetchall()
        finally:
            con.close()
        to_wgs = _to_wgs()
        out = []
        for r in rows:
            row = dict(r)
            pt = _point(row.pop("g"))
            lon = lat = None
            if pt is not None:
                lon, lat = to_wgs.transform(pt.x, pt.y)
            out.append(
                {
                    "soort": row["soort"],
                    "naam": row["naam"],
                    "gemeentecode": row["gemeentecode"],
                    "gemeentenaam": snap.gemeenten.names.get(row["gemeentecode"]),
                    "lon": None if lon is None else round(lon, 7),
                    "lat": None if lat is None else round(lat, 7),
                    "parcel_id": row["parcel_id"],
                    "sites": self._sites_at(snap, row, pt, scope),
                }
            )
        # Places with a site first (an address of a shop and of the home above it are one
        # address); otherwise the index order.
        out.sort(key=lambda hit: not hit["sites"])
        return out

    def _search_site(self, snap: _Snapshot, site_id: str, scope: Scope) -> list[dict[str, Any]]:
        for lyr in snap.layers.values():
            pos = int(lyr.index.get_indexer(pd.Index([site_id]))[0])
            if pos < 0 or not scope.allows(lyr.gemeentecode[pos]):
                continue
            c = shapely.centroid(lyr.geom_wgs[pos])
            return [
                {
                    "soort": "locatie",
                    "naam": lyr.cell(pos, "label") or site_id,
                    "gemeentecode": lyr.gemeentecode[pos],
                    "gemeentenaam": snap.gemeenten.names.get(lyr.gemeentecode[pos]),
                    "lon": round(float(c.x), 7),
                    "lat": round(float(c.y), 7),
                    "parcel_id": None,
                    "sites": [self._site_ref(lyr, pos)],
                }
            ]
        return []

    # -- names of what "waarom hier niet?" explains ----------------------------------------
    def why_places(self, answer: dict[str, Any], *, scope: Scope) -> dict[str, Any]:
        """Add ``naam`` (kadastrale aanduiding or address) and ``geometry`` (GeoJSON, WGS84) to
        the parcel and the building of a ``why`` answer."""
        snap = self.current()
        parcel = answer.get("parcel")
        building = answer.get("building")
        if not parcel and not building:
            return answer
        con = _connect(snap.path)
        try:
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            for item, table, key, index_col in (
                (parcel, "uitgesloten_percelen", "parcel_id", "parcel_id"),
                (building, "uitgesloten_panden", "pand_id", "pand_id"),
            ):
                if not item or not item.get(key):
                    continue
                naam = None
                if "zoekindex" in tables:
                    hit = con.execute(
                        f"SELECT naam FROM zoekindex WHERE {index_col} = ? AND gemeentecode = ? "
                        "ORDER BY soort DESC, naam LIMIT 1",
                        (item[key], answer.get("gemeentecode")),
                    ).fetchone()
                    naam = hit[0] if hit else None
                item["naam"] = naam
                item["geometry"] = None
                if table in tables:
                    g = con.execute(
                        "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                        (table,),
                    ).fetchone()
                    if g:
                        row = con.execute(
                            f'SELECT "{g[0]}", gemeentecode FROM "{table}" WHERE "{key}" = ? LIMIT 1',
                            (item[key],),
                        ).fetchone()
                        if row and scope.allows(row[1]):
                            item["geometry"] = outline_geojson(_point(row[0]))
        finally:
            con.close()
        return answer

    # -- orientation ------------------------------------------------------------------------
    def _orientation_frames(self, snap: Any) -> tuple[Any, Any]:
        """The ``orientatie_namen`` and ``orientatie_water`` layers (RD GeoDataFrames in file
        order, ``None`` when absent)."""
        present = {str(n) for n, _ in pyogrio.list_layers(snap.path)}
        names = water = None
        if "orientatie_namen" in present:
            names = pyogrio.read_dataframe(snap.path, layer="orientatie_namen", use_arrow=True)
        if "orientatie_water" in present:
            water = pyogrio.read_dataframe(snap.path, layer="orientatie_water", use_arrow=True)
        return names, water

    def _orientation(self, snap: Any) -> _Orientation:
        cached: _Orientation | None = getattr(self, "_wt_orientation", None)
        if cached is not None and cached.version == snap.version:
            return cached
        with self._wt_lock:
            cached = getattr(self, "_wt_orientation", None)
            if cached is not None and cached.version == snap.version:
                return cached
            new = build_orientation(snap.version, *self._orientation_frames(snap))
            self._wt_orientation = new
            return new

    def orientation(self, bbox: BBox, *, scope: Scope, zoom: int) -> dict[str, Any]:
        """Place and street names (label points) and water in ``bbox`` within ``scope``
        (:func:`orientation_answer`)."""
        return orientation_answer(self._orientation(self.current()), bbox, scope=scope, zoom=zoom)

    # -- lists -------------------------------------------------------------------------------
    def site_rows(
        self,
        layer: str | None,
        *,
        scope: Scope,
        filters: Filters,
        bbox: BBox | None,
    ) -> pd.DataFrame:
        """The site list (:data:`LIST_COLUMNS`) of the layers, in scope and filtered, in
        layer order and by ``site_id``."""
        snap = self.current()
        frames = []
        for name in [layer] if layer else list(CANDIDATE_LAYERS):
            lyr = snap.layers[name]
            if bbox is not None:
                x0, y0 = mvt.lonlat_to_3857(bbox.minx, bbox.miny)
                x1, y1 = mvt.lonlat_to_3857(bbox.maxx, bbox.maxy)
                idx = np.sort(
                    lyr.tree_merc.query(
                        shapely.box(float(x0), float(y0), float(x1), float(y1)),
                        predicate="intersects",
                    )
                )
            else:
                idx = np.arange(len(lyr.site_ids))
            idx = idx[self._mask(lyr, idx, scope, filters)]  # type: ignore[attr-defined]
            rows = lyr.attrs.iloc[lyr.order[idx]]
            df = pd.DataFrame({"layer": name}, index=range(len(idx)))
            for col in LIST_COLUMNS[1:]:
                df[col] = rows[col].to_numpy() if col in rows.columns else None
            frames.append(df)
        return (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LIST_COLUMNS)
        )

    # -- the surroundings of a site (its sheet's map) -----------------------------------------
    def surroundings(
        self, layer: str, site_id: str, *, scope: Scope, margin: float = 120.0
    ) -> dict[str, Any] | None:
        """RD geometries around one site (within ``margin`` m of its box): the site, the other
        candidates, excluded parcels and buildings, water and street names, all in scope."""
        snap = self.current()
        lyr = snap.layers[layer]
        pos = int(lyr.index.get_indexer(pd.Index([site_id]))[0])
        if pos < 0 or not scope.allows(lyr.gemeentecode[pos]):
            return None
        site = lyr.geom_rd[pos]
        x0, y0, x1, y1 = shapely.bounds(site).tolist()
        size = max(x1 - x0, y1 - y0, 60.0)
        pad = max(margin, size * 0.6)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = size / 2 + pad
        box = (cx - half, cy - half, cx + half, cy + half)
        query = shapely.box(*box)
        others: list[tuple[str, Any, str | None]] = []
        for name, other in snap.layers.items():
            for i in np.sort(other.tree_rd.query(query, predicate="intersects")).tolist():
                if (name == layer and i == pos) or not scope.allows(other.gemeentecode[i]):
                    continue
                others.append((name, other.geom_rd[i], other.cell(i, "tier")))
        parcels = self._rd_rows(snap, "uitgesloten_percelen", box, scope)
        buildings = self._rd_rows(snap, "uitgesloten_panden", box, scope)
        water, streets = water_and_streets(self._orientation(snap), box, scope=scope)
        return {
            "box": box,
            "site": site,
            "others": others,
            "parcels": parcels,
            "buildings": buildings,
            "water": water,
            "streets": streets,
        }

    @staticmethod
    def _rd_rows(
        snap: _Snapshot, name: str, box: tuple[float, float, float, float], scope: Scope
    ) -> list[Any]:
        ex = snap.excluded.get(name)
        if ex is None or ex.rtree is None:
            return []
        con = _connect(snap.path)
        try:
            rows = con.execute(
                f'SELECT "{ex.geom}", gemeentecode FROM "{ex.table}" WHERE "{ex.pk}" IN '
                f'(SELECT id FROM "{ex.rtree}" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?) '
                "LIMIT 5000",
                (box[0], box[2], box[1], box[3]),
            ).fetchall()
        finally:
            con.close()
        out = []
        for blob, code in rows:
            if scope.allows(code):
                g = _point(blob)
                if g is not None:
                    out.append(g)
        return out


def build_orientation(version: str, names: Any, water: Any) -> _Orientation:
    """The orientation layers in memory (WGS84, rounded to 6 decimals) with their STRtrees, from
    the RD GeoDataFrames of either store (file order), so both answer the same."""
    to_wgs = _to_wgs()

    def wgs(geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(
            geoms, lambda c: np.round(np.column_stack(to_wgs.transform(c[:, 0], c[:, 1])), 6)
        )

    if names is not None and len(names):
        ngeom = wgs(np.asarray(names.geometry.array, dtype=object))
        ndf = pd.DataFrame(names.drop(columns=names.geometry.name)).reset_index(drop=True)
        ndf["lon"] = shapely.get_x(ngeom)
        ndf["lat"] = shapely.get_y(ngeom)
    else:
        ngeom = np.array([], dtype=object)
        ndf = pd.DataFrame(columns=["soort", "naam", "gemeentecode", "n", "lon", "lat"])
    if water is not None and len(water):
        wgeom = wgs(np.asarray(water.geometry.array, dtype=object))
        wdf = pd.DataFrame(water.drop(columns=water.geometry.name)).reset_index(drop=True)
    else:
        wgeom = np.array([], dtype=object)
        wdf = pd.DataFrame(columns=["naam", "gemeentecode"])
    return _Orientation(
        version, ndf, shapely.STRtree(ngeom), ngeom, wdf, wgeom, shapely.STRtree(wgeom)
    )


def orientation_answer(o: _Orientation, bbox: BBox, *, scope: Scope, zoom: int) -> dict[str, Any]:
    """Place and street names (label points) and water in ``bbox`` within ``scope``.

    Places from zoom 9, streets from zoom 14 (at most :data:`MAX_NAMES`, the most-used
    first), water from zoom 11.
    """
    box = shapely.box(bbox.minx, bbox.miny, bbox.maxx, bbox.maxy)
    names: list[dict[str, Any]] = []
    if zoom >= 9 and len(o.names_geom):
        idx = np.sort(o.names_tree.query(box, predicate="intersects"))
        sel = o.names.iloc[idx]
        allowed = sel["gemeentecode"].map(scope.allows).to_numpy(dtype=bool)
        sel = sel[allowed]
        if zoom < 14:
            sel = sel[sel["soort"] == "plaats"]
        sel = sel.sort_values(["soort", "n"], ascending=[True, False], kind="mergesort")
        sel = sel.head(MAX_NAMES)
        names = [
            {"soort": s, "naam": n, "lon": float(x), "lat": float(y)}
            for s, n, x, y in zip(sel["soort"], sel["naam"], sel["lon"], sel["lat"], strict=True)
        ]
    water: list[dict[str, Any]] = []
    if zoom >= 11 and len(o.water_geom):
        idx = np.sort(o.water_tree.query(box, predicate="intersects"))
        for i in idx.tolist():
            if not scope.allows(str(o.water.at[i, "gemeentecode"])):
                continue
            water.append(
                {
                    "type": "Feature",
                    "geometry": json.loads(shapely.to_geojson(o.water_geom[i])),
                    "properties": {"naam": o.water.at[i, "naam"]},
                }
            )
    return {"names": names, "water": {"type": "FeatureCollection", "features": water}}


def water_and_streets(
    o: _Orientation, box: tuple[float, float, float, float], *, scope: Scope
) -> tuple[list[Any], list[tuple[str, float, float]]]:
    """Water (RD geometries) and street label points (name, x, y in RD) within an RD box, in
    scope: the orientation of a site sheet's map."""
    to_rd = _to_rd()
    water = []
    wbox = shapely.box(*_box_to_wgs(box))
    if len(o.water_geom):
        for i in np.sort(o.water_tree.query(wbox, predicate="intersects")).tolist():
            if scope.allows(str(o.water.at[i, "gemeentecode"])):
                water.append(
                    shapely.transform(
                        o.water_geom[i],
                        lambda c: np.column_stack(to_rd.transform(c[:, 0], c[:, 1])),
                    )
                )
    streets = []
    if len(o.names_geom):
        for i in np.sort(o.names_tree.query(wbox, predicate="intersects")).tolist():
            row = o.names.iloc[i]
            if row["soort"] == "straat" and scope.allows(row["gemeentecode"]):
                x, y = to_rd.transform(row["lon"], row["lat"])
                streets.append((str(row["naam"]), float(x), float(y)))
    return water, streets


def site_order(site: dict[str, Any]) -> tuple[int, str]:
    """The order of the sites of one search hit: by layer (:data:`CANDIDATE_LAYERS`), then id."""
    return (list(CANDIDATE_LAYERS).index(site["layer"]), site["site_id"])


def outline_geojson(geom_rd: shapely.Geometry | None) -> dict[str, Any] | None:
    """An RD geometry as GeoJSON in WGS84 (7 decimals): the outline of what "waarom hier
    niet?" explains. Both stores use it, so their answers are identical."""
    if geom_rd is None:
        return None
    from pyproj import CRS

    from api.store.common import RD, transformer

    tr = transformer(CRS.from_user_input(RD), "EPSG:4326")
    wgs = shapely.transform(
        geom_rd, lambda c: np.round(np.column_stack(tr.transform(c[:, 0], c[:, 1])), 7)
    )
    return json.loads(shapely.to_geojson(wgs))  # type: ignore[no-any-return]


def _to_wgs() -> Any:
    from pyproj import CRS

    from api.store.common import RD, transformer

    return transformer(CRS.from_user_input(RD), "EPSG:4326")


def _to_rd() -> Any:
    from pyproj import CRS

    from api.store.common import RD, transformer

    return transformer(CRS.from_user_input("EPSG:4326"), RD)


def _box_to_wgs(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    tr = _to_wgs()
    xs, ys = tr.transform([box[0], box[2], box[0], box[2]], [box[1], box[1], box[3], box[3]])
    return (min(xs), min(ys), max(xs), max(ys))
