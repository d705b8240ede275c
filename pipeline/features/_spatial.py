"""Vectorised spatial building blocks shared by the feature functions (shapely 2 + STRtree).

Nothing here loops over rows in Python: every function works on whole geometry arrays and
returns index pairs or per-object arrays.
"""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: Maximum number of query geometries per STRtree call, to bound the memory of pair arrays.
CHUNK = 200_000


def geometry_array(objects: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """The shapely geometries of a GeoDataFrame/GeoSeries as a plain object array."""
    geoms = objects.geometry if isinstance(objects, gpd.GeoDataFrame) else objects
    return np.asarray(geoms.array, dtype=object)


def chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def query_pairs(
    geoms: np.ndarray, tree: shapely.STRtree, *, predicate: str, distance: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All (input index, tree index) pairs for which ``predicate(geoms[i], tree_geom[j])`` holds.

    Queried in chunks; pairs come back sorted by input index, then tree index.
    """
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    for sl in chunks(len(geoms)):
        if distance is None:
            pairs = tree.query(geoms[sl], predicate=predicate)
        else:
            pairs = tree.query(geoms[sl], predicate=predicate, distance=distance)
        ii.append(pairs[0] + sl.start)
        jj.append(pairs[1])
    if not ii:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    i = np.concatenate(ii)
    j = np.concatenate(jj)
    order = np.lexsort((j, i))
    return i[order], j[order]


def intersection_areas(
    geoms: np.ndarray, others: np.ndarray, *, tree: shapely.STRtree | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area of ``geoms[i] ∩ others[j]`` for every intersecting pair, computing few intersections.

    Pairs where one geometry lies entirely inside the other need no overlay: the STRtree
    predicate queries ``within`` (``geoms[i]`` inside ``others[j]``: the area is that of
    ``geoms[i]``) and ``contains`` (``others[j]`` inside ``geoms[i]``: the area of
    ``others[j]``) split them off; only the remaining pairs, which cross a boundary, are
    intersected.

    Returns
    -------
    (i, j, area)
        Pair indices into ``geoms`` and ``others`` and the overlap area (m²), sorted by i, j.
    """
    if len(geoms) == 0 or len(others) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    tree = tree if tree is not None else shapely.STRtree(others)
    i, j = query_pairs(geoms, tree, predicate="intersects")
    area = np.zeros(len(i))
    if len(i) == 0:
        return i, j, area
    m = len(others)
    key = i.astype(np.int64) * m + j
    done = np.zeros(len(i), dtype=bool)
    for predicate, area_of in (("within", geoms), ("contains", others)):
        pi, pj = query_pairs(geoms, tree, predicate=predicate)
        if len(pi) == 0:
            continue
        hit = np.isin(key, pi.astype(np.int64) * m + pj, assume_unique=True) & ~done
        idx = i[hit] if area_of is geoms else j[hit]
        area[hit] = shapely.area(area_of[idx])
        done |= hit
    rest = ~done
    if rest.any():
        # Pairs whose bounding boxes only touch (adjacent boxes) cannot share area.
        bg = shapely.bounds(geoms[i[rest]])
        bo = shapely.bounds(others[j[rest]])
        w = np.minimum(bg[:, 2], bo[:, 2]) - np.maximum(bg[:, 0], bo[:, 0])
        h = np.minimum(bg[:, 3], bo[:, 3]) - np.maximum(bg[:, 1], bo[:, 1])
        rest[np.flatnonzero(rest)[(w <= 0) | (h <= 0)]] = False
    if rest.any():
        area[rest] = shapely.area(shapely.intersection(geoms[i[rest]], others[j[rest]]))
    return i, j, area


def largest_overlap(
    geoms: np.ndarray,
    others: np.ndarray,
    values: np.ndarray,
    *,
    min_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry, the value of the ``others`` feature that overlaps it most.

    Points take the value of a polygon that contains them. Ties (equal area) are broken
    by the smallest value, so the answer does not depend on the order of ``others``.

    Returns
    -------
    (value, share)
        Object array of values (``None`` where nothing overlaps at least ``min_share`` of the
        geometry's area) and the overlapping share (0–1; 1 for a covered point).
    """
    n = len(geoms)
    out = np.full(n, None, dtype=object)
    share = np.zeros(n)
    if n == 0 or len(others) == 0:
        return out, share
    is_point = shapely.get_type_id(geoms) == 0
    vals = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(pd.Series(vals).astype(str), sort=True)
    tree = shapely.STRtree(others)
    pi_list: list[np.ndarray] = []
    pj_list: list[np.ndarray] = []
    pa_list: list[np.ndarray] = []
    poly_idx = np.flatnonzero(~is_point)
    if len(poly_idx):
        i, j, a = intersection_areas(geoms[poly_idx], others, tree=tree)
        area = shapely.area(geoms[poly_idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(area[i] > 0, a / area[i], 0.0)
        pi_list.append(poly_idx[i])
        pj_list.append(j)
        pa_list.append(s)
    pt_idx = np.flatnonzero(is_point)
    if len(pt_idx):
        i, j = query_pairs(geoms[pt_idx], tree, predicate="within")
        pi_list.append(pt_idx[i])
        pj_list.append(j)
        pa_list.append(np.ones(len(i)))
    pi = np.concatenate(pi_list)
    pj = np.concatenate(pj_list)
    ps = np.concatenate(pa_list)
    if len(pi) == 0:
        return out, share
    # Sum the shares per (object, value): several polygons of one class count together.
    pc = codes[pj]
    key = pi.astype(np.int64) * (len(uniques) + 1) + pc
    ukey, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv, weights=ps)
    oi = ukey // (len(uniques) + 1)
    oc = ukey % (len(uniques) + 1)
    order = np.lexsort((oc, -sums, oi))  # per object: largest share first, then smallest value
    oi, oc, sums = oi[order], oc[order], sums[order]
    first = np.r_[True, oi[1:] != oi[:-1]]
    oi, oc, sums = oi[first], oc[first], np.minimum(sums[first], 1.0)
    ok = sums >= min_share
    out[oi[ok]] = np.asarray(uniques, dtype=object)[oc[ok]]
    share[oi] = sums
    return out, share


def representative_points(geoms: np.ndarray) -> np.ndarray:
    """A point guaranteed inside each geometry (points stay as they are)."""
    is_point = shapely.get_type_id(geoms) == 0
    out = geoms.copy()
    if (~is_point).any():
        out[~is_point] = shapely.point_on_surface(geoms[~is_point])
    return out


def group_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (−1 for missing) and the sorted uniques, for bincount group-bys."""
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(codes), pd.Index(uniques)
