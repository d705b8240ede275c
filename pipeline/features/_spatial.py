"""Vectorised spatial building blocks shared by the feature functions (shapely 2 + STRtree).

Nothing here loops over rows in Python: every function works on whole geometry arrays and
returns index pairs or per-object arrays.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from pipeline.features._pairs import (
    A_IN_B,
    B_IN_A,
    TOLERANCE_M,
    UNDECIDED,
    SimplePolygons,
    classify_pairs,
    clip_areas,
    has_straight_corner,
    outer_rings,
    simple_polygons,
)
from pipeline.features._parallel import concurrently

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

    Queried in chunks (at most :data:`CHUNK` geometries), two at a time: the tree is only
    read, and a predicate is tested without the GIL. Pairs come back sorted by input index,
    then tree index.
    """

    def query(sl: slice) -> np.ndarray:
        if distance is None:
            return tree.query(geoms[sl], predicate=predicate)
        return tree.query(geoms[sl], predicate=predicate, distance=distance)

    # at least two chunks for inputs of PARALLEL_MIN_ROWS or more, so both threads query
    size = min(CHUNK, max(PARALLEL_MIN_ROWS // 2, -(-len(geoms) // 2)))
    slices = list(chunks(len(geoms), size))
    if not slices:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    found = concurrently(*(partial(query, sl) for sl in slices))
    i = np.concatenate([pairs[0] + sl.start for pairs, sl in zip(found, slices, strict=True)])
    j = np.concatenate([pairs[1] for pairs in found])
    order = np.lexsort((j, i))
    return i[order], j[order]


#: Held while shared polygons are prepared in place (GEOS prepares without the GIL: two
#: threads preparing one geometry at once would race).
_PREPARING = threading.Lock()

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
    with _PREPARING:  # the polygons may be a context layer another thread overlays too
        shapely.prepare(geoms[complex_])
    src = geoms[complex_][owner]
    keep = shapely.intersects(src, boxes)
    pieces = shapely.intersection(src[keep], boxes[keep])
    nonempty = ~shapely.is_empty(pieces) & (shapely.area(pieces) > 0)
    pieces = pieces[nonempty]
    source = complex_[owner[keep][nonempty]]
    return np.concatenate([geoms[simple], pieces]), np.concatenate([simple, source])


def intersection_areas(
    geoms: np.ndarray,
    others: np.ndarray,
    *,
    tree: shapely.STRtree | None = None,
    tol: float = TOLERANCE_M,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area of ``geoms[i] ∩ others[j]`` for every overlapping pair, computing few overlays.

    Boundaries that coincide up to ``tol`` (m, :data:`TOLERANCE_M`) count as coinciding: a
    polygon inside the other up to ``tol`` counts as inside (the area is its own), two
    polygons whose overlap lies within ``tol`` of a boundary count as touching (no overlap).
    So a footprint whose wall lies on its parcel's edge is inside the parcel, and two
    neighbouring parcels share no area, however the data was rotated or rounded (exact
    predicates would call such pairs crossing, and an overlay would compute a sliver of
    1e-10 m²). The result differs from the exact overlay by at most ``tol`` times the length
    of the boundaries involved. Only the pairs whose boundaries really cross are intersected.

    Pairs are settled cheapest first: shapes that do not meet at all (GEOS ``intersects``
    through the tree); boxes that overlap by less than ``tol``; the simple
    polygons' vertex tests (:mod:`pipeline.features._pairs`); for the rest, GEOS predicates
    against the other polygon grown and shrunk by ``tol`` (inside one grown: inside; not
    reaching into one shrunk: apart); then the overlay.

    ``rows`` (ascending positions in ``geoms``) limits the overlay to those geometries; the
    vertex tables of the whole array are used (built once per array and shared by all
    overlays of it, see :func:`~pipeline.features._pairs.simple_polygons`). Large inputs are
    overlaid in parts on two threads (:func:`~pipeline.features._parallel.concurrently`).

    Returns
    -------
    (i, j, area)
        Pair indices into ``geoms`` and ``others`` and the overlap area (m²), sorted by i, j;
        only pairs that share area (not those that merely touch).
    """
    positions = np.arange(len(geoms)) if rows is None else np.asarray(rows, dtype=np.intp)
    if len(positions) == 0 or len(others) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    pieces, source = tile_complex(others)
    tiled = pieces is not others
    if tiled or tree is None:
        tree = shapely.STRtree(pieces)
    i, j, area = _intersection_areas(geoms, positions, pieces, tree, tol)
    j = source[j]
    if tiled and len(i):
        # Sum the tiles of one polygon back into one pair.
        key = i.astype(np.int64) * len(others) + j
        ukey, inv = np.unique(key, return_inverse=True)
        area = np.bincount(inv, weights=area)
        i = ukey // len(others)
        j = ukey % len(others)
    return i, j, area


#: Inputs with at least this many geometries are overlaid in parts on two threads.
PARALLEL_MIN_ROWS = 100_000
#: ... in at most this many parts of about this many geometries (:func:`_balanced_parts`).
PARALLEL_PART_ROWS = 12_000
PARALLEL_PARTS = 16


def _intersection_areas(
    geoms: np.ndarray,
    positions: np.ndarray,
    others: np.ndarray,
    tree: shapely.STRtree,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See :func:`intersection_areas`; ``tree`` holds ``others``."""
    # Both vertex tables at the same time (a table another overlay is building is waited
    # for, not built twice: simple_polygons), then the pairs in parts on two threads.
    tables = concurrently(lambda: simple_polygons(geoms), lambda: simple_polygons(others))
    g_area, o_area = shapely.area(geoms), shapely.area(others)
    gb, ob = shapely.bounds(geoms), shapely.bounds(others)
    parts = _balanced_parts(geoms, positions)
    found = concurrently(
        *(
            partial(
                _block_areas, geoms, part, others, tree, tables, (g_area, o_area), (gb, ob), tol
            )
            for part in parts
        )
    )
    i, j, area = (np.concatenate(x) for x in zip(*found, strict=True))
    return i, j, area


def _balanced_parts(geoms: np.ndarray, positions: np.ndarray) -> list[np.ndarray]:
    """``positions`` in consecutive parts of about equal vertex counts, a few per thread: the
    two threads take them in turn. A part's cost grows with the vertices in it (a river or
    road parcel of thousands of vertices crosses hundreds of polygons), so equal row counts
    left one thread waiting for the other (one half of the zoning overlay took 13.6 s, the
    other 8.8 s)."""
    if len(positions) < PARALLEL_MIN_ROWS:
        return [positions]
    k = max(2, min(PARALLEL_PARTS, len(positions) // PARALLEL_PART_ROWS))
    weight = np.cumsum(shapely.get_num_coordinates(geoms[positions]))
    cuts = np.searchsorted(weight, weight[-1] * np.arange(1, k) / k, side="right")
    return [part for part in np.split(positions, cuts) if len(part)]


def _block_areas(
    geoms: np.ndarray,
    positions: np.ndarray,
    others: np.ndarray,
    tree: shapely.STRtree,
    tables: list[SimplePolygons],
    areas: tuple[np.ndarray, np.ndarray],
    bounds: tuple[np.ndarray, np.ndarray],
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The overlapping pairs of ``geoms[positions]`` (ascending) and their areas."""
    # Pairs whose shapes do not meet share no area under any tolerance: GEOS's (prepared)
    # intersects test drops them before the vertex tests, which cannot settle two concave
    # shapes whose boxes overlap (rotated plots and footprints: two in three such pairs).
    i, j = query_pairs(geoms[positions], tree, predicate="intersects")
    i = positions[i]
    area = np.zeros(len(i))
    if len(i) == 0:
        return i, j, area
    (g_area, o_area), (gb, ob) = areas, bounds
    bi, bj = gb[i], ob[j]
    w = np.minimum(bi[:, 2], bj[:, 2]) - np.maximum(bi[:, 0], bj[:, 0])
    h = np.minimum(bi[:, 3], bj[:, 3]) - np.maximum(bi[:, 1], bj[:, 1])
    todo = np.flatnonzero((w > tol) & (h > tol))
    del bi, bj, w, h
    verdict = classify_pairs(tables[0], tables[1], i[todo], j[todo], tol=tol)
    hit = todo[verdict == A_IN_B]
    area[hit] = g_area[i[hit]]
    hit = todo[verdict == B_IN_A]
    area[hit] = o_area[j[hit]]
    rest = todo[verdict == UNDECIDED]
    if len(rest):
        area[rest] = _settle(geoms, others, i[rest], j[rest], g_area, o_area, tol, tables)
    overlap = area > 0  # pairs that only touch share no area: not an overlap
    return i[overlap], j[overlap], area[overlap]


def _settle(
    geoms: np.ndarray,
    others: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    g_area: np.ndarray,
    o_area: np.ndarray,
    tol: float,
    tables: list[SimplePolygons],
) -> np.ndarray:
    """Overlap areas of pairs the vertex tests left undecided, with the same tolerance:
    ``others`` grown and shrunk by ``tol`` (mitred: the corners stay corners) settle the
    pairs inside or apart; only crossing pairs are intersected: clipped by the convex one of
    the two where there is one (:func:`~pipeline.features._pairs.clip_areas`), else with
    GEOS."""
    out = np.zeros(len(i))
    # shrunk first: the pairs that do not reach into the other one shrunk are apart (two
    # neighbours along their shared edge, most of the undecided pairs), and need no grown one
    uj = np.unique(j)
    shrunk = np.full(len(others), None, dtype=object)
    shrunk[uj] = shapely.buffer(others[uj], -tol, join_style="mitre")
    shapely.prepare(shrunk[uj])
    g, o_minus = geoms[i], shrunk[j]
    # each predicate only on the pairs the ones before left open
    meet = np.flatnonzero(~shapely.is_empty(o_minus))
    meet = meet[shapely.intersects(o_minus[meet], g[meet])]
    uj = np.unique(j[meet])
    grown = np.full(len(others), None, dtype=object)
    grown[uj] = shapely.buffer(others[uj], tol, join_style="mitre")
    shapely.prepare(grown[uj])
    g_in = meet[shapely.contains(grown[j[meet]], g[meet])]
    rest = np.setdiff1d(meet, g_in, assume_unique=True)
    o_in = rest[shapely.contains(g[rest], o_minus[rest])]
    out[g_in] = g_area[i[g_in]]
    out[o_in] = o_area[j[o_in]]
    cross = np.setdiff1d(rest, o_in, assume_unique=True)
    if len(cross):
        area, done = clip_areas(tables[0], tables[1], i[cross], j[cross])
        out[cross[done]] = area[done]
        cross = cross[~done]
        out[cross] = shapely.area(shapely.intersection(g[cross], others[j[cross]]))
    return out


def largest_overlap(
    geoms: np.ndarray,
    others: np.ndarray,
    values: np.ndarray,
    *,
    min_share: float = 0.0,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry, the value of the ``others`` feature that overlaps it most.

    Points take the value of a polygon that contains them. Ties (equal area) are broken
    by the smallest value, so the answer does not depend on the order of ``others``.
    ``rows`` (ascending positions) limits the lookup to those geometries (the others get
    ``None`` and 0), sharing the vertex tables of the whole array.

    Returns
    -------
    (value, share)
        Object array of values (``None`` where nothing overlaps at least ``min_share`` of the
        geometry's area) and the overlapping share (0–1; 1 for a covered point).
    """
    n = len(geoms)
    out = np.full(n, None, dtype=object)
    share = np.zeros(n)
    sel = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    if len(sel) == 0 or len(others) == 0:
        return out, share
    is_point = shapely.get_type_id(geoms[sel]) == 0
    vals = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(pd.Series(vals).astype(str), sort=True)
    pieces, source = tile_complex(others)
    codes = codes[source]
    others = pieces
    tree = shapely.STRtree(others)
    pi_list: list[np.ndarray] = []
    pj_list: list[np.ndarray] = []
    pa_list: list[np.ndarray] = []
    poly_rows = sel[~is_point]
    if len(poly_rows):
        # rows of the whole array: its vertex tables are built once per scan (simple_polygons
        # caches them per array) and shared with the other overlays
        i, j, a = intersection_areas(
            geoms, others, tree=tree, rows=None if len(poly_rows) == n else poly_rows
        )
        area = shapely.area(geoms[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(area > 0, a / area, 0.0)
        pi_list.append(i)
        pj_list.append(j)
        pa_list.append(s)
    pt_rows = sel[is_point]
    if len(pt_rows):
        i, j = query_pairs(geoms[pt_rows], tree, predicate="intersects")
        pi_list.append(pt_rows[i])
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
    # per object: largest share first (shares equal to 1e-9 are a tie, whatever rounding of
    # a rotated or re-digitised input made of them), then the smallest value
    order = np.lexsort((oc, -np.round(sums, 9), oi))
    oi, oc, sums = oi[order], oc[order], sums[order]
    first = np.r_[True, oi[1:] != oi[:-1]]
    oi, oc, sums = oi[first], oc[first], np.minimum(sums[first], 1.0)
    ok = sums >= min_share
    out[oi[ok]] = np.asarray(uniques, dtype=object)[oc[ok]]
    share[oi] = sums
    return out, share


def lookup_positions(index: pd.Index, keys: np.ndarray) -> np.ndarray:
    """Positions of ``keys`` in the unique ``index`` (−1 where absent).

    Text ids (as the scan's layers have) are looked up with Arrow's hash lookup
    (``pyarrow.compute.index_in``): several times faster than pandas' lookup of millions of
    Python strings, and than a binary search over fixed-width copies of them. Other keys,
    and missing ones (``None``), go through pandas.
    """
    if len(index) and index.inferred_type == "string":
        try:
            hay = pa.array(index.to_numpy(dtype=object), type=pa.large_string())
            k = pa.array(np.asarray(keys, dtype=object), type=pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # not all text
        else:
            if k.null_count == 0:
                pos = pc.index_in(k, value_set=hay).fill_null(-1)
                return pos.to_numpy(zero_copy_only=False).astype(np.intp)
    return np.asarray(index.get_indexer(pd.Index(keys)))


#: Vertices within this distance (m) of the straight line through their neighbours carry no
#: shape: a point inserted on an edge (densified, re-digitised or rotated data) lies within
#: ~1e-10 m of it; a corner rounded to the millimetre is kept.
OUTLINE_TOLERANCE_M = 1e-6


#: About this many outlines are screened first to decide whether screening them all pays.
SCREEN_SAMPLE = 2_000


def canonical_outlines(geoms: np.ndarray, *, tol: float = OUTLINE_TOLERANCE_M) -> np.ndarray:
    """Polygons without the vertices that lie on a straight edge (within ``tol``).

    Outlines carry extra points on straight edges (survey points, a densified or
    re-digitised copy of the data): they change no shape but make every overlay, distance and
    validity test slower. The scan measures parcels and buildings on these canonical
    outlines (Douglas–Peucker with :data:`OUTLINE_TOLERANCE_M`, 1 µm; docs/contracts.md §E.0),
    so neither its results nor its time depend on how many vertices describe a shape. A polygon is
    kept as it is when the simplified one would not be valid, would change type or would
    differ in area by more than ``tol`` times its perimeter. A multi-polygon of one part
    becomes its polygon; one of several parts is kept as it is.
    """
    out = np.array(geoms, dtype=object, copy=True)
    kinds = shapely.get_type_id(out)
    # polygons, and multi-polygons of one part (as the readers deliver parcels): the outline
    # of a one-part multi-polygon is its polygon (the GeoPackage export makes it a one-part
    # multi-polygon again, byte for byte)
    multi = kinds == 6
    multi[multi] = shapely.get_num_geometries(out[multi]) == 1
    poly = np.flatnonzero((kinds == 3) | multi)
    if len(poly) == 0:
        return out
    src = out[poly]
    # Douglas–Peucker only where it can drop a corner: a ring with a corner within ``tol`` of
    # the line through its neighbours, or a polygon with holes or parts. Most footprints have
    # none, and simplifying holds the GIL; but most parcels have survey points on their
    # edges, and then finding them costs more than simplifying all: a sample decides.
    sample = src[:: max(1, len(src) // SCREEN_SAMPLE)]
    if len(_straight_or_complex(sample, tol)) > len(sample) // 2:
        canon = shapely.simplify(src, tol, preserve_topology=False)
    else:  # in chunks: temporaries of all coordinates at once would be fresh pages
        redo = np.concatenate(
            [np.zeros(0, dtype=np.intp)]
            + [sl.start + _straight_or_complex(src[sl], tol) for sl in chunks(len(src))]
        )
        canon = src.copy()
        canon[redo] = shapely.simplify(src[redo], tol, preserve_topology=False)
    still_multi = shapely.get_type_id(canon) == 6  # GEOS gives the polygon back; if not:
    canon[still_multi] = shapely.get_geometry(canon[still_multi], 0)
    idx = np.flatnonzero(shapely.get_num_coordinates(canon) < shapely.get_num_coordinates(src))
    s, o = canon[idx], src[idx]
    bad = idx[
        ~(
            (shapely.get_type_id(s) == 3)
            & (np.abs(shapely.area(s) - shapely.area(o)) <= tol * shapely.length(o))
            & shapely.is_valid(s)
        )
    ]
    if len(bad):  # kept as delivered (a multi-polygon as its polygon)
        kept = src[bad]
        wrapped = shapely.get_type_id(kept) == 6
        kept[wrapped] = shapely.get_geometry(kept[wrapped], 0)
        canon[bad] = kept
    out[poly] = canon
    return out


def _straight_or_complex(geoms: np.ndarray, tol: float) -> np.ndarray:
    """Positions of the polygons Douglas–Peucker with ``tol`` may change: a ring with a corner
    within ``tol`` of the line through its neighbours, or a polygon with holes or parts."""
    ring, xy = outer_rings(geoms)
    flag = ring[:, 0] < 0
    one = np.flatnonzero(~flag)
    start = ring[one, 0]
    flag[one] = has_straight_corner(xy, start, ring[one, 1] - start - 1, tol)
    return np.flatnonzero(flag)


def reference_points(geoms: np.ndarray) -> np.ndarray:
    """The point distances and counts are measured from: a polygon's centroid (its centre of
    mass), a point itself.

    The centroid depends only on the shape: rotating the data rotates it along, and extra
    vertices on straight edges do not move it (a point "guaranteed inside", such as
    ``point_on_surface``, depends on where the vertices are). It may lie outside a concave
    polygon (a C-shaped plot): distances are then measured from the plot's centre of mass,
    which is what "the site lies 400 m from the station" means. Empty and missing
    geometries give an empty point.
    """
    kinds = shapely.get_type_id(geoms)
    out = geoms.copy()
    poly = np.flatnonzero((kinds != 0) & ~shapely.is_missing(geoms))
    if len(poly):
        out[poly] = shapely.centroid(geoms[poly])
    return out


def group_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (−1 for missing) and the sorted uniques, for bincount group-bys."""
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(codes), pd.Index(uniques)
