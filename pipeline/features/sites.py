"""Site features of the revised model: built-up area (BSD), availability (plans), net area.

Each function takes the sites (polygons) first and returns columns aligned to their index
(docs/contracts.md §E.3); all vectorised with shapely 2 and an STRtree, intersecting only the
pairs that cross a boundary.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features._pairs import TOLERANCE_M
from pipeline.features._spatial import geometry_array, intersection_areas, query_pairs
from pipeline.features.proximity import nearest_polygon_distance
from pipeline.scoring.config import Availability, NetArea

#: Distances to the BSD beyond this are reported as this value (m).
MAX_BSD_DISTANCE_M = 20_000.0


def overlap_share(sites: gpd.GeoDataFrame, polygons: np.ndarray) -> np.ndarray:
    """``min(1, Σ area(site ∩ polygon) / area(site))`` over all polygons (0 for no area)."""
    geoms = geometry_array(sites)
    if len(geoms) == 0 or len(polygons) == 0:
        return np.zeros(len(geoms))
    i, _j, area = intersection_areas(geoms, polygons)
    inter = np.bincount(i, weights=area, minlength=len(geoms))
    own = shapely.area(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(own > 0, np.minimum(inter / own, 1.0), 0.0)


def bsd_columns(sites: gpd.GeoDataFrame, bsd: np.ndarray, *, min_share: float) -> pd.DataFrame:
    """``in_bsd`` and ``dist_bsd_m`` (contracts §E.3); both NaN without BSD polygons.

    ``in_bsd`` = the share of the site inside the BSD ≥ ``min_share``; ``dist_bsd_m`` = 0 when
    ``in_bsd``, else the distance from the site to the nearest BSD polygon (0 when it touches
    or partly overlaps; capped at 20 km).
    """
    n = len(sites)
    if len(bsd) == 0:
        nan = np.full(n, np.nan)
        return pd.DataFrame({"in_bsd": nan, "dist_bsd_m": nan.copy()}, index=sites.index)
    share = overlap_share(sites, bsd)
    inside = share >= min_share
    dist = np.zeros(n)
    out_pos = np.flatnonzero(~inside)
    if len(out_pos):
        dist[out_pos] = nearest_polygon_distance(
            geometry_array(sites)[out_pos], bsd, cap=MAX_BSD_DISTANCE_M
        )
    return pd.DataFrame({"in_bsd": inside.astype("float64"), "dist_bsd_m": dist}, index=sites.index)


def plan_columns(
    sites: gpd.GeoDataFrame,
    plans: gpd.GeoDataFrame,
    *,
    reference_year: int,
    params: Availability,
) -> pd.DataFrame:
    """The deciding permanent housing plan of each site and its availability (§E.3).

    Among the plans covering at least ``plan_min_share`` of the site, the one starting first
    (unknown start = the reference year), then ``hard`` before ``zacht``, then the smallest
    ``plan_id``. ``plan_jaren_tot_start = startjaar − reference_year``; ``beschikbaarheid`` is
    ``tot_ontwikkeling`` with a plan (``beschikbaar_tot`` = its start year, ``beschikbaar_jaren
    = min(term, max(0, plan_jaren_tot_start))``) and ``geen_plan`` without one (the full
    permit term, ``beschikbaar_tot`` null).
    """
    n = len(sites)
    term = params.permit_term_years
    out = pd.DataFrame(
        {
            "plan_id": np.full(n, None, dtype=object),
            "plan_naam": np.full(n, None, dtype=object),
            "plan_status": np.full(n, None, dtype=object),
            "plan_startjaar": np.full(n, np.nan),
            "plan_woningen": np.full(n, np.nan),
            "plan_jaren_tot_start": np.full(n, np.nan),
            "beschikbaarheid": np.full(n, "geen_plan", dtype=object),
            "beschikbaar_tot": np.full(n, np.nan),
            "beschikbaar_jaren": np.full(n, float(term)),
        },
        index=sites.index,
    )
    if n == 0 or len(plans) == 0:
        return out
    geoms = geometry_array(sites)
    i, j, area = intersection_areas(geoms, geometry_array(plans))
    own = shapely.area(geoms)[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(own > 0, area / own, 0.0)
    # a plan cut into several pieces (tiled) counts its pieces together
    pid = plans["plan_id"].astype(str).to_numpy(dtype=object)
    pair = pd.DataFrame({"i": i, "plan": pid[j], "share": share, "j": j})
    pair = pair.groupby(["i", "plan"], sort=False).agg(share=("share", "sum"), j=("j", "first"))
    pair = pair[pair["share"] >= params.plan_min_share - 1e-12].reset_index()
    if len(pair) == 0:
        return out
    start = pd.to_numeric(plans["start_year"], errors="coerce").to_numpy(dtype=float)
    start_j = np.where(np.isnan(start[pair["j"]]), float(reference_year), start[pair["j"]])
    status = plans["status"].astype(str).to_numpy(dtype=object)[pair["j"]]
    order = np.lexsort(
        (pair["plan"].to_numpy(dtype=object).astype(str), status != "hard", start_j, pair["i"])
    )
    first = order[np.r_[True, pair["i"].to_numpy()[order][1:] != pair["i"].to_numpy()[order][:-1]]]
    rows = pair["i"].to_numpy()[first]
    jj = pair["j"].to_numpy()[first]
    years = start_j[first]
    names = plans["plan_name"].astype(object).to_numpy(dtype=object)
    homes = pd.to_numeric(plans["homes"], errors="coerce").to_numpy(dtype=float)
    to_start = years - reference_year
    cols = {
        "plan_id": pid[jj],
        "plan_naam": names[jj],
        "plan_status": status[first],
        "plan_startjaar": years,
        "plan_woningen": homes[jj],
        "plan_jaren_tot_start": to_start,
        "beschikbaarheid": np.full(len(rows), "tot_ontwikkeling", dtype=object),
        "beschikbaar_tot": years,
        "beschikbaar_jaren": np.minimum(float(term), np.maximum(0.0, to_start)),
    }
    for col, values in cols.items():
        arr = out[col].to_numpy(copy=True)
        arr[rows] = values
        out[col] = arr
    return out


def net_area_columns(
    sites: gpd.GeoDataFrame, hard_zones: np.ndarray, *, params: NetArea
) -> pd.DataFrame:
    """``net_area_m2`` and ``fits_min_width`` (contracts §E.3).

    ``net = closing(site − ∪ hard zones crossing it, TOLERANCE_M).buffer(−setback)``: gaps
    narrower than 2 mm (boundaries within the 1 mm tolerance, §E.0) are closed before the
    setback, so hairline cracks between a merged site's parcels or along a zone's edge do not
    become 10 m gaps. ``fits_min_width`` = ``net`` eroded by a further ``min_width / 2`` is not
    empty. Only the sites a zone crosses are differenced (one zone per site per vectorised
    step).
    """
    geoms = geometry_array(sites).copy()
    n = len(geoms)
    if n and len(hard_zones):
        tree = shapely.STRtree(hard_zones)
        i, j = query_pairs(geoms, tree, predicate="intersects")
        if len(i):
            # k-th zone of every site at once: a site crossed by several zones takes several steps
            first = np.r_[0, np.flatnonzero(np.diff(i)) + 1]
            rank = np.arange(len(i)) - np.repeat(first, np.diff(np.r_[first, len(i)]))
            for k in range(int(rank.max()) + 1):
                sel = rank == k
                geoms[i[sel]] = shapely.difference(geoms[i[sel]], hard_zones[j[sel]])
    # Close the gaps narrower than 2 × TOLERANCE_M first: boundaries that coincide up to
    # rounding (the parcels of a merged site, a zone along the site's edge) leave hairline
    # cracks in the union or difference whose number and place depend on the orientation and
    # the vertices of the data, and the inward buffer would widen each into a 2 × setback gap
    # (137 m² for one demo site rotated by 23°). Dilating by the tolerance and eroding by
    # setback + tolerance is the closing followed by the setback erosion in one extra buffer.
    # GEOS drops vertices within 1 % of the distance of a straight line before buffering, so
    # the inward buffer depends on how the boundary is cut into vertices (0.3 m² for a demo
    # site densified): vertices within the tolerance of a straight line are dropped first.
    grown = shapely.simplify(shapely.buffer(geoms, TOLERANCE_M, join_style="mitre"), TOLERANCE_M)
    net = shapely.buffer(grown, -(params.setback_m + TOLERANCE_M))
    area = shapely.area(net)
    if params.min_width_m > 0:
        core = shapely.buffer(net, -params.min_width_m / 2.0)
        fits = ~(shapely.is_empty(core) | (shapely.area(core) <= 0))
    else:
        fits = area > 0
    return pd.DataFrame(
        {"net_area_m2": np.where(np.isnan(area), 0.0, area), "fits_min_width": fits},
        index=sites.index,
    )
