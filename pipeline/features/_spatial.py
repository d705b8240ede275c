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
    geoms: np.ndarray,
    tree: shapely.STRtree,
    *,
    predicate: str | None,
    distance: float | None = None,
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


#: Polygons with more vertices than this are cut into tiles before overlays.
TILE_MIN_VERTICES = 64
#: Tile size (m) for cutting complex polygons.
TILE_SIZE_M = 250.0


def tile_complex(geoms: np.ndarray, *, size: float = TILE_SIZE_M) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons with many vertices into ``size``-metre grid tiles.

    A Natura 2000 area or a zoning plan with thousands of vertices makes every predicate
    test and intersection with a small parcel cost thousands of vertex operations; its
    tiles have few. The tiles partition the polygon, so areas summed over tiles are exact.

    Returns
    -------
    (pieces, source)
        The simple polygons unchanged plus the tiles, and for each the index of the polygon
        it came from.
    """
    n = len(geoms)
    nverts = shapely.get_num_coordinates(geoms) if n else np.zeros(0, dtype=np.int64)
    complex_ = np.flatnonzero(nverts > TILE_MIN_VERTICES)
    if len(complex_) == 0:
        return geoms, np.arange(n)
    simple = np.flatnonzero(nverts <= TILE_MIN_VERTICES)
    b = shapely.bounds(geoms[complex_])
    c0 = np.floor(b[:, 0] / size).astype(np.int64)
    r0 = np.floor(b[:, 1] / size).astype(np.int64)
    nc = np.floor(b[:, 2] / size).astype(np.int64) - c0 + 1
    nr = np.floor(b[:, 3] / size).astype(np.int64) - r0 + 1
    k = nc * nr
    owner = np.repeat(np.arange(len(complex_)), k)
    off = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    cc = c0[owner] + off % nc[owner]
    rr = r0[owner] + off // nc[owner]
    boxes = shapely.box(cc * size, rr * size, (cc + 1) * size, (rr + 1) * size)
    shapely.prepare(geoms[complex_])
    src = geoms[complex_][owner]
    keep = shapely.intersects(src, boxes)
    pieces = shapely.intersection(src[keep], boxes[keep])
    nonempty = ~shapely.is_empty(pieces) & (shapely.area(pieces) > 0)
    pieces = pieces[nonempty]
    source = complex_[owner[keep][nonempty]]
    return np.concatenate([geoms[simple], pieces]), np.concatenate([simple, source])


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
        Pair indices into ``geoms`` and ``others`` and the overlap area (m²), sorted by i, j;
        only pairs that share area (not those that merely touch).
    """
    if len(geoms) == 0 or len(others) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    pieces, source = tile_complex(others)
    tiled = pieces is not others
    if tiled or tree is None:
        tree = shapely.STRtree(pieces)
    i, j, area = _intersection_areas(geoms, pieces, tree)
    j = source[j]
    if tiled and len(i):
        # Sum the tiles of one polygon back into one pair.
        key = i.astype(np.int64) * len(others) + j
        ukey, inv = np.unique(key, return_inverse=True)
        area = np.bincount(inv, weights=area)
        i = ukey // len(others)
        j = ukey % len(others)
    return i, j, area


def is_rectangle(geoms: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``True`` for polygons that fill their bounding box (area equals the box's area)."""
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    area = shapely.area(geoms)
    return (shapely.get_type_id(geoms) == 3) & (np.abs(area - box_area) <= 1e-9 * box_area)


def _intersection_areas(
    geoms: np.ndarray, others: np.ndarray, tree: shapely.STRtree
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`intersection_areas`; ``tree`` holds ``others``.

    Candidate pairs come from the tree's bounding boxes, and are settled cheapest first:

    1. boxes that only touch (no common interior) cannot share area: 0;
    2. a rectangle (a polygon that fills its bounding box) whose box contains the other's
       box contains the other: the area is the other's;
    3. pairs where one polygon lies inside the other, by an STRtree ``contains`` query of
       the remaining objects (the object prepared) and a ``contains`` test with the other
       side prepared (GEOS has no fast prepared "within");
    4. two crossing rectangles overlap in the product of their boxes' overlaps; only the
       other pairs left, which cross a boundary, are intersected.
    """
    i, j = query_pairs(geoms, tree, predicate=None)
    area = np.zeros(len(i))
    if len(i) == 0:
        return i, j, area
    gb, ob = shapely.bounds(geoms), shapely.bounds(others)
    bi, bj = gb[i], ob[j]
    w = np.minimum(bi[:, 2], bj[:, 2]) - np.maximum(bi[:, 0], bj[:, 0])
    h = np.minimum(bi[:, 3], bj[:, 3]) - np.maximum(bi[:, 1], bj[:, 1])
    todo = (w > 0) & (h > 0)  # 1.
    g_rect, o_rect = is_rectangle(geoms, gb), is_rectangle(others, ob)
    g_area, o_area = shapely.area(geoms), shapely.area(others)
    j_in_i = (
        (bj[:, 0] >= bi[:, 0])
        & (bj[:, 1] >= bi[:, 1])
        & (bj[:, 2] <= bi[:, 2])
        & (bj[:, 3] <= bi[:, 3])
    )
    i_in_j = (
        (bi[:, 0] >= bj[:, 0])
        & (bi[:, 1] >= bj[:, 1])
        & (bi[:, 2] <= bj[:, 2])
        & (bi[:, 3] <= bj[:, 3])
    )
    hit = todo & j_in_i & g_rect[i]  # 2.: the object (a rectangle) contains the other
    area[hit] = o_area[j[hit]]
    todo &= ~hit
    hit = todo & i_in_j & o_rect[j]  # 2.: the other (a rectangle) contains the object
    area[hit] = g_area[i[hit]]
    todo &= ~hit
    if todo.any():  # 3.
        sub = np.unique(i[todo])
        ci, cj = query_pairs(geoms[sub], tree, predicate="contains")
        if len(ci):
            m = len(others)
            key = i.astype(np.int64) * m + j
            hit = todo & np.isin(key, sub[ci].astype(np.int64) * m + cj)
            area[hit] = o_area[j[hit]]
            todo &= ~hit
    rest = np.flatnonzero(todo)
    if len(rest):
        shapely.prepare(others)
        within = shapely.contains(others[j[rest]], geoms[i[rest]])
        area[rest[within]] = g_area[i[rest[within]]]
        todo[rest[within]] = False
    both = todo & g_rect[i] & o_rect[j]  # two rectangles cross: their boxes' overlap
    area[both] = w[both] * h[both]
    todo &= ~both
    rest = np.flatnonzero(todo)
    if len(rest):  # 4.
        area[rest] = shapely.area(shapely.intersection(geoms[i[rest]], others[j[rest]]))
    overlap = area > 0  # pairs that only touch share no area: not an overlap
    return i[overlap], j[overlap], area[overlap]


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
    pieces, source = tile_complex(others)
    codes = codes[source]
    others = pieces
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
        i, j = query_pairs(geoms[pt_idx], tree, predicate="intersects")
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


def lookup_positions(index: pd.Index, keys: np.ndarray) -> np.ndarray:
    """Positions of ``keys`` in the unique ``index`` (−1 where absent).

    By binary search over fixed-width strings when ``index`` is sorted (the scan sorts every
    layer by its key): several times faster than pandas' hash lookup of millions of ids.
    """
    if len(index) == 0 or index.inferred_type != "string" or not index.is_monotonic_increasing:
        return np.asarray(index.get_indexer(pd.Index(keys)))
    hay = np.asarray(index.to_numpy(dtype=object), dtype=str)
    k = np.asarray(keys, dtype=object).astype(str)
    pos = np.minimum(np.searchsorted(hay, k), len(hay) - 1)
    return np.where(hay[pos] == k, pos, -1)


def representative_points(geoms: np.ndarray) -> np.ndarray:
    """A point guaranteed inside each geometry (points stay as they are).

    :func:`shapely.point_on_surface`, except for rectangles (polygons that fill their
    bounding box), whose interior point is the box's centre: taken from the bounds directly.
    """
    kinds = shapely.get_type_id(geoms)
    out = geoms.copy()
    poly = np.flatnonzero((kinds != 0) & ~shapely.is_missing(geoms))
    if len(poly) == 0:
        return out
    bounds = shapely.bounds(geoms[poly])
    rect = is_rectangle(geoms[poly], bounds)
    if rect.any():
        b = bounds[rect]
        out[poly[rect]] = shapely.points((b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0)
    other = poly[~rect]
    if len(other):
        out[other] = shapely.point_on_surface(geoms[other])
    return out


def group_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (−1 for missing) and the sorted uniques, for bincount group-bys."""
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(codes), pd.Index(uniques)
