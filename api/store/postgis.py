"""The :class:`~api.store.data.DataStore` for a result published to PostGIS (:mod:`api.publish`).

Every answer is one or a few indexed queries on the current result schema, with the caller's
scope and the filters in the ``WHERE`` clause: vector tiles with ``ST_AsMVT``/``ST_AsMVTGeom`` on
the GiST-indexed ``geom_3857``, GeoJSON pages from the ``feature_json`` that publish computed with
the GeoPackage store's own code, "why (not) here?" on the EPSG:28992 geometries, exports read back
with ``COPY`` and written as a GeoPackage. Answers match the GeoPackage store's (same tests).

Which result is current is read from ``kansenkaart_results.published`` at most every
``poll_seconds``; a new publish is picked up then, without a restart, and requests in flight keep
the schema they started with (publish keeps the previous schema for them). Connections come from
a small pool (``psycopg_pool``) in autocommit mode, so a query never holds a transaction open.
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyogrio

from api import tiles as mvt
from api.errors import Forbidden, InvalidParameter, NotFound, ResultUnavailable
from api.postgres import libpq_url
from api.publish import CATALOG_SCHEMA, LAYERS_TABLE
from api.security import Scope
from api.store.common import (
    EXCLUDED_IDS,
    EXCLUDED_LAYERS,
    POINT_TOLERANCE_M,
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
    why_answer,
    why_point,
)
from api.store.data import (
    CANDIDATE_LAYERS,
    COLLECTIONS,
    DETAIL_ZOOM,
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
from api.store.export import export_layer_names, export_metadata_table, fit_overview_style
from api.store.postgis_worktool import PostGISWorkTool

log = logging.getLogger("kansenkaart.api")

_WHOLE_TABLES = ("run_metadata", "layer_styles")  # in the order the GeoPackage store writes them
#: Columns a candidate layer is expected to have (a missing one reads as NULL, as in the GeoPackage store).
_CANDIDATE_TYPES = {
    "site_id": "text",
    "gemeentecode": "text",
    "score": "double precision",
    "tier": "text",
    "capacity_units": "bigint",
    "owner_class": "text",
    "label": "text",
    "rank": "bigint",
}


@dataclass
class _Table:
    name: str
    kind: str
    fid_column: str
    geometry_column: str | None
    geometry_type: str | None
    crs: str | None
    schema: pa.Schema  # the GeoPackage columns (without fid and geometry)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


@dataclass
class _Snapshot:
    version: str
    schema: str
    tables: dict[str, _Table]
    names: dict[str, str]
    bounds_wgs: dict[str, tuple[float, float, float, float]]
    run: RunInfo
    checked: float
    sql: dict[tuple[object, ...], Any] = field(default_factory=dict)

    def candidate(self, layer: str) -> _Table | None:
        return self.tables.get(layer)


def _values(values: tuple[str, ...]) -> list[str] | None:
    """A list filter as a query parameter (``None``: no filter). Text in PostgreSQL never holds
    NUL, so such values can match nothing and are left out (an empty list matches nothing)."""
    if not values:
        return None
    return [v for v in values if "\x00" not in v]


def _scope_codes(scope: Scope) -> list[str] | None:
    return None if scope.gemeenten is None else sorted(scope.gemeenten)


class PostGISStore(PostGISWorkTool):
    """Serves the current result published in the PostGIS database at ``url``."""

    def __init__(self, url: str, *, pool_size: int = 8, poll_seconds: float = 2.0) -> None:
        from psycopg_pool import ConnectionPool

        self.poll_seconds = poll_seconds
        self.tile_threads = pool_size  # PostgreSQL renders; a thread waits for its connection
        self._pool = ConnectionPool(
            libpq_url(url),
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": 5, "prepare_threshold": 2},
            timeout=10,
            name="kansenkaart-result",
            open=True,
        )
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self._exports = ExportCache()

    # -- connections and the current result -----------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as con:
                yield con
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.error("result database unavailable: %s", exc)
            raise ResultUnavailable(
                "De database met het scanresultaat is niet bereikbaar."
            ) from None

    def current(self) -> _Snapshot:
        """The current result, checked against the catalog at most every ``poll_seconds``."""
        snap = self._snapshot
        now = time.monotonic()
        if snap is not None and now - snap.checked < self.poll_seconds:
            return snap
        if not self._lock.acquire(blocking=snap is None):
            return snap  # type: ignore[return-value]  # another thread is checking; keep serving
        try:
            snap = self._snapshot
            if snap is not None and time.monotonic() - snap.checked < self.poll_seconds:
                return snap
            try:
                version, schema = self._current_row()
            except ResultUnavailable:
                if snap is None:
                    raise
                return snap  # the database is briefly away: keep answering from what we know
            if snap is not None and snap.version == version:
                snap.checked = time.monotonic()
                return snap
            try:
                new = self._load(version, schema)
            except Exception:
                log.exception(
                    "could not load published result %s; keeping the previous one", version
                )
                if snap is None:
                    raise ResultUnavailable(
                        "Het scanresultaat kan niet gelezen worden; zie het serverlog."
                    ) from None
                snap.checked = time.monotonic()
                return snap
            log.info("serving published result %s (schema %s)", version, schema)
            self._snapshot = new
            return new
        finally:
            self._lock.release()

    def _current_row(self) -> tuple[str, str]:
        import psycopg

        with self._connection() as con:
            try:
                row = con.execute(
                    f"SELECT version, schema_name FROM {CATALOG_SCHEMA}.published WHERE current"
                ).fetchone()
            except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
                row = None
        if row is None:
            raise ResultUnavailable(
                "Er is nog geen scanresultaat gepubliceerd (kansenkaart publish)."
            )
        return str(row[0]), str(row[1])

    def _load(self, version: str, schema: str) -> _Snapshot:
        from psycopg import sql

        with self._connection() as con:
            tables = {}
            for name, kind, fid_col, geom_col, geom_type, crs, arrow_schema in con.execute(
                sql.SQL(
                    "SELECT name, kind, fid_column, geometry_column, geometry_type, crs, "
                    "arrow_schema FROM {} ORDER BY position"
                ).format(sql.Identifier(schema, LAYERS_TABLE))
            ):
                tables[name] = _Table(
                    name,
                    kind,
                    fid_col,
                    geom_col,
                    geom_type,
                    crs,
                    pa.ipc.read_schema(pa.py_buffer(bytes(arrow_schema))),
                )
            gem = tables["gemeenten"]
            name_col = "gemeentenaam" if "gemeentenaam" in gem.columns else "gemeentecode"
            names: dict[str, str] = {}
            bounds: dict[str, tuple[float, float, float, float]] = {}
            for code, naam, bw in con.execute(
                sql.SQL(
                    'SELECT gemeentecode::text, {}::text, bounds_wgs FROM {} ORDER BY gemeentecode COLLATE "C"'
                ).format(sql.Identifier(name_col), sql.Identifier(schema, "gemeenten"))
            ):
                names[str(code)] = str(naam)
                bounds[str(code)] = (bw[0], bw[1], bw[2], bw[3])
            metadata: dict[str, Any] = {}
            if "run_metadata" in tables:
                for key, value in con.execute(
                    sql.SQL("SELECT key, value FROM {}").format(
                        sql.Identifier(schema, "run_metadata")
                    )
                ):
                    metadata[str(key)] = json_value(value)
        return _Snapshot(
            version=version,
            schema=schema,
            tables=tables,
            names=names,
            bounds_wgs=bounds,
            run=run_info(metadata),
            checked=time.monotonic(),
        )

    def available(self) -> bool:
        try:
            self.current()
        except ResultUnavailable:
            return False
        return True

    def close(self) -> None:
        self._exports.close()
        self._pool.close()

    # -- interface: versions and small answers ---------------------------------------------------
    def version(self) -> str:
        return self.current().version

    def loaded_version(self) -> str | None:
        snap = self._snapshot
        if snap is None or time.monotonic() - snap.checked >= self.poll_seconds:
            return None
        return snap.version

    def run_info(self) -> RunInfo:
        return self.current().run

    def gemeente_names(self) -> dict[str, str]:
        return dict(self.current().names)

    def bounds(self, scope: Scope) -> tuple[float, float, float, float] | None:
        return scoped_bounds(self.current().bounds_wgs, scope)

    # -- SQL pieces ---------------------------------------------------------------------------
    @staticmethod
    def _column(table: _Table, name: str) -> Any:
        """A candidate column, or a typed NULL when the layer does not have it."""
        from psycopg import sql

        if name in table.columns:
            return sql.Identifier(name)
        return sql.SQL("NULL::{}").format(sql.SQL(_CANDIDATE_TYPES[name]))

    def _filters_sql(self, table: _Table) -> Any:
        """``WHERE`` terms for scope and filters; parameters ``scope, gem, min_score, min_cap, owner,
        tiers``."""
        from psycopg import sql

        col = lambda n: self._column(table, n)  # noqa: E731
        return sql.SQL(
            "(%(scope)s::text[] IS NULL OR {code} = ANY(%(scope)s::text[]))"
            " AND (%(gem)s::text[] IS NULL OR {code} = ANY(%(gem)s::text[]))"
            " AND (%(min_score)s::float8 IS NULL OR {score} >= %(min_score)s::float8)"
            " AND (%(min_cap)s::float8 IS NULL OR {cap} >= %(min_cap)s::float8)"
            " AND (%(owner)s::text[] IS NULL OR {owner} = ANY(%(owner)s::text[]))"
            " AND (%(tiers)s::text[] IS NULL OR {tier} = ANY(%(tiers)s::text[]))"
        ).format(
            code=col("gemeentecode"),
            score=col("score"),
            cap=col("capacity_units"),
            owner=col("owner_class"),
            tier=col("tier"),
        )

    @staticmethod
    def _filter_params(scope: Scope, filters: Filters) -> dict[str, Any]:
        return {
            "scope": _scope_codes(scope),
            "gem": _values(filters.gemeenten),
            "min_score": filters.min_score,
            "min_cap": filters.min_capacity,
            "owner": _values(filters.owner_class),
            "tiers": _values(filters.tiers),
        }

    @staticmethod
    def _statement(
        snap: _Snapshot, key: tuple[object, ...], build: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        """``build(*args, **kw)``, composed once per result and ``key``."""
        stmt = snap.sql.get(key)
        if stmt is None:
            stmt = snap.sql[key] = build(*args, **kw)
        return stmt

    # -- interface: features ------------------------------------------------------------------
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
        from psycopg import sql

        snap = self.current()
        box = None
        if bbox is not None:
            x0, y0 = mvt.lonlat_to_3857(bbox.minx, bbox.miny)
            x1, y1 = mvt.lonlat_to_3857(bbox.maxx, bbox.maxy)
            box = (float(x0), float(y0), float(x1), float(y1))
        params = self._filter_params(scope, filters)

        def build(table: _Table) -> Any:
            return sql.SQL(
                "SELECT site_id, feature_json FROM {t} WHERE (%(after)s::text IS NULL OR site_id > %(after)s::text)"
                " AND (%(box)s::float8[] IS NULL OR (geom_3857 && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857)"
                " AND ST_Intersects(geom_3857, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857))))"
                " AND {filters} ORDER BY site_id LIMIT %(n)s"
            ).format(t=sql.Identifier(snap.schema, table.name), filters=self._filters_sql(table))

        with self._connection() as con:

            def fetch(name: str, after: str | None, n: int) -> list[tuple[str, str]]:
                table = snap.candidate(name)
                if table is None:
                    return []
                stmt = self._statement(snap, ("features", name), build, table)
                x0, y0, x1, y1 = box or (None, None, None, None)
                rows = con.execute(
                    stmt,
                    {
                        **params,
                        "after": None if after is None else after.split("\x00", 1)[0],
                        "box": list(box) if box else None,
                        "x0": x0,
                        "y0": y0,
                        "x1": x1,
                        "y1": y1,
                        "n": n,
                    },
                ).fetchall()
                return [(str(r[0]), str(r[1])) for r in rows]

            return paginate(layer, limit=limit, cursor=cursor, fetch=fetch)

    def feature(self, layer: str, site_id: str, *, scope: Scope) -> dict[str, Any] | None:
        from psycopg import sql

        snap = self.current()
        table = snap.candidate(layer)
        if table is None or "\x00" in site_id:  # text in PostgreSQL never holds NUL
            return None
        expl = (
            sql.Identifier("explanation")
            if "explanation" in table.columns
            else sql.SQL("NULL::text")
        )
        stmt = sql.SQL(
            "SELECT feature_json, {e} FROM {t} WHERE site_id = %(id)s"
            " AND (%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
        ).format(e=expl, t=sql.Identifier(snap.schema, table.name))
        with self._connection() as con:
            row = con.execute(stmt, {"id": site_id, "scope": _scope_codes(scope)}).fetchone()
        if row is None:
            return None
        feature = json.loads(row[0])
        props = feature["properties"]
        props["explanation"] = json_value(row[1]) if row[1] is not None else None
        return {
            "type": "Feature",
            "id": site_id,
            "geometry": feature["geometry"],
            "properties": props,
            "layer": layer,
            "sources": snap.run.sources,
        }

    def gemeenten(self, *, scope: Scope, codes: tuple[str, ...] = ()) -> list[str]:
        from psycopg import sql

        snap = self.current()
        stmt = sql.SQL(
            "SELECT feature_json FROM {t} WHERE (%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
            " AND (%(codes)s::text[] IS NULL OR gemeentecode = ANY(%(codes)s::text[]))"
            ' ORDER BY gemeentecode COLLATE "C"'
        ).format(t=sql.Identifier(snap.schema, "gemeenten"))
        with self._connection() as con:
            rows = con.execute(
                stmt, {"scope": _scope_codes(scope), "codes": _values(codes)}
            ).fetchall()
        return [str(r[0]) for r in rows]

    def gemeente_properties(self, scope: Scope) -> list[dict[str, Any]]:
        return [json.loads(f)["properties"] for f in self.gemeenten(scope=scope)]

    # -- interface: OGC API Features ----------------------------------------------------------
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
        from psycopg import sql

        snap = self.current()
        if collection in EXCLUDED_LAYERS:
            return self._excluded_items(
                snap, collection, scope=scope, bbox=bbox, crs=crs, limit=limit, cursor=cursor
            )
        table = self._collection(snap, collection)
        after = None
        if cursor:
            _, after = decode_cursor(cursor, layers=(collection,), error=InvalidParameter)
            after = after.split("\x00", 1)[0]  # no stored text holds NUL (see _values)
        if table is None:
            return ItemsPage([], 0, None)
        key_col = sql.Identifier("gemeentecode" if collection == "gemeenten" else "site_id")
        where_box: Any = sql.SQL("true")
        if bbox is not None and bbox.crs == RD_NEW:
            where_box = sql.SQL(
                "{g} && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 28992)"
                " AND ST_Intersects({g}, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 28992))"
            ).format(g=sql.Identifier(table.geometry_column or "geom"))
        elif bbox is not None:  # a lon/lat box is a box in Web Mercator too (x: lon, y: lat)
            where_box = sql.SQL(
                "geom_3857 && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857)"
                " AND ST_Intersects(geom_3857, ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 3857))"
            )
        params: dict[str, Any] = {"scope": _scope_codes(scope), "after": after, "n": limit + 1}
        if bbox is not None:
            x0, y0, x1, y1 = bbox.minx, bbox.miny, bbox.maxx, bbox.maxy
            if bbox.crs != RD_NEW:
                (x0, x1), (y0, y1) = mvt.lonlat_to_3857(np.array([x0, x1]), np.array([y0, y1]))
            params |= {"x0": float(x0), "y0": float(y0), "x1": float(x1), "y1": float(y1)}
        where = sql.SQL(
            "{box} AND (%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
        ).format(box=where_box)
        t = sql.Identifier(snap.schema, table.name)
        feature = sql.Identifier("feature_rd_json" if crs == RD_NEW else "feature_json")
        with self._connection() as con:
            matched = con.execute(
                sql.SQL("SELECT count(*) FROM {t} WHERE {w}").format(t=t, w=where), params
            ).fetchone()[0]
            rows = con.execute(
                sql.SQL(
                    "SELECT {k}, {f} FROM {t} WHERE {w}"
                    " AND (%(after)s::text IS NULL OR {k} > %(after)s::text)"
                    ' ORDER BY {k} COLLATE "C" LIMIT %(n)s'
                ).format(k=key_col, f=feature, t=t, w=where),
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return ItemsPage(
            features=[str(r[1]) for r in rows],
            number_matched=int(matched),
            next_cursor=encode_cursor(collection, str(rows[-1][0])) if more else None,
        )

    def item(self, collection: str, item_id: str, *, scope: Scope, crs: str) -> str | None:
        from psycopg import sql

        snap = self.current()
        if collection in EXCLUDED_LAYERS:
            return self._excluded_item(snap, collection, item_id, scope=scope, crs=crs)
        table = self._collection(snap, collection)
        if table is None or "\x00" in item_id:
            return None
        stmt = sql.SQL(
            "SELECT {f} FROM {t} WHERE {k} = %(id)s"
            " AND (%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
        ).format(
            f=sql.Identifier("feature_rd_json" if crs == RD_NEW else "feature_json"),
            t=sql.Identifier(snap.schema, table.name),
            k=sql.Identifier("gemeentecode" if collection == "gemeenten" else "site_id"),
        )
        with self._connection() as con:
            row = con.execute(stmt, {"id": item_id, "scope": _scope_codes(scope)}).fetchone()
        return str(row[0]) if row else None

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
        """Rows in scope with a geometry, in ``fid`` order, pre-selected by the GiST index on the
        query box and tested exactly by :func:`excluded_page` (as the GeoPackage store does)."""
        import shapely
        from psycopg import sql

        table = snap.tables.get(name)
        if table is None or table.geometry_column is None:
            return ItemsPage([], 0, None)
        shape = bbox_in_rd(bbox) if bbox is not None else None
        g = sql.Identifier(table.geometry_column)
        fid = sql.Identifier(table.fid_column)
        conds = [
            sql.SQL("{g} IS NOT NULL").format(g=g),
            sql.SQL("(%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"),
        ]
        params: dict[str, Any] = {"scope": _scope_codes(scope)}
        if shape is not None:
            x0, y0, x1, y1 = shapely.bounds(shape).tolist()
            conds.append(
                sql.SQL("{g} && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 28992)").format(g=g)
            )
            params |= {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
        where = sql.SQL(" AND ").join(conds)
        t = sql.Identifier(snap.schema, name)
        cols = table.columns
        rows_sql = sql.SQL(
            "SELECT {fid}, {cols}, ST_AsBinary({g}) FROM {t} WHERE {w} AND {fid} > %(after)s"
            " ORDER BY {fid} LIMIT %(n)s"
        ).format(fid=fid, cols=sql.SQL(", ").join(map(sql.Identifier, cols)), g=g, t=t, w=where)
        with self._connection() as con:

            def fetch(after: int, n: int) -> list[tuple[int, dict[str, Any], Any]]:
                rows = con.execute(rows_sql, {**params, "after": after, "n": n}).fetchall()
                return [
                    (int(r[0]), dict(zip(cols, r[1:-1], strict=True)), shapely.from_wkb(r[-1]))
                    for r in rows
                ]

            matched = None
            if shape is None:
                matched = int(
                    con.execute(
                        sql.SQL("SELECT count(*) FROM {t} WHERE {w}").format(t=t, w=where), params
                    ).fetchone()[0]
                )
            return excluded_page(
                name, fetch=fetch, matched=matched, shape=shape, crs=crs, limit=limit, cursor=cursor
            )

    def _excluded_item(
        self, snap: _Snapshot, name: str, item_id: str, *, scope: Scope, crs: str
    ) -> str | None:
        import shapely
        from psycopg import sql

        table = snap.tables.get(name)
        if table is None or table.geometry_column is None or "\x00" in item_id:
            return None
        id_column = EXCLUDED_IDS[name]
        cols = table.columns
        g = sql.Identifier(table.geometry_column)
        fid = sql.Identifier(table.fid_column)
        stmt = sql.SQL(
            "SELECT {fid}, {cols}, ST_AsBinary({g}) FROM {t} WHERE {k} = %(id)s"
            " AND {g} IS NOT NULL ORDER BY {fid} LIMIT 1"
        ).format(
            fid=fid,
            cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
            g=g,
            t=sql.Identifier(snap.schema, name),
            k=sql.Identifier(id_column),
        )
        with self._connection() as con:
            row = con.execute(stmt, {"id": item_id}).fetchone()
        if row is None:
            return None
        props = dict(zip(cols, row[1:-1], strict=True))
        if not scope.allows(props.get("gemeentecode")):
            return None
        rows = [(int(row[0]), props, shapely.from_wkb(row[-1]))]
        return excluded_features(rows, id_column=id_column, crs=crs)[0]

    @staticmethod
    def _collection(snap: _Snapshot, name: str) -> _Table | None:
        """The table of an OGC API collection (``None``: a candidate layer the result lacks)."""
        if name not in COLLECTIONS:
            raise NotFound(f"Collectie '{name}' bestaat niet.")
        return snap.tables.get(name)

    # -- interface: tiles ---------------------------------------------------------------------
    def tile(
        self, layer: str, z: int, x: int, y: int, *, scope: Scope, filters: Filters, max_bytes: int
    ) -> bytes:
        snap = self.current()
        is_gem = layer == "gemeenten"
        table = snap.tables.get(layer)
        point = table is not None and table.geometry_type in ("Point", "MultiPoint")
        gtype = mvt.GEOM_POINT if point else mvt.GEOM_POLYGON
        lo, hi = ZOOMS["gemeenten" if is_gem else "candidates"]
        empty = mvt.encode_tile([mvt.encode_layer(layer, np.array([]), {}, geom_type=gtype)])
        if z < lo or table is None:
            return empty
        minx, miny, maxx, maxy = mvt.tile_bounds_3857(z, x, y)
        pad = (maxx - minx) * mvt.BUFFER / mvt.EXTENT
        unit = (maxx - minx) / mvt.EXTENT  # metres per tile unit
        if is_gem:
            fields: tuple[str, ...] = GEMEENTE_TILE_FIELDS
            simplify = 2.0 if z < hi else 0.0
            params: dict[str, Any] = {
                "scope": _scope_codes(scope),
                "gem": _values(filters.gemeenten),
            }
        else:
            fields = TILE_FIELDS + (TILE_DETAIL_FIELDS if z >= DETAIL_ZOOM else ())
            simplify = 1.0 if z < 14 else 0.0
            params = self._filter_params(scope, filters)
        params |= {
            "name": layer,
            "minx": minx,
            "miny": miny,
            "maxx": maxx,
            "maxy": maxy,
            "qx0": minx - pad,
            "qy0": miny - pad,
            "qx1": maxx + pad,
            "qy1": maxy + pad,
            "scale": 1.0 / unit,
        }
        limit: int | None = None
        with self._connection() as con:
            while True:
                key = ("tile", layer, fields, simplify > 0, limit is not None)
                stmt = self._statement(
                    snap,
                    key,
                    self._tile_sql,
                    snap,
                    table,
                    fields,
                    point=point,
                    simplify=simplify > 0,
                    capped=limit is not None,
                )
                data, count = con.execute(
                    stmt, {**params, "tol": simplify * unit, "limit": limit}
                ).fetchone()
                data = bytes(data or b"")
                if count == 0:
                    return empty
                if is_gem or len(data) <= max_bytes or count <= 1:
                    return data
                # Too big: keep the best-scoring share that fits (as the GeoPackage store does).
                share = max_bytes / len(data) * 0.9
                limit = max(1, math.floor(count * share))
                simplify = max(simplify * 2, 2.0)

    def _tile_sql(
        self,
        snap: _Snapshot,
        table: _Table,
        fields: tuple[str, ...],
        *,
        point: bool,
        simplify: bool,
        capped: bool,
    ) -> Any:
        from psycopg import sql

        t = sql.Identifier(snap.schema, table.name)
        if table.kind == "gemeenten":
            props = sql.SQL(", ").join(sql.Identifier(f) for f in fields)
            where = sql.SQL(
                "(%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
                " AND (%(gem)s::text[] IS NULL OR gemeentecode = ANY(%(gem)s::text[]))"
            )
            order = sql.SQL('gemeentecode COLLATE "C"')
        else:
            props = sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(self._column(table, f), sql.Identifier(f))
                for f in fields
            )
            where = self._filters_sql(table)
            order = sql.SQL("site_id")
        qbox = sql.SQL("ST_MakeEnvelope(%(qx0)s, %(qy0)s, %(qx1)s, %(qy1)s, 3857)")
        env = sql.SQL("ST_MakeEnvelope(%(minx)s, %(miny)s, %(maxx)s, %(maxy)s, 3857)")
        if point:
            geom = sql.SQL("ST_AsMVTGeom(geom_3857, {env}, 4096, 64, true)").format(env=env)
        else:
            src = (
                sql.SQL("ST_Simplify(ST_ClipByBox2D(geom_3857, {q}), %(tol)s)").format(q=qbox)
                if simplify
                else sql.SQL("geom_3857")
            )
            # A polygon that collapses at this zoom stays visible as a 4×4 unit square at its
            # centroid (when the centroid lies in the buffered tile), as in api.tiles.
            geom = sql.SQL(
                "COALESCE(ST_AsMVTGeom({src}, {env}, 4096, 64, true),"
                " CASE WHEN ST_Intersects(ST_Centroid(geom_3857), {q}) THEN ST_ForcePolygonCCW(ST_MakeEnvelope("
                "round((ST_X(ST_Centroid(geom_3857)) - %(minx)s) * %(scale)s) - 2,"
                " round((%(maxy)s - ST_Y(ST_Centroid(geom_3857))) * %(scale)s) - 2,"
                " round((ST_X(ST_Centroid(geom_3857)) - %(minx)s) * %(scale)s) + 2,"
                " round((%(maxy)s - ST_Y(ST_Centroid(geom_3857))) * %(scale)s) + 2)) END)"
            ).format(src=src, env=env, q=qbox)
        score = sql.SQL("score DESC NULLS LAST, ") if "score" in fields else sql.SQL("")
        inner = sql.SQL(
            "SELECT {props}, {geom} AS mvt_geom, {order} AS mvt_order FROM {t}"
            " WHERE geom_3857 && {q} AND ST_Intersects(geom_3857, {q}) AND {where}"
        ).format(props=props, geom=geom, order=order, t=t, q=qbox, where=where)
        if capped:
            inner = sql.SQL(
                "SELECT * FROM ({inner}) c WHERE mvt_geom IS NOT NULL ORDER BY {score}mvt_order LIMIT %(limit)s"
            ).format(inner=inner, score=score)
        cols = sql.SQL(", ").join(sql.Identifier(f) for f in fields)
        return sql.SQL(
            "SELECT ST_AsMVT(f, %(name)s, 4096, 'mvt_geom'), count(*) FROM ("
            "SELECT {cols}, mvt_geom FROM ({inner}) r WHERE mvt_geom IS NOT NULL ORDER BY mvt_order"
            ") f"
        ).format(cols=cols, inner=inner)

    # -- interface: why -----------------------------------------------------------------------
    def why(self, x: float, y: float, *, crs: str, scope: Scope) -> dict[str, Any]:
        from psycopg import sql

        snap = self.current()
        rx, ry, location = why_point(x, y, crs)
        pt = {"x": rx, "y": ry, "scope": _scope_codes(scope), "tol": POINT_TOLERANCE_M}
        point = sql.SQL("ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 28992)")
        gem = snap.tables["gemeenten"]
        with self._connection() as con:
            row = con.execute(
                sql.SQL(
                    'SELECT gemeentecode FROM {t} WHERE ST_Intersects({g}, {p}) ORDER BY gemeentecode COLLATE "C" LIMIT 1'
                ).format(
                    t=sql.Identifier(snap.schema, "gemeenten"),
                    g=sql.Identifier(gem.geometry_column or "geom"),
                    p=point,
                ),
                pt,
            ).fetchone()
            code = str(row[0]) if row else None
            if not scope.allows(code):
                raise Forbidden("Dit punt ligt buiten uw gemeente(n).")
            candidates: list[dict[str, Any]] = []
            parcel = building = None
            if code is not None:
                for name in CANDIDATE_LAYERS:
                    table = snap.candidate(name)
                    if table is None:
                        continue
                    g = sql.Identifier(table.geometry_column or "geom")
                    near = (
                        sql.SQL("ST_DWithin({g}, {p}, %(tol)s)")
                        if table.geometry_type in ("Point", "MultiPoint")
                        else sql.SQL("ST_Intersects({g}, {p})")
                    ).format(g=g, p=point)
                    rows = con.execute(
                        sql.SQL(
                            "SELECT site_id, {score}, {tier}, {label} FROM {t} WHERE {near}"
                            " AND (%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
                            " ORDER BY site_id"
                        ).format(
                            score=self._column(table, "score"),
                            tier=self._column(table, "tier"),
                            label=self._column(table, "label"),
                            t=sql.Identifier(snap.schema, name),
                            near=near,
                        ),
                        pt,
                    ).fetchall()
                    for site_id, score, tier, label in rows:
                        candidates.append(
                            {
                                "layer": name,
                                "site_id": str(site_id),
                                "score": None
                                if score is None or math.isnan(score)
                                else float(score),
                                "tier": tier,
                                "label": label,
                            }
                        )
                parcel = self._excluded_at(con, snap, "uitgesloten_percelen", point, pt)
                building = self._excluded_at(con, snap, "uitgesloten_panden", point, pt)
        return why_answer(
            location=location,
            gemeentecode=code,
            gemeentenaam=snap.names.get(code) if code else None,
            candidates=candidates,
            parcel=parcel,
            building=building,
        )

    @staticmethod
    def _excluded_at(
        con: Any, snap: _Snapshot, name: str, point: Any, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        from psycopg import sql

        table = snap.tables.get(name)
        if table is None or table.geometry_column is None:
            return None
        cols = table.columns
        scoped = "gemeentecode" in cols
        row = con.execute(
            sql.SQL(
                "SELECT {cols} FROM {t} WHERE ST_Intersects({g}, {p}) AND {scope} ORDER BY fid LIMIT 1"
            ).format(
                cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                t=sql.Identifier(snap.schema, name),
                g=sql.Identifier(table.geometry_column),
                p=point,
                scope=sql.SQL(
                    "(%(scope)s::text[] IS NULL OR gemeentecode = ANY(%(scope)s::text[]))"
                    if scoped
                    else "%(scope)s::text[] IS NULL"
                ),
            ),
            params,
        ).fetchone()
        return dict(zip(cols, row, strict=True)) if row else None

    # -- interface: exports -------------------------------------------------------------------
    def export(
        self, gemeentecode: str, *, scope: Scope, include_excluded: bool = False
    ) -> ExportInfo:
        """The GeoPackage of one municipality, built once per result version (:class:`ExportCache`)."""
        snap = self.current()
        return self._exports.get(
            snap.version,
            gemeentecode,
            include_excluded,
            lambda tmp: self._write_export(snap, tmp, gemeentecode, include_excluded),
            scope=scope,
            known=snap.names,
        )

    def _write_export(
        self, snap: _Snapshot, dest: Path, code: str, include_excluded: bool
    ) -> dict[str, int]:
        """Write the municipality's rows of every scoped layer, the styles and run metadata."""
        scoped = [
            snap.tables[name]
            for name in export_layer_names(
                (t.name for t in snap.tables.values() if "gemeentecode" in t.columns),
                include_excluded=include_excluded,
            )
        ]
        counts: dict[str, int] = {}
        dest.unlink(missing_ok=True)
        with self._connection() as con:
            for t in scoped:
                table = self._read_rows(con, snap, t, code)
                counts[t.name] = table.num_rows
                _write_layer(dest, t, table)
            names = [t.name for t in scoped]
            overview: list[Any] | None = None
            if "gemeenten" in names and "capacity_ab" in snap.tables["gemeenten"].columns:
                overview = self._read_rows(con, snap, snap.tables["gemeenten"], code)[
                    "capacity_ab"
                ].to_pylist()
            for name in _WHOLE_TABLES:
                whole = snap.tables.get(name)
                if whole is None:
                    continue
                table = self._read_rows(con, snap, whole, None)
                if name == "layer_styles" and "f_table_name" in whole.columns:
                    mask = pc.is_in(table["f_table_name"], pa.array(names, pa.string()))
                    table = fit_overview_style(table.filter(mask), overview)
                if name == "run_metadata":
                    table = export_metadata_table(table, code, counts)
                _write_layer(dest, whole, table)
        return counts

    @staticmethod
    def _read_rows(con: Any, snap: _Snapshot, t: _Table, code: str | None) -> pa.Table:
        """The table's rows (one municipality's when ``code`` is given) in feature-id order, as
        Arrow with the GeoPackage column types and WKB geometry (``COPY … TO STDOUT`` as CSV)."""
        from psycopg import sql

        select: list[Any] = [sql.SQL("fid")]
        for f in t.schema:
            if pa.types.is_timestamp(f.type):
                select.append(sql.SQL("({} AT TIME ZONE 'UTC')").format(sql.Identifier(f.name)))
            else:
                select.append(sql.Identifier(f.name))
        if t.geometry_column:
            select.append(
                sql.SQL("encode(ST_AsBinary({}), 'hex')").format(sql.Identifier(t.geometry_column))
            )
        where = (
            sql.SQL(" WHERE gemeentecode = {}").format(sql.Literal(code))
            if code is not None
            else sql.SQL("")
        )
        query = sql.SQL("COPY (SELECT {} FROM {}{} ORDER BY fid) TO STDOUT (FORMAT csv)").format(
            sql.SQL(", ").join(select), sql.Identifier(snap.schema, t.name), where
        )
        buf = io.BytesIO()
        with con.cursor().copy(query) as copy:
            for chunk in copy:
                buf.write(chunk)
        names = ["fid", *t.columns] + (["_wkb"] if t.geometry_column else [])
        types: dict[str, pa.DataType] = {"fid": pa.int64()}
        for f in t.schema:
            types[f.name] = pa.timestamp(f.type.unit) if pa.types.is_timestamp(f.type) else f.type
        if t.geometry_column:
            types["_wkb"] = pa.string()
        buf.seek(0)
        if buf.getbuffer().nbytes == 0:
            table = pa.table({n: pa.array([], types[n]) for n in names})
        else:
            table = pacsv.read_csv(
                buf,
                read_options=pacsv.ReadOptions(column_names=names),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
        columns = [table[f.name].cast(f.type) for f in t.schema]
        out_names = list(t.columns)
        if t.geometry_column:
            hexes = table["_wkb"].to_pylist()
            columns.append(
                pa.array([bytes.fromhex(h) if h else None for h in hexes], type=pa.binary())
            )
            out_names.append(t.geometry_column)
        return pa.table(columns, names=out_names)


def _write_layer(dest: Path, t: _Table, table: pa.Table) -> None:
    kwargs: dict[str, Any] = {}
    if t.geometry_column:
        kwargs |= {
            "geometry_name": t.geometry_column,
            "geometry_type": t.geometry_type,
            "crs": t.crs,
        }
    if t.fid_column != "fid":
        kwargs["layer_options"] = {"FID": t.fid_column}
    append = dest.exists()
    if not append:  # GeoPackage 1.3, as the result (GDAL before 3.7 warns on every 1.4 file)
        kwargs["dataset_options"] = {"VERSION": "1.3"}
    pyogrio.write_arrow(table, dest, layer=t.name, driver="GPKG", append=append, **kwargs)


def published_codes(url: str) -> list[str]:
    """Municipality codes of the current published result (empty when there is none)."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as con:
            row = con.execute(
                f"SELECT schema_name FROM {CATALOG_SCHEMA}.published WHERE current"
            ).fetchone()
            if row is None:
                return []
            rows = con.execute(
                sql.SQL("SELECT DISTINCT gemeentecode FROM {}").format(
                    sql.Identifier(row[0], "gemeenten")
                )
            ).fetchall()
    except psycopg.Error:
        return []
    return sorted(str(r[0]) for r in rows)
