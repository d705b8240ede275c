"""The working-tool queries of the PostGIS store: search, orientation, the surroundings of a site
(for its sheet), the names of places "waarom hier niet?" explains, and the site list.

A mixin of :class:`api.store.postgis.PostGISStore`. The answers are the GeoPackage store's
(:mod:`api.store.gpkg_worktool`; the same tests run on both backends): the search is one indexed
query on the published ``zoekindex`` (``kansenkaart publish`` adds the indexes of
:data:`pipeline.export.SEARCH_INDEXES`), coordinates are transformed in Python with the same
transformer, the orientation layers are read once per result version into the same in-memory
structure, and the surroundings are ``&&``/``ST_Intersects`` queries on the GiST-indexed RD
geometries. Everything is scoped by the caller's :class:`~api.security.Scope` in the query.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api import tiles as mvt
from api.search import Query
from api.security import Scope
from api.store.data import CANDIDATE_LAYERS, BBox, Filters
from api.store.gpkg_worktool import (
    LIST_COLUMNS,
    _Orientation,
    _to_wgs,
    build_orientation,
    orientation_answer,
    outline_geojson,
    site_order,
    water_and_streets,
)

if TYPE_CHECKING:
    from api.store.postgis import _Snapshot

#: The column of each candidate layer that names what a search hit can be part of.
_KEYS = (("tijdelijke_locaties", "parcel_ids"), ("kantoren", "pand_id"), ("plinten", "vbo_id"))
_HIT_KEYS = {"tijdelijke_locaties": "parcel_id", "kantoren": "pand_id", "plinten": "vbo_id"}


def _rd_to_wgs(geom: shapely.Geometry) -> shapely.Geometry:
    tr = _to_wgs()
    return shapely.transform(
        geom, lambda c: np.round(np.column_stack(tr.transform(c[:, 0], c[:, 1])), 7)
    )


class PostGISWorkTool:
    """Mixin: needs ``current()`` (the published snapshot), ``_connection()`` and the store's SQL
    pieces (``_filter_params``, ``_filters_sql``, ``_statement``)."""

    _wt_lock = threading.Lock()

    def current(self) -> _Snapshot:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _connection(self) -> Any:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _filter_params(self, scope: Scope, filters: Filters) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _filters_sql(self, table: Any) -> Any:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _column(self, table: Any, name: str) -> Any:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _statement(  # pragma: no cover - provided by the store
        self, snap: _Snapshot, key: tuple[object, ...], build: Any, *args: Any
    ) -> Any:
        raise NotImplementedError

    # -- helpers ------------------------------------------------------------------------------
    def _wt_has(self, snap: _Snapshot, name: str, *columns: str) -> bool:
        t = snap.tables.get(name)
        return t is not None and all(c in t.columns for c in columns)

    def _wt_lookup(self, snap: _Snapshot) -> dict[str, dict[str, list[str]]]:
        """Per candidate layer: key (parcel id, pand id, vbo id) → site ids, once per version."""
        from psycopg import sql

        cached = getattr(self, "_wt_keys", None)
        if cached is not None and cached[0] == snap.version:
            return cached[1]  # type: ignore[no-any-return]
        by: dict[str, dict[str, list[str]]] = {}
        with self._connection() as con:
            for name, column in _KEYS:
                keys: dict[str, list[str]] = {}
                if self._wt_has(snap, name, column):
                    rows = con.execute(
                        sql.SQL(
                            "SELECT site_id, {c} FROM {t} WHERE {c} IS NOT NULL "
                            'ORDER BY site_id COLLATE "C"'
                        ).format(c=sql.Identifier(column), t=sql.Identifier(snap.schema, name))
                    ).fetchall()
                    for site_id, value in rows:
                        for key in str(value).split(","):
                            keys.setdefault(key.strip(), []).append(str(site_id))
                by[name] = keys
        self._wt_keys = (snap.version, by)
        return by

    def _wt_refs(
        self, con: Any, snap: _Snapshot, wanted: dict[str, set[str]], scope: Scope
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """``(layer, site_id)`` → the site's reference (as the GeoPackage store gives it), in
        scope."""
        from psycopg import sql

        from api.store.postgis import _scope_codes

        out: dict[tuple[str, str], dict[str, Any]] = {}
        for name, ids in wanted.items():
            table = snap.candidate(name)
            if table is None or not ids:
                continue
            col = lambda n, t=table: self._column(t, n)  # noqa: E731
            rows = con.execute(
                sql.SQL(
                    "SELECT site_id, {label}, {tier}, {score}, {cap} FROM {t} "
                    "WHERE site_id = ANY(%(ids)s::text[]) "
                    "AND (%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
                ).format(
                    label=col("label"),
                    tier=col("tier"),
                    score=col("score"),
                    cap=col("capacity_units"),
                    t=sql.Identifier(snap.schema, name),
                ),
                {"ids": sorted(ids), "scope": _scope_codes(scope)},
            ).fetchall()
            for site_id, label, tier, score, cap in rows:
                out[(name, str(site_id))] = {
                    "layer": name,
                    "site_id": str(site_id),
                    "label": label,
                    "tier": tier,
                    "score": None if score is None or math.isnan(score) else float(score),
                    "capacity_units": None if cap is None else int(cap),
                }
        return out

    # -- search -----------------------------------------------------------------------------
    def search(self, query: Query, *, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
        """Places and sites matching ``query`` within ``scope`` (at most ``limit``)."""
        from psycopg import sql

        snap = self.current()
        if query.kind == "site":
            return self._wt_search_site(snap, query.site_id or "", scope)
        index = snap.tables.get("zoekindex")
        if index is None or index.geometry_column is None:
            return []
        if scope.gemeenten is not None and not scope.gemeenten:
            return []
        where: list[str] = []
        args: dict[str, Any] = {"limit": limit, "scope": None}
        if query.kind == "perceel":
            where.append("akr_code = %(akr)s AND sectie = %(sectie)s AND perceelnummer = %(nr)s")
            args |= {"akr": query.akr_code, "sectie": query.sectie, "nr": query.perceelnummer}
        elif query.kind == "postcode":
            where.append("postcode = %(postcode)s")
            args["postcode"] = query.postcode
        else:
            text = query.straat or ""
            where.append('straat COLLATE "C" >= %(lo)s AND straat COLLATE "C" < %(hi)s')
            args |= {"lo": text, "hi": text + "\U0010ffff"}
            if query.woonplaats:
                where.append("woonplaats LIKE %(wp)s")
                args["wp"] = query.woonplaats.replace("%", "").replace("_", "") + "%"
        if query.kind in ("postcode", "straat") and query.huisnummer is not None:
            where.append("huisnummer = %(nr)s")
            args["nr"] = query.huisnummer
            if query.toevoeging:
                where.append("(toevoeging = %(tv)s OR toevoeging LIKE %(tv_like)s)")
                args |= {"tv": query.toevoeging, "tv_like": query.toevoeging + " %"}
        if scope.gemeenten is not None:
            where.append("gemeentecode = ANY(%(scope)s::text[])")
            args["scope"] = sorted(scope.gemeenten)
        if any("\x00" in str(v) for v in args.values() if isinstance(v, str)):
            return []  # PostgreSQL text never holds NUL: such a search matches nothing
        with self._connection() as con:
            rows = con.execute(
                sql.SQL(
                    "SELECT soort, naam, gemeentecode, parcel_id, pand_id, vbo_id, "
                    "ST_X({g}), ST_Y({g}) FROM {t} WHERE "
                    + " AND ".join(where)
                    + ' ORDER BY straat COLLATE "C" NULLS FIRST, huisnummer NULLS FIRST, '
                    'toevoeging COLLATE "C" NULLS FIRST, naam COLLATE "C" NULLS FIRST '
                    "LIMIT %(limit)s"
                ).format(
                    g=sql.Identifier(index.geometry_column),
                    t=sql.Identifier(snap.schema, "zoekindex"),
                ),
                args,
            ).fetchall()
            hits = [
                dict(
                    zip(
                        ("soort", "naam", "gemeentecode", "parcel_id", "pand_id", "vbo_id"),
                        r[:6],
                        strict=True,
                    ),
                    x=r[6],
                    y=r[7],
                )
                for r in rows
            ]
            sites = self._wt_hit_sites(con, snap, hits, scope)
        to_wgs = _to_wgs()
        out = []
        for hit, found in zip(hits, sites, strict=True):
            lon = lat = None
            if hit["x"] is not None:
                lon, lat = to_wgs.transform(hit["x"], hit["y"])
            out.append(
                {
                    "soort": hit["soort"],
                    "naam": hit["naam"],
                    "gemeentecode": hit["gemeentecode"],
                    "gemeentenaam": snap.names.get(hit["gemeentecode"]),
                    "lon": None if lon is None else round(lon, 7),
                    "lat": None if lat is None else round(lat, 7),
                    "parcel_id": hit["parcel_id"],
                    "sites": found,
                }
            )
        out.sort(key=lambda hit: not hit["sites"])
        return out

    def _wt_hit_sites(
        self, con: Any, snap: _Snapshot, hits: list[dict[str, Any]], scope: Scope
    ) -> list[list[dict[str, Any]]]:
        """The candidates each hit belongs to: its parcel, building or unit, or (an address) the
        plot its point lies on."""
        from psycopg import sql

        look = self._wt_lookup(snap)
        per_hit: list[set[tuple[str, str]]] = []
        for hit in hits:
            found: set[tuple[str, str]] = set()
            for name, key_col in _HIT_KEYS.items():
                key = hit.get(key_col)
                if key:
                    found |= {(name, sid) for sid in look[name].get(str(key), [])}
            per_hit.append(found)
        plots = snap.candidate("tijdelijke_locaties")
        addresses = [
            (i, h) for i, h in enumerate(hits) if h["soort"] == "adres" and h["x"] is not None
        ]
        if plots is not None and plots.geometry_column and addresses:
            rows = con.execute(
                sql.SQL(
                    "SELECT p.i, t.site_id FROM unnest(%(i)s::int[], %(x)s::float8[], "
                    "%(y)s::float8[]) AS p(i, x, y) JOIN {t} t ON "
                    "ST_Intersects(t.{g}, ST_SetSRID(ST_MakePoint(p.x, p.y), 28992))"
                ).format(
                    t=sql.Identifier(snap.schema, "tijdelijke_locaties"),
                    g=sql.Identifier(plots.geometry_column),
                ),
                {
                    "i": [i for i, _ in addresses],
                    "x": [h["x"] for _, h in addresses],
                    "y": [h["y"] for _, h in addresses],
                },
            ).fetchall()
            for i, site_id in rows:
                per_hit[int(i)].add(("tijdelijke_locaties", str(site_id)))
        wanted: dict[str, set[str]] = {}
        for found in per_hit:
            for name, sid in found:
                wanted.setdefault(name, set()).add(sid)
        refs = self._wt_refs(con, snap, wanted, scope)
        return [sorted((refs[k] for k in found if k in refs), key=site_order) for found in per_hit]

    def _wt_search_site(self, snap: _Snapshot, site_id: str, scope: Scope) -> list[dict[str, Any]]:
        from psycopg import sql

        if "\x00" in site_id:
            return []
        with self._connection() as con:
            for name in CANDIDATE_LAYERS:
                table = snap.candidate(name)
                if table is None or table.geometry_column is None:
                    continue
                row = con.execute(
                    sql.SQL(
                        "SELECT gemeentecode, ST_AsBinary({g}) FROM {t} WHERE site_id = %s"
                    ).format(
                        g=sql.Identifier(table.geometry_column),
                        t=sql.Identifier(snap.schema, name),
                    ),
                    (site_id,),
                ).fetchone()
                if row is None or not scope.allows(row[0]):
                    continue
                ref = self._wt_refs(con, snap, {name: {site_id}}, scope)[(name, site_id)]
                c = shapely.centroid(_rd_to_wgs(shapely.from_wkb(bytes(row[1]))))
                return [
                    {
                        "soort": "locatie",
                        "naam": ref["label"] or site_id,
                        "gemeentecode": row[0],
                        "gemeentenaam": snap.names.get(row[0]),
                        "lon": round(float(c.x), 7),
                        "lat": round(float(c.y), 7),
                        "parcel_id": None,
                        "sites": [ref],
                    }
                ]
        return []

    # -- names of what "waarom hier niet?" explains ----------------------------------------
    def why_places(self, answer: dict[str, Any], *, scope: Scope) -> dict[str, Any]:
        """The parcel's and building's name (``zoekindex``) and outline, as the GeoPackage
        store gives them (the outline is transformed in Python from the stored RD geometry)."""
        from psycopg import sql

        snap = self.current()
        index = snap.tables.get("zoekindex")
        with self._connection() as con:
            for item, name, key in (
                (answer.get("parcel"), "uitgesloten_percelen", "parcel_id"),
                (answer.get("building"), "uitgesloten_panden", "pand_id"),
            ):
                if not item or not item.get(key):
                    continue
                item["naam"] = None
                item["geometry"] = None
                if index is not None and key in index.columns:
                    row = con.execute(
                        sql.SQL(
                            "SELECT naam FROM {t} WHERE {k} = %s AND gemeentecode = %s "
                            'ORDER BY soort COLLATE "C" DESC, naam COLLATE "C" LIMIT 1'
                        ).format(t=sql.Identifier(snap.schema, "zoekindex"), k=sql.Identifier(key)),
                        (item[key], answer.get("gemeentecode")),
                    ).fetchone()
                    item["naam"] = row[0] if row else None
                table = snap.tables.get(name)
                if table is None or table.geometry_column is None or key not in table.columns:
                    continue
                row = con.execute(
                    sql.SQL(
                        "SELECT ST_AsBinary({g}), gemeentecode FROM {t} WHERE {k} = %s LIMIT 1"
                    ).format(
                        g=sql.Identifier(table.geometry_column),
                        t=sql.Identifier(snap.schema, name),
                        k=sql.Identifier(key),
                    ),
                    (item[key],),
                ).fetchone()
                if row and row[0] is not None and scope.allows(row[1]):
                    item["geometry"] = outline_geojson(shapely.from_wkb(bytes(row[0])))
        return answer

    # -- orientation ------------------------------------------------------------------------
    def _wt_frame(self, con: Any, snap: _Snapshot, name: str, columns: tuple[str, ...]) -> Any:
        from psycopg import sql

        table = snap.tables.get(name)
        if table is None or table.geometry_column is None:
            return None
        cols = [c for c in columns if c in table.columns]
        rows = con.execute(
            sql.SQL("SELECT {cols}, ST_AsBinary({g}) FROM {t} ORDER BY fid").format(
                cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                g=sql.Identifier(table.geometry_column),
                t=sql.Identifier(snap.schema, name),
            )
        ).fetchall()
        data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
        geoms = shapely.from_wkb([bytes(r[-1]) if r[-1] is not None else None for r in rows])
        return gpd.GeoDataFrame(pd.DataFrame(data), geometry=geoms, crs="EPSG:28992")

    def _orientation(self, snap: _Snapshot) -> _Orientation:
        cached: _Orientation | None = getattr(self, "_wt_orientation", None)
        if cached is not None and cached.version == snap.version:
            return cached
        with self._wt_lock:
            cached = getattr(self, "_wt_orientation", None)
            if cached is not None and cached.version == snap.version:
                return cached
            with self._connection() as con:
                names = self._wt_frame(
                    con, snap, "orientatie_namen", ("soort", "naam", "gemeentecode", "n")
                )
                water = self._wt_frame(con, snap, "orientatie_water", ("naam", "gemeentecode"))
            new = build_orientation(snap.version, names, water)
            self._wt_orientation = new
            return new

    def orientation(self, bbox: BBox, *, scope: Scope, zoom: int) -> dict[str, Any]:
        """Place and street names and water in ``bbox`` within ``scope``
        (:func:`~api.store.gpkg_worktool.orientation_answer`)."""
        return orientation_answer(self._orientation(self.current()), bbox, scope=scope, zoom=zoom)

    # -- lists -------------------------------------------------------------------------------
    def site_rows(
        self, layer: str | None, *, scope: Scope, filters: Filters, bbox: BBox | None
    ) -> pd.DataFrame:
        """The site list (:data:`LIST_COLUMNS`, the same rows as the GeoPackage store's): per
        layer one query on the columns themselves, with the scope, the filters and the box in the
        ``WHERE`` clause (those of the GeoJSON pages), in ``site_id`` order."""
        from psycopg import sql

        snap = self.current()
        params = self._filter_params(scope, filters)
        box: list[float] | None = None
        if bbox is not None:
            x0, y0 = mvt.lonlat_to_3857(bbox.minx, bbox.miny)
            x1, y1 = mvt.lonlat_to_3857(bbox.maxx, bbox.maxy)
            box = [float(x0), float(y0), float(x1), float(y1)]
        params |= {
            "box": box,
            **dict(zip(("x0", "y0", "x1", "y1"), box or (None,) * 4, strict=True)),
        }

        def build(table: Any) -> Any:
            cols = sql.SQL(", ").join(
                sql.Identifier(c) if c in table.columns else sql.SQL("NULL")
                for c in LIST_COLUMNS[1:]
            )
            return sql.SQL(
                "SELECT {cols} FROM {t} WHERE (%(box)s::float8[] IS NULL OR (geom_3857 &&"
                " ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857) AND ST_Intersects("
                "geom_3857, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857))))"
                " AND {filters} ORDER BY site_id"
            ).format(
                cols=cols,
                t=sql.Identifier(snap.schema, table.name),
                filters=self._filters_sql(table),
            )

        frames = []
        with self._connection() as con:
            for name in [layer] if layer else list(CANDIDATE_LAYERS):
                table = snap.candidate(name)
                if table is None:
                    continue
                stmt = self._statement(snap, ("site_rows", name), build, table)
                rows = con.execute(stmt, params).fetchall()
                df = pd.DataFrame(rows, columns=list(LIST_COLUMNS[1:]))
                df.insert(0, "layer", name)
                frames.append(df)
        return (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LIST_COLUMNS)
        )

    # -- the surroundings of a site (its sheet's map) -----------------------------------------
    def surroundings(
        self, layer: str, site_id: str, *, scope: Scope, margin: float = 120.0
    ) -> dict[str, Any] | None:
        """RD geometries around one site (as the GeoPackage store's ``surroundings``)."""
        from psycopg import sql

        from api.store.postgis import _scope_codes

        snap = self.current()
        table = snap.candidate(layer)
        if table is None or table.geometry_column is None or "\x00" in site_id:
            return None
        codes = _scope_codes(scope)
        with self._connection() as con:
            row = con.execute(
                sql.SQL("SELECT gemeentecode, ST_AsBinary({g}) FROM {t} WHERE site_id = %s").format(
                    g=sql.Identifier(table.geometry_column), t=sql.Identifier(snap.schema, layer)
                ),
                (site_id,),
            ).fetchone()
            if row is None or not scope.allows(row[0]):
                return None
            site = shapely.from_wkb(bytes(row[1]))
            x0, y0, x1, y1 = shapely.bounds(site).tolist()
            size = max(x1 - x0, y1 - y0, 60.0)
            pad = max(margin, size * 0.6)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            half = size / 2 + pad
            box = (cx - half, cy - half, cx + half, cy + half)
            env = {"x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3], "scope": codes}
            near = "ST_Intersects({g}, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 28992))"
            overlaps = "{g} && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 28992)"
            in_scope = "(%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
            others: list[tuple[str, Any, str | None]] = []
            for name in CANDIDATE_LAYERS:
                other = snap.candidate(name)
                if other is None or other.geometry_column is None:
                    continue
                rows = con.execute(
                    sql.SQL(
                        "SELECT site_id, ST_AsBinary({g}), {tier} FROM {t} WHERE "
                        + near
                        + " AND "
                        + in_scope
                        + ' ORDER BY site_id COLLATE "C"'
                    ).format(
                        g=sql.Identifier(other.geometry_column),
                        tier=self._column(other, "tier"),
                        t=sql.Identifier(snap.schema, name),
                    ),
                    env,
                ).fetchall()
                for sid, wkb, tier in rows:
                    if name == layer and str(sid) == site_id:
                        continue
                    others.append((name, shapely.from_wkb(bytes(wkb)), tier))
            excluded: dict[str, list[Any]] = {}
            for name in ("uitgesloten_percelen", "uitgesloten_panden"):
                ex = snap.tables.get(name)
                excluded[name] = []
                if ex is None or ex.geometry_column is None or "gemeentecode" not in ex.columns:
                    continue
                rows = con.execute(
                    sql.SQL(
                        "SELECT ST_AsBinary({g}) FROM {t} WHERE "
                        + overlaps
                        + " AND "
                        + in_scope
                        + " ORDER BY fid LIMIT 5000"
                    ).format(
                        g=sql.Identifier(ex.geometry_column), t=sql.Identifier(snap.schema, name)
                    ),
                    env,
                ).fetchall()
                excluded[name] = [shapely.from_wkb(bytes(r[0])) for r in rows if r[0] is not None]
        water, streets = water_and_streets(self._orientation(snap), box, scope=scope)
        return {
            "box": box,
            "site": site,
            "others": others,
            "parcels": excluded["uitgesloten_percelen"],
            "buildings": excluded["uitgesloten_panden"],
            "water": water,
            "streets": streets,
        }
