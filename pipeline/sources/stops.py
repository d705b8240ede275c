"""Transit-stop readers: GeoPackage/GeoJSON points with a kind, or GTFS ``stops.txt``."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.schemas import STOP_KINDS, format_rows
from pipeline.sources._common import Issues, find_column, frame, require_column, text_column, to_rd

KIND_ALIASES = {
    "trein": "trein",
    "train": "trein",
    "rail": "trein",
    "spoor": "trein",
    "station": "trein",
    "metro": "metro",
    "subway": "metro",
    "tram": "tram",
    "sneltram": "tram",
    "bus": "bus",
}
#: Rank used when a stop is served by several modes: the highest counts.
KIND_RANK = {"bus": 0, "tram": 1, "metro": 2, "trein": 3}


def kind_from_route_type(route_type: pd.Series) -> pd.Series:
    """GTFS ``route_type`` (basic and extended) to a stop kind; ferries etc. become missing."""
    rt = pd.to_numeric(route_type, errors="coerce")
    kind = pd.Series(pd.NA, index=route_type.index, dtype="str")
    rules = [
        (rt.isin([2]) | rt.between(100, 199), "trein"),
        (rt.isin([1, 12]) | rt.between(400, 499), "metro"),
        (rt.isin([0, 5]) | rt.between(900, 999), "tram"),
        (rt.isin([3, 11]) | rt.between(200, 299) | rt.between(700, 899), "bus"),
    ]
    for mask, name in rules:
        kind[mask.fillna(False).astype(bool)] = name
    return kind


def _kind_column(raw: pd.DataFrame, issues: Issues, default_kind: str | None) -> pd.Series | None:
    kind_col = find_column(raw, ["kind", "modaliteit", "type", "vervoerstype"])
    if kind_col is None:
        if default_kind is None:
            issues.problem(
                "no column 'kind' (or 'modaliteit') says whether a stop is trein/metro/tram/bus",
                fix="add a column 'kind', or set `kind: trein` (or bus, …) on this source in "
                "sources.yaml when every stop in the file is of one kind",
                column="kind",
            )
            return None
        return pd.Series(default_kind, index=raw.index, dtype="str")
    kind = text_column(raw, kind_col).str.lower()
    kind = kind.map(KIND_ALIASES).fillna(kind)
    return kind.fillna(default_kind) if default_kind else kind


def stops_from_points(
    raw: gpd.GeoDataFrame, issues: Issues, *, default_kind: str | None = None
) -> gpd.GeoDataFrame:
    """Canonical ``transit_stops`` from a point layer with ``stop_id``/``id`` and ``kind``."""
    kind = _kind_column(raw, issues, default_kind)
    id_col = find_column(raw, ["stop_id", "id", "code", "haltecode"])
    if kind is None:
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    if id_col is None:
        issues.warn("no stop id column: stops numbered in file order")
        ids = pd.Series(raw.index.astype(str), index=raw.index, dtype="str")
    else:
        ids = text_column(raw, id_col)
    name = text_column(raw, find_column(raw, ["naam", "name", "stop_name", "haltenaam"]))
    out = to_rd(frame(raw, {"stop_id": ids, "kind": kind, "naam": name}))
    return _drop_repeated_stops(out, issues)


def _drop_repeated_stops(out: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """A stop listed twice (same id and kind, within 100 m) is one stop: keep the first."""
    key = out["stop_id"].astype("str") + "|" + out["kind"].astype("str")
    dup = key.duplicated(keep=False) & out["stop_id"].notna()
    if not dup.any():
        return out
    first = out[dup].groupby(key[dup]).geometry.transform("first")
    near = out.loc[dup].geometry.distance(gpd.GeoSeries(first, crs=out.crs), align=True) <= 100
    repeated = near[near].index.intersection(out.index[key.duplicated(keep="first")])
    if len(repeated):
        issues.warn(f"{len(repeated)} stop(s) listed twice at the same place dropped")
        out = out.drop(index=repeated)
    return out


def stops_from_table(
    stops: pd.DataFrame,
    issues: Issues,
    *,
    routes: pd.DataFrame | None = None,
    trips: pd.DataFrame | None = None,
    stop_times: pd.DataFrame | None = None,
    default_kind: str | None = None,
) -> gpd.GeoDataFrame:
    """Canonical ``transit_stops`` from GTFS ``stops.txt`` (or a CSV with lat/lon columns).

    The kind comes from the routes serving the stop (``route_type`` via ``trips`` and
    ``stop_times``), else a ``vehicle_type`` column, else a ``kind`` column, else
    ``default_kind``, else ``bus`` (with a warning). Parent stations and entrances
    (``location_type`` 1–4) are dropped. ``stops``'s index is the line number in the file.
    """
    lat_col = require_column(
        stops, ["stop_lat", "lat", "latitude", "geo_lat"], issues, what="latitude"
    )
    lon_col = require_column(
        stops,
        ["stop_lon", "lon", "lng", "longitude", "geo_lng", "geo_lon"],
        issues,
        what="longitude",
    )
    if lat_col is None or lon_col is None:
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    loc_type = find_column(stops, ["location_type"])
    if loc_type is not None:
        lt = pd.to_numeric(stops[loc_type], errors="coerce").fillna(0)
        stops = stops[lt == 0]
    lat = pd.to_numeric(stops[lat_col], errors="coerce")
    lon = pd.to_numeric(stops[lon_col], errors="coerce")
    bad = lat.isna() | lon.isna() | ~lat.between(50.0, 54.0) | ~lon.between(3.0, 7.5)
    if bad.any():
        examples = format_rows(
            [
                f"{a}/{b}"
                for a, b in zip(
                    stops[lat_col][bad].head(5), stops[lon_col][bad].head(5), strict=True
                )
            ]
        )
        issues.problem(
            f"{int(bad.sum())} stop(s) have coordinates that are not a latitude/longitude in the "
            f"Netherlands (lat/lon e.g. {examples})",
            fix=f"correct '{lat_col}'/'{lon_col}' in those rows (decimal degrees with a '.', "
            "e.g. 52.0116/4.3571); a spreadsheet may have removed the decimal separators",
            column=f"{lat_col}/{lon_col}",
            row=format_rows(stops.index[bad]),
        )
    id_col = find_column(stops, ["stop_id", "code", "id"])
    ids = (
        text_column(stops, id_col)
        if id_col
        else pd.Series(stops.index.astype(str), index=stops.index)
    )
    kind = pd.Series(pd.NA, index=stops.index, dtype="str")
    if routes is not None and trips is not None and stop_times is not None and id_col == "stop_id":
        served = (
            stop_times[["trip_id", "stop_id"]]
            .drop_duplicates()
            .merge(trips[["trip_id", "route_id"]], on="trip_id")
            .merge(routes[["route_id", "route_type"]], on="route_id")
        )
        served["kind"] = kind_from_route_type(served["route_type"])
        served["rank"] = served["kind"].map(KIND_RANK)
        best = (
            served.dropna(subset=["rank"])
            .sort_values("rank")
            .drop_duplicates("stop_id", keep="last")
        )
        kind = ids.map(best.set_index("stop_id")["kind"]).astype("str")
        unserved = kind.isna()
        if unserved.any():
            issues.warn(
                f"{int(unserved.sum())} stop(s) served by no bus/tram/metro/train route dropped"
            )
            keep = ~unserved
            stops, ids, kind = stops[keep], ids[keep], kind[keep]
            lat, lon, bad = lat[keep], lon[keep], bad[keep]
    else:
        vt = find_column(stops, ["vehicle_type"])
        if vt is not None:
            kind = kind_from_route_type(stops[vt])
        kc = find_column(stops, ["kind", "modaliteit"])
        if kc is not None:
            kind = kind.fillna(text_column(stops, kc).str.lower().map(KIND_ALIASES))
        if kind.isna().any():
            fill = default_kind or "bus"
            if default_kind is None:
                issues.warn(
                    f"{int(kind.isna().sum())} stop(s) without a known mode assumed to be bus"
                )
            kind = kind.fillna(fill)
    name = text_column(stops, find_column(stops, ["stop_name", "naam", "name"]))
    geom = gpd.points_from_xy(
        lon.where(~bad, np.nan).fillna(5.0), lat.where(~bad, np.nan).fillna(52.0)
    )
    out = gpd.GeoDataFrame(
        {"stop_id": ids, "kind": kind, "naam": name},
        geometry=geom,
        crs="EPSG:4326",
        index=stops.index,
    )
    return to_rd(out)


__all__ = ["STOP_KINDS", "kind_from_route_type", "stops_from_points", "stops_from_table"]
