"""Merging small adjacent parcels of one owner into one site (docs/contracts.md §E.3)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features._pairs import TOLERANCE_M, close_hairline_gaps
from pipeline.features._spatial import geometry_array, query_pairs
from pipeline.scoring.config import Merging

#: Defaults for merging small parcels when the config has no such exclusions.
DEFAULT_MIN_SITE_AREA_M2 = 1_500.0
DEFAULT_MAX_BUILT_UP = 0.10


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component labels (smallest member index) of an undirected graph (vectorised)."""
    labels = np.arange(n)
    if len(a) == 0:
        return labels
    while True:
        m = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]  # pointer jumping
        while True:
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, labels):
            return labels
        labels = new


#: Segment pairs compared at once by :func:`shared_edge_lengths`.
SEGMENT_PAIRS_PER_BATCH = 2_000_000


def _segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every boundary segment of the polygons: owner index, start and end point."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, coord_of = shapely.get_coordinates(rings, return_index=True)
    start = np.flatnonzero(coord_of[1:] == coord_of[:-1])
    return part_of[ring_of[coord_of[start]]], xy[start], xy[start + 1]


def shared_edge_lengths(
    geoms: np.ndarray, a: np.ndarray, b: np.ndarray, *, tol: float = TOLERANCE_M
) -> np.ndarray:
    """Length of the boundary that ``geoms[a]`` and ``geoms[b]`` share, pair by pair (m).

    ``shared = Σ over the segments s of a's boundary of the length of s that lies within
    tol of a segment t of b's boundary`` (both ends of t within ``tol`` of s's line, the
    overlap of their projections on s). Boundaries that coincide up to ``tol``
    (:data:`TOLERANCE_M`) are shared, so the length does not depend on the rotation of the
    data nor on extra vertices on the edges (an intersection of the exact boundaries finds
    only points where rounding made them cross). Vectorised over segment pairs.
    """
    out = np.zeros(len(a))
    if len(a) == 0:
        return out
    used = np.unique(np.concatenate([a, b]))
    owner, p, q = _segments(geoms[used])
    owner = used[owner]
    first = np.searchsorted(owner, np.arange(len(geoms)))
    count = np.searchsorted(owner, np.arange(len(geoms)), side="right") - first
    n = count[a] * count[b]
    cum = np.cumsum(n)
    cuts = np.searchsorted(cum, np.arange(0, int(cum[-1]), SEGMENT_PAIRS_PER_BATCH), "right")
    for lo, hi in zip(cuts, np.append(cuts[1:], len(a)), strict=True):
        if hi <= lo:
            continue
        sel = np.arange(lo, hi)
        nn = n[sel]
        pair = np.repeat(sel, nn)
        k = np.arange(int(nn.sum())) - np.repeat(np.cumsum(nn) - nn, nn)
        nb = count[b][pair]
        si = first[a][pair] + k // nb
        ti = first[b][pair] + k % nb
        d = q[si] - p[si]
        length = np.hypot(d[:, 0], d[:, 1])
        ok = length > 0
        ux = np.where(ok, d[:, 0] / np.where(ok, length, 1.0), 0.0)
        uy = np.where(ok, d[:, 1] / np.where(ok, length, 1.0), 0.0)
        r0 = p[ti] - p[si]
        r1 = q[ti] - p[si]
        near = ok & (np.abs(r0[:, 0] * uy - r0[:, 1] * ux) <= tol)
        near &= np.abs(r1[:, 0] * uy - r1[:, 1] * ux) <= tol
        t0 = r0[:, 0] * ux + r0[:, 1] * uy
        t1 = r1[:, 0] * ux + r1[:, 1] * uy
        lo_t = np.maximum(np.minimum(t0, t1), 0.0)
        hi_t = np.minimum(np.maximum(t0, t1), length)
        overlap = np.where(near, np.maximum(hi_t - lo_t, 0.0), 0.0)
        out += np.bincount(pair, weights=overlap, minlength=len(a))
    return out


def merge_small_parcels(
    parcels: gpd.GeoDataFrame,
    *,
    owner_keys: pd.Series,
    built_up: pd.Series,
    min_area_m2: float = DEFAULT_MIN_SITE_AREA_M2,
    max_built_up: float = DEFAULT_MAX_BUILT_UP,
    params: Merging | None = None,
) -> gpd.GeoDataFrame:
    """Sites: each parcel, except adjacent small parcels of one owner merged into one plot.

    A parcel is a merge candidate when it is smaller than ``min_area_m2``, at most
    ``max_built_up`` built up, and has a known owner (:func:`pipeline.features.overlap.owner_key`).
    Candidates of the same owner and municipality that share at least
    ``params.min_shared_edge_m`` (1 m) of boundary (:func:`shared_edge_lengths`: boundaries
    within 1 mm of each other count as shared) form groups (connected components); a group
    becomes one site when together it reaches ``min_area_m2``, has at most
    ``params.max_parcels`` (10) parcels and fills at least ``params.min_compactness`` (60 %)
    of its convex hull (a usable plot, not a strip of verges). Other parcels stay sites of
    their own. ``params`` is the config's ``features.merging`` (default: the shipped values).

    Returns
    -------
    GeoDataFrame
        Indexed by site id (the smallest parcel id of the site), with ``parcel_ids`` (sorted,
        comma-separated), ``n_parcels``, ``merged``, ``area_m2``, ``built_up_fraction``
        (area-weighted), ``gemeentecode``, ``owner_key``, the parcel label columns of the
        first parcel, and the (unioned) geometry.
    """
    rules = params if params is not None else Merging()
    geoms = geometry_array(parcels)
    area = shapely.area(geoms)
    ids = parcels.index.to_numpy(dtype=object)
    owner = owner_keys.reindex(parcels.index)
    code = parcels["gemeentecode"].astype("string").fillna("")
    cand = np.flatnonzero(
        (area < min_area_m2)
        & (built_up.reindex(parcels.index).to_numpy() <= max_built_up)
        & owner.notna().to_numpy()
    )
    group = np.arange(len(parcels))
    if len(cand) > 1:
        cg = geoms[cand]
        tree = shapely.STRtree(cg)
        # neighbours up to the tolerance: rounding must not part parcels that touch
        a, b = query_pairs(cg, tree, predicate="dwithin", distance=TOLERANCE_M)
        keep = a < b
        a, b = a[keep], b[keep]
        okey = owner.to_numpy(dtype=object)[cand]
        ccode = code.to_numpy(dtype=object)[cand]
        same = (okey[a] == okey[b]) & (ccode[a] == ccode[b])
        a, b = a[same], b[same]
        if len(a):
            # Requiring a shared edge can only split groups: pairs in a group too small even
            # before that test can never form a site, so skip their (costly) edge overlay.
            pre = components(len(cand), a, b)
            pre_tot = np.bincount(pre, weights=area[cand], minlength=len(cand))
            viable = pre_tot[pre[a]] >= min_area_m2
            a, b = a[viable], b[viable]
        if len(a):
            shared = shared_edge_lengths(cg, a, b)
            edge = shared >= rules.min_shared_edge_m
            a, b = a[edge], b[edge]
        labels = components(len(cand), a, b)
        size = np.bincount(labels, minlength=len(cand))
        tot = np.bincount(labels, weights=area[cand], minlength=len(cand))
        ok_group = (
            (size[labels] >= 2) & (size[labels] <= rules.max_parcels) & (tot[labels] >= min_area_m2)
        )
        if ok_group.any():
            members = np.flatnonzero(ok_group)
            lab = labels[members]
            # Compactness of each prospective site: area / convex hull area.
            grouped = pd.Series(list(cg[members]), index=lab).groupby(level=0)
            union = grouped.agg(lambda s: shapely.union_all(np.asarray(s, dtype=object)))
            hull = shapely.area(shapely.convex_hull(union.to_numpy(dtype=object)))
            compact = pd.Series(
                np.where(hull > 0, tot[union.index.to_numpy()] / np.maximum(hull, 1e-9), 0.0),
                index=union.index,
            )
            good = compact >= rules.min_compactness
            sel = good.reindex(lab).to_numpy()
            group[cand[members[sel]]] = cand[lab[sel]]
    # Build the site table: group id = position of the group's representative parcel.
    df = pd.DataFrame(
        {
            "group": group,
            "pid": ids,
            "area": area,
            "built": built_up.reindex(parcels.index).to_numpy() * area,
            "largest": (
                parcels["largest_building_m2"].to_numpy(float)
                if "largest_building_m2" in parcels
                else np.zeros(len(parcels))
            ),
        },
        index=parcels.index,
    )
    single = np.bincount(group, minlength=len(parcels))[group] == 1
    built_share = built_up.reindex(parcels.index).to_numpy()
    owner_of = owner.to_numpy(dtype=object)
    if single.all():
        site_pos = np.arange(len(parcels))
        sites = parcels.copy(deep=False)
    else:
        multi = df.loc[~single].sort_values(["group", "pid"], kind="mergesort")
        agg = multi.groupby("group", sort=True).agg(
            first=("pid", "first"),
            parcel_ids=("pid", lambda s: ",".join(sorted(map(str, s)))),
            n_parcels=("pid", "size"),
            area=("area", "sum"),
            built=("built", "sum"),
            largest=("largest", "max"),
        )
        mgeoms = (
            pd.Series(list(geoms[~single]), index=group[~single])
            .groupby(level=0)
            .agg(lambda s: shapely.union_all(np.asarray(s, dtype=object)))
        )
        # A merged site is the row of its first parcel (the site's id): the sites are one
        # selection of the parcels, in their order (no concatenation, no sort of every row).
        first_pos = np.asarray(parcels.index.get_indexer(agg["first"].to_numpy(dtype=object)))
        keep = single.copy()
        keep[first_pos] = True
        site_pos = np.flatnonzero(keep)
        sites = parcels.iloc[site_pos].copy()
    sites["parcel_ids"] = sites.index.astype(str)
    sites["n_parcels"] = 1
    sites["merged"] = False
    sites["area_m2"] = area[site_pos]
    sites["built_up_fraction"] = built_share[site_pos]
    sites["owner_key"] = owner_of[site_pos]
    if not single.all():
        rows = np.searchsorted(site_pos, first_pos)
        values = {
            "parcel_ids": agg["parcel_ids"].to_numpy(),
            "n_parcels": agg["n_parcels"].to_numpy(),
            "merged": True,
            "area_m2": agg["area"].to_numpy(),
            "built_up_fraction": np.where(agg["area"] > 0, agg["built"] / agg["area"], 0.0),
            "owner_key": owner_of[first_pos],
        }
        if "largest_building_m2" in sites:
            values["largest_building_m2"] = agg["largest"].to_numpy()
        for col, value in values.items():
            sites.iloc[rows, sites.columns.get_loc(col)] = value
        # the published outline: the union without the hairline cracks where the parcels'
        # shared edges match only up to rounding (contracts §E.3)
        outlines = geometry_array(sites).copy()
        outlines[rows] = close_hairline_gaps(mgeoms.reindex(agg.index).to_numpy(dtype=object))
        sites[sites.geometry.name] = gpd.GeoSeries(outlines, index=sites.index, crs=parcels.crs)
    if not sites.index.is_monotonic_increasing:
        sites = sites.sort_index(kind="mergesort")
    sites.index.name = "parcel_id"
    return gpd.GeoDataFrame(sites, geometry=sites.geometry.name, crs=parcels.crs)
