"""Proximity features: distance to transit stops and amenities, amenity counts, mixed use.

Distances and counts are measured from the object's reference point (a polygon's centroid, a
unit's own point: :func:`pipeline.features._spatial.reference_points`) to the targets'
reference points, in metres in EPSG:28992. Distances, amenity counts and the mixed-use share
are exact (no snapping to a grid), and do not depend on the orientation of the data or on the
vertices describing a shape.

* **Nearest distance** (:func:`nearest_distance_xy`): a k-d tree of the targets
  (:class:`scipy.spatial.cKDTree`, exact nearest neighbour) finds the nearest target and the
  distance is ``hypot(dx, dy)`` to it: what
  ``STRtree.query_nearest(points, return_distance=True, all_matches=False)`` returns for
  point targets, but about 4× faster on points (province, 110 k points: 0.14 s against
  0.6 s per layer).
* **Counts within a radius** (:func:`disk_counts_xy`): ``n = |{t : dx² + dy² ≤ r²}|``; the
  radius is *inclusive* (a target exactly ``r`` away counts). One side is bucketed in a grid
  of square cells, sorted row by row with the first position of every cell (CSR offsets).
  For each disk and each grid row it touches, the cells lying entirely inside the disk are
  one contiguous run of the sorted points, taken whole (two offset look-ups); only the
  points in the cells the circle crosses are tested pair by pair (``dx² + dy² ≤ r²``). A
  1 µm safety margin in classifying cells keeps the result identical to that brute-force
  test. With few targets (shops, schools, doctors) the query points are bucketed and each
  target adds itself to the runs inside its disk through a difference array ("scatter");
  with many targets each query point sums the targets in its disk ("gather"). An STRtree
  ``dwithin`` search enumerates every pair instead, and the pair count is what costs:
  1.8 M pairs for the shops within 500 m of 110 k province parcels, 5 M for doctors within
  2 km, 2 × 10⁸ for all units within 500 m.

Everything is vectorised with numpy, in chunks of (disk, grid row) items and batches of
tested pairs, with at most ``MAX_GRID_CELLS`` bucket cells, so memory stays bounded: 50–200
MB of temporaries for 0.1–1.2 M points on the province.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from pipeline.features._spatial import chunks, geometry_array, reference_points

#: Safety margin (m) of the inside/outside cell classification: far above float rounding of
#: coordinates ~10⁵ m (~10⁻¹¹ m), far below any meaningful distance.
_EPS = 1e-6
#: At most this many bucket cells (offset table of 8 bytes per cell); larger cells otherwise.
MAX_GRID_CELLS = 6_000_000
#: (point, grid row) items processed at once.
ROW_ITEMS = 400_000
#: Candidate pairs tested at once.
PAIR_BATCH = 1_000_000


def _xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the reference points; NaN for missing or empty geometries."""
    pts = reference_points(geoms)
    try:
        return shapely.get_x(pts), shapely.get_y(pts)  # NaN for missing geometries
    except shapely.errors.GEOSException:  # GEOS refuses the x of an empty point
        pass
    ok = ~(shapely.is_missing(pts) | shapely.is_empty(pts))
    x = np.full(len(pts), np.nan)
    y = np.full(len(pts), np.nan)
    x[ok] = shapely.get_x(pts[ok])
    y[ok] = shapely.get_y(pts[ok])
    return x, y


def _finite(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & np.isfinite(y)


def nearest_distance_xy(x: np.ndarray, y: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Exact distance from each point (x, y) to the nearest target point (tx, ty).

    ``d_i = min_t hypot(x_i − tx_t, y_i − ty_t)``: a k-d tree (:class:`scipy.spatial.cKDTree`)
    finds the nearest target and the distance is recomputed with :func:`numpy.hypot`. NaN
    without targets; points or targets with NaN coordinates (empty geometries) are left out.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    tx = np.asarray(tx, dtype=float)
    ty = np.asarray(ty, dtype=float)
    keep = _finite(tx, ty)
    tx, ty = tx[keep], ty[keep]
    out = np.full(len(x), np.nan)
    ok = np.flatnonzero(_finite(x, y))
    if len(ok) == 0 or len(tx) == 0:
        return out
    tree = cKDTree(np.column_stack([tx, ty]), leafsize=16, balanced_tree=False)
    _, idx = tree.query(np.column_stack([x[ok], y[ok]]), k=1, workers=-1)
    out[ok] = np.hypot(tx[idx] - x[ok], ty[idx] - y[ok])
    return out


def nearest_polygon_distance(geoms: np.ndarray, targets: np.ndarray, *, cap: float) -> np.ndarray:
    """Distance (m) from each geometry to the nearest target polygon, at most ``cap``.

    ``d_i = min(cap, min_t distance(geoms_i, targets_t))`` (GEOS' exact shortest distance
    between the shapes; 0 where they touch or overlap); ``cap`` for a missing or empty
    geometry, NaN without targets.

    The shortest distance between two shapes is at most the distance between their nearest
    corners, which a k-d tree of the targets' corners gives for every corner of every
    geometry at once. Only the targets within that bound (and within ``cap``) can be the
    nearest: the STRtree finds those whose boxes are that near, and GEOS measures them.
    (GEOS' own nearest-neighbour search costs ~50 µs per geometry for sites kilometres
    away from a built-up area cut into 250 m tiles; this is the same minimum.)
    """
    out = np.full(len(geoms), np.nan)
    if len(targets) == 0 or len(geoms) == 0:
        return out
    out[:] = cap
    txy = shapely.get_coordinates(targets)
    ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if len(txy) == 0 or len(ok) == 0:
        return out
    gxy, owner = shapely.get_coordinates(geoms[ok], return_index=True)
    # (corners beyond the cap: no bound, infinite; the cap bounds the search then)
    corner_d, _ = cKDTree(txy, leafsize=16, balanced_tree=False).query(
        gxy, k=1, workers=-1, distance_upper_bound=cap
    )
    bound = np.full(len(ok), np.inf)
    np.minimum.at(bound, owner, corner_d)
    # a little more than the bound: GEOS' distance and the corners' hypot round differently
    bound = np.minimum(bound * (1 + 1e-9) + 1e-9, cap)
    tree = shapely.STRtree(targets)
    tb = shapely.bounds(targets)
    found = np.full(len(ok), np.inf)
    for sl in chunks(len(ok), NEAREST_CHUNK):
        g, r = geoms[ok[sl]], bound[sl]
        b = shapely.bounds(g)
        # candidates: the targets whose boxes are within the bound of the geometry's box
        i, j = tree.query(shapely.box(b[:, 0] - r, b[:, 1] - r, b[:, 2] + r, b[:, 3] + r))
        gap_x = np.maximum(0.0, np.maximum(tb[j, 0] - b[i, 2], b[i, 0] - tb[j, 2]))
        gap_y = np.maximum(0.0, np.maximum(tb[j, 1] - b[i, 3], b[i, 1] - tb[j, 3]))
        near = np.hypot(gap_x, gap_y) <= r[i]
        i, j = i[near], j[near]
        np.minimum.at(found, i + sl.start, shapely.distance(g[i], targets[j]))
    out[ok] = np.minimum(found, cap)
    return out


#: Geometries whose candidate targets are gathered at once by :func:`nearest_polygon_distance`.
NEAREST_CHUNK = 20_000


@dataclass(frozen=True)
class _Buckets:
    """Points bucketed in a grid of square ``c``-metre cells, sorted cell by cell (row-major).

    ``offs[k]`` is the position (in the sorted order) of the first point of cell ``k`` and
    ``offs[k + 1]`` one past its last; ``order`` maps sorted positions to input indices.
    """

    x0: float
    y0: float
    c: float
    nx: int
    ny: int
    order: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    offs: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, cell: float) -> _Buckets:
        x0, y0 = float(x.min()), float(y.min())
        w = float(x.max()) - x0
        h = float(y.max()) - y0
        c = max(float(cell), 1e-3)
        nx = int(w // c) + 1
        ny = int(h // c) + 1
        while nx * ny > MAX_GRID_CELLS:  # larger cells than asked for, to bound memory
            c *= max(np.sqrt(nx * ny / MAX_GRID_CELLS), 1.01)
            nx = int(w // c) + 1
            ny = int(h // c) + 1
        col = np.minimum(((x - x0) // c).astype(np.int64), nx - 1)
        row = np.minimum(((y - y0) // c).astype(np.int64), ny - 1)
        flat = row * nx + col
        order = np.argsort(flat, kind="stable")
        offs = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(flat, minlength=nx * ny), out=offs[1:])
        return cls(x0, y0, c, nx, ny, order, x[order], y[order], offs)

    def runs(
        self, cx: np.ndarray, cy: np.ndarray, r: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The bucketed points near each centre, as runs of the sorted order.

        One item per (centre, grid row) the disk of radius ``r`` around the centre touches:
        ``(centre, a, b, c, d)`` such that sorted points ``[b, c)`` are certainly within
        ``r`` (their cells lie inside the disk), points ``[a, b)`` and ``[c, d)`` (the cells
        the circle crosses) must be tested, and no other point of that row can be within r.
        """
        x0, y0, c, nx, ny = self.x0, self.y0, self.c, self.nx, self.ny
        lo = np.maximum(np.floor((cy - r - _EPS - y0) / c), 0).astype(np.int64)
        hi = np.minimum(np.floor((cy + r + _EPS - y0) / c), ny - 1).astype(np.int64)
        nrow = np.maximum(hi - lo + 1, 0)
        total = int(nrow.sum())
        pi = np.repeat(np.arange(len(cx)), nrow)
        row = lo[pi] + (np.arange(total) - np.repeat(np.cumsum(nrow) - nrow, nrow))
        qx, qy = cx[pi], cy[pi]
        ylo = y0 + row * c
        # Nearest and farthest vertical distance from the centre to the row's band.
        dy_near = np.maximum(np.maximum(ylo - qy, qy - (ylo + c)) - _EPS, 0.0)
        dy_far = np.maximum(qy - ylo, ylo + c - qy) + _EPS
        # Candidate columns [ca, cb1): no point outside them can be within r.
        w_out = np.sqrt(np.maximum(r * r - dy_near * dy_near, 0.0)) + _EPS
        ca = np.clip(np.floor((qx - w_out - x0) / c), 0, nx).astype(np.int64)
        cb1 = np.clip(np.floor((qx + w_out - x0) / c) + 1, 0, nx).astype(np.int64)
        cb1 = np.maximum(cb1, ca)
        # Columns [ia, ib1) lie entirely inside the disk.
        w_in = np.sqrt(np.maximum(r * r - dy_far * dy_far, 0.0)) - _EPS
        ia = np.where(dy_far < r, np.ceil((qx - w_in - x0) / c), ca).clip(ca, cb1)
        ib1 = np.where(dy_far < r, np.floor((qx + w_in - x0) / c), ia).clip(ia, cb1)
        base = row * nx
        offs = self.offs
        return (
            pi,
            offs[base + ca],
            offs[base + ia.astype(np.int64)],
            offs[base + ib1.astype(np.int64)],
            offs[base + cb1],
        )

    def crossed_hits(
        self,
        cx: np.ndarray,
        cy: np.ndarray,
        r: float,
        pi: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        c: np.ndarray,
        d: np.ndarray,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(centre, sorted position) of the points in runs ``[a, b)``, ``[c, d)`` within r.

        The brute-force test ``dx² + dy² ≤ r²``, in batches of about ``PAIR_BATCH`` pairs.
        """
        starts = np.concatenate([a, c])
        lens = np.concatenate([b - a, d - c])
        owner = np.concatenate([pi, pi])
        keep = lens > 0
        starts, lens, owner = starts[keep], lens[keep], owner[keep]
        if len(lens) == 0:
            return
        cum = np.cumsum(lens)
        cuts = np.searchsorted(cum, np.arange(PAIR_BATCH, int(cum[-1]), PAIR_BATCH))
        bounds = np.unique(np.concatenate([[0], cuts + 1, [len(lens)]]).clip(0, len(lens)))
        r2 = r * r
        for i, j in itertools.pairwise(bounds):
            ln = lens[i:j]
            tot = int(ln.sum())
            first = np.cumsum(ln) - ln
            t = np.repeat(starts[i:j] - first, ln) + np.arange(tot)
            o = np.repeat(owner[i:j], ln)
            dx = self.sx[t] - cx[o]
            dy = self.sy[t] - cy[o]
            hit = dx * dx + dy * dy <= r2
            yield o[hit], t[hit]


def _density_near(x: np.ndarray, y: np.ndarray, bx: np.ndarray, by: np.ndarray, r: float) -> float:
    """Mean density (points/m²) of (bx, by) in the ``r``-metre cells holding (x, y).

    Estimated from evenly strided samples of at most ``_DENSITY_SAMPLE`` points of each side.
    """
    r = max(r, 1.0)
    sx = max(1, len(x) // _DENSITY_SAMPLE)
    sb = max(1, len(bx) // _DENSITY_SAMPLE)
    x, y, bx, by = x[::sx], y[::sx], bx[::sb], by[::sb]
    x0, y0 = float(bx.min()), float(by.min())
    nx = int((float(bx.max()) - x0) // r) + 1
    ny = int((float(by.max()) - y0) // r) + 1
    if nx * ny > MAX_GRID_CELLS:
        return len(bx) * sb / (nx * ny * r * r)
    flat = ((by - y0) // r).astype(np.int64) * nx + ((bx - x0) // r).astype(np.int64)
    counts = np.bincount(flat, minlength=nx * ny)
    col = ((x - x0) // r).astype(np.int64)
    row = ((y - y0) // r).astype(np.int64)
    inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    hits = counts[row[inside] * nx + col[inside]].sum()
    return float(hits) * sb / (len(x) * r * r)


#: Points per side used to estimate densities in :func:`_density_near`.
_DENSITY_SAMPLE = 100_000


def _plan(n_centres: int, density: float, r: float) -> tuple[float, float]:
    """(cell, estimated cost in ns) for ``n_centres`` disks over points of ``density``.

    Per centre: ``2r / c + 3`` grid rows of ``_ROW_NS`` each, and the points in the cells
    the circle crosses (about ``8 r c`` m²) tested at ``_PAIR_NS`` each; the cell size
    minimising the sum. Only speed depends on this: the counts are exact for any cell.
    """
    cell = float(
        np.clip(
            np.sqrt(_ROW_NS / (4 * _PAIR_NS * max(density, 1e-12))),
            max(r / 32, 1.0),
            max(2 * r, 1.0),
        )
    )
    per_centre = (2 * r / cell + 3) * _ROW_NS + density * 8 * r * cell * _PAIR_NS
    return cell, n_centres * per_centre


#: Costs (ns, one core) of one (centre, grid row) item, one tested pair and one bucketed
#: point (sorting), used to choose the cell size and which side to bucket; tuned so that the
#: cells chosen on the province are close to the fastest measured (all units within 500 m:
#: ~40 m; shops, schools, doctors bucketing the points: ~60–150 m).
_ROW_NS = 150.0
_PAIR_NS = 12.0
_SORT_NS = 150.0


def disk_counts_xy(
    x: np.ndarray,
    y: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    *,
    radius: float,
    flags: list[np.ndarray] | tuple[np.ndarray, ...] = (),
    cell: float | None = None,
    scatter: bool | None = None,
) -> np.ndarray:
    """Exact number of targets within ``radius`` of each point, overall and per flag.

    Returns an ``int64`` array of shape ``(len(x), 1 + len(flags))``: column 0 counts all
    targets t with ``(tx_t − x)² + (ty_t − y)² ≤ radius²`` (inclusive), column ``k + 1`` those
    of them with ``flags[k][t]`` true. Points or targets with NaN coordinates (empty
    geometries) count nothing and are not counted.

    Either the targets are bucketed and each point sums the targets of its disk ("gather"),
    or — cheaper when the targets are few — the points are bucketed and each target adds
    itself to the points within its disk ("scatter", runs added through a difference
    array). ``cell`` (bucket size, m) and ``scatter`` are chosen from a cost estimate when
    ``None``; they change the speed, never the result. A negative ``radius`` is a
    ``ValueError``.
    """
    r = float(radius)
    if not r >= 0:
        raise ValueError(f"radius must be a number >= 0, got {radius!r}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    tx = np.asarray(tx, dtype=float)
    ty = np.asarray(ty, dtype=float)
    keep = _finite(tx, ty)
    fl = [np.asarray(f, dtype=bool)[keep] for f in flags]
    tx, ty = tx[keep], ty[keep]
    out = np.zeros((len(x), 1 + len(fl)), dtype=np.int64)
    ok = np.flatnonzero(_finite(x, y))
    if len(ok) < len(x):  # points with NaN coordinates count nothing
        if len(ok):
            out[ok] = disk_counts_xy(
                x[ok], y[ok], tx, ty, radius=r, flags=fl, cell=cell, scatter=scatter
            )
        return out
    n = len(x)
    if n == 0 or len(tx) == 0:
        return out
    if scatter is None or cell is None:
        g_cell, g_cost = _plan(n, _density_near(x, y, tx, ty, r), r)
        s_cell, s_cost = _plan(len(tx), _density_near(tx, ty, x, y, r), r)
        g_cost += len(tx) * _SORT_NS
        s_cost += n * _SORT_NS
        if scatter is None:
            scatter = s_cost < g_cost
        if cell is None:
            cell = s_cell if scatter else g_cell
    if scatter:
        return _scatter_counts(x, y, tx, ty, fl, r, float(cell))
    return _gather_counts(x, y, tx, ty, fl, r, float(cell))


def _chunks_by_rows(n: int, r: float, cell: float) -> Iterator[slice]:
    step = max(1, ROW_ITEMS // (int(2 * r / cell) + 3))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _gather_counts(
    x: np.ndarray,
    y: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    flags: list[np.ndarray],
    r: float,
    cell: float,
) -> np.ndarray:
    """Targets bucketed; each point sums the targets within its disk."""
    bk = _Buckets.build(tx, ty, cell)
    sflags = [f[bk.order] for f in flags]
    prefix = [np.concatenate([[0], np.cumsum(f, dtype=np.int64)]) for f in sflags]
    out = np.zeros((len(x), 1 + len(flags)), dtype=np.int64)
    # Points in bucket order, for cache locality.
    col = np.clip((x - bk.x0) // bk.c, 0, bk.nx - 1).astype(np.int64)
    row = np.clip((y - bk.y0) // bk.c, 0, bk.ny - 1).astype(np.int64)
    qorder = np.argsort(row * bk.nx + col, kind="stable")
    for sl in _chunks_by_rows(len(x), r, bk.c):
        idx = qorder[sl]
        cx, cy = x[idx], y[idx]
        m = len(idx)
        res = np.zeros((m, 1 + len(flags)), dtype=np.int64)
        pi, a, b, c, d = bk.runs(cx, cy, r)
        res[:, 0] = np.bincount(pi, weights=c - b, minlength=m).astype(np.int64)
        for k, pre in enumerate(prefix):
            res[:, k + 1] = np.bincount(pi, weights=pre[c] - pre[b], minlength=m).astype(np.int64)
        for o, t in bk.crossed_hits(cx, cy, r, pi, a, b, c, d):
            res[:, 0] += np.bincount(o, minlength=m)
            for k, f in enumerate(sflags):
                res[:, k + 1] += np.bincount(o[f[t]], minlength=m)
        out[idx] = res
    return out


def _scatter_counts(
    x: np.ndarray,
    y: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    flags: list[np.ndarray],
    r: float,
    cell: float,
) -> np.ndarray:
    """Points bucketed; each target adds itself to the points within its disk."""
    bk = _Buckets.build(x, y, cell)
    n = len(x)
    weights = [None, *flags]
    diff = np.zeros((n + 1, len(weights)))
    hits = np.zeros((n, len(weights)), dtype=np.int64)
    for sl in _chunks_by_rows(len(tx), r, bk.c):
        cx, cy = tx[sl], ty[sl]
        pi, a, b, c, d = bk.runs(cx, cy, r)
        for k, w in enumerate(weights):
            wi = None if w is None else w[sl][pi].astype(float)
            diff[:, k] += np.bincount(b, weights=wi, minlength=n + 1)
            diff[:, k] -= np.bincount(c, weights=wi, minlength=n + 1)
        for o, t in bk.crossed_hits(cx, cy, r, pi, a, b, c, d):
            for k, w in enumerate(weights):
                tk = t if w is None else t[w[sl][o]]
                hits[:, k] += np.bincount(tk, minlength=n)
    counts = np.rint(np.cumsum(diff[:-1], axis=0)).astype(np.int64) + hits
    out = np.empty_like(counts)
    out[bk.order] = counts
    return out


def distance_to_nearest(
    objects: gpd.GeoDataFrame, targets: gpd.GeoDataFrame | gpd.GeoSeries, *, name: str
) -> pd.Series:
    """Exact distance (m) from each object to the nearest target, both as points.

    ``dist = min_t ‖p(object) − p(t)‖`` where ``p`` is the reference point (the centroid
    of a polygon, the point itself for points), found with :func:`nearest_distance_xy`.
    NaN when there are no targets.
    """
    geoms = geometry_array(objects)
    tg = geometry_array(targets)
    dist = np.full(len(geoms), np.nan)
    if len(geoms) and len(tg):
        x, y = _xy(geoms)
        tx, ty = _xy(tg)
        dist = nearest_distance_xy(x, y, tx, ty)
    return pd.Series(dist, index=objects.index, name=name)


def distance_to_stop(
    objects: gpd.GeoDataFrame, stops: gpd.GeoDataFrame, *, kinds: str | tuple[str, ...]
) -> pd.Series:
    """Exact distance (m) to the nearest transit stop of the given kind(s).

    ``dist_<kind>_m = min_{s: kind(s) ∈ kinds} ‖p(object) − s‖`` (see
    :func:`distance_to_nearest`); NaN when no stop of those kinds exists. Named
    ``dist_<kind>_m`` for one kind; callers rename combinations (``dist_rail_m`` =
    trein/metro/tram, ``dist_hov_m`` = bus/tram/metro, both the minimum of the single kinds).
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    sel = stops[stops["kind"].isin(kinds)]
    return distance_to_nearest(objects, sel, name=f"dist_{'_'.join(kinds)}_m")


def count_within(
    objects: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    radius: float,
    name: str,
    cell: float | None = None,
) -> pd.Series:
    """Exact number of targets within ``radius`` metres of each object (``int64``).

    ``n = |{t : ‖p(object) − p(t)‖ ≤ radius}|`` (inclusive: a target exactly ``radius`` away
    counts) with ``p`` the reference point, computed by :func:`disk_counts_xy`.
    ``cell`` only tunes the speed of the bucket grid.
    """
    geoms = geometry_array(objects)
    tg = geometry_array(targets)
    counts = np.zeros(len(geoms), dtype=np.int64)
    if len(geoms) and len(tg):
        x, y = _xy(geoms)
        tx, ty = _xy(tg)
        counts = disk_counts_xy(x, y, tx, ty, radius=radius, cell=cell)[:, 0]
    return pd.Series(counts, index=objects.index, name=name)


def mixed_use_share(
    objects: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    non_residential: np.ndarray | pd.Series,
    *,
    radius: float = 500.0,
    cell: float | None = None,
) -> pd.Series:
    """Share of the addresses (units) within ``radius`` of the object that are not homes.

    ``mixed_use_500m = n_nonresidential(r) / n_units(r)``, NaN where no unit lies within r:
    exact counts of the units whose point lies within ``radius`` (inclusive) of the object's
    reference point (:func:`disk_counts_xy`, one pass for both counts; ``cell`` only tunes
    the speed). Counting on a grid instead (units snapped to 50 m cells) made one office
    0.959 mixed instead of 0.754 and depended on the orientation of the data.
    """
    name = f"mixed_use_{int(radius)}m"
    geoms = geometry_array(objects)
    out = np.full(len(geoms), np.nan)
    ug = geometry_array(units)
    if len(geoms) and len(ug):
        x, y = _xy(geoms)
        ux, uy = _xy(ug)
        nonres = np.asarray(non_residential, dtype=bool)
        counts = disk_counts_xy(x, y, ux, uy, radius=radius, flags=[nonres], cell=cell)
        total, other = counts[:, 0], counts[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total > 0, other / total, np.nan)
    return pd.Series(out, index=objects.index, name=name)
