"""Settling polygon pairs without an overlay: inside, apart, or crossing (with a tolerance).

Real parcels and footprints share boundaries that are not exactly equal in floating point: a
corner lies on its neighbour's edge up to rounding, an edge rotated with the data is 1e-11 m
off its neighbour's, cadastral coordinates are rounded to the millimetre. Exact predicates
then call most neighbours "overlapping" and most footprints "not inside" their parcel, and
an overlay (``shapely.intersection``, ~10 µs per small pair) computes a sliver of 1e-10 m².
Here such pairs are settled with a tolerance of :data:`TOLERANCE_M`:

* **inside**: every vertex of A lies inside B or within the tolerance of it, and B is convex
  (so all of A does): the overlap is A's area;
* **apart**: an edge of a convex B (or A) has every vertex of the other polygon on its outer
  side or within the tolerance of its line: the overlap lies within the tolerance of that
  edge, and counts as none;
* otherwise the pair is *undecided* and the caller decides it (with GEOS).

Both tests are exact geometry on the polygons' vertices, vectorised over pairs with numpy (a
few hundred nanoseconds per pair): they do not depend on the orientation of the data or on
extra vertices on straight edges (vertices within the tolerance of a straight line are
dropped first, :func:`shapely.simplify`). Polygons with holes, several parts or more than
:data:`MAX_VERTICES` corners are left to the caller (a multi-polygon of one part is its part).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import shapely

#: Boundaries less than this apart (m) are the same boundary. BRK and BAG coordinates are
#: given in millimetres, so a corner that lies on its neighbour's edge is up to half a
#: millimetre off it in the data; a rotation or a reprojection adds ~1e-11 m.
TOLERANCE_M = 1e-3


def close_hairline_gaps(geoms: np.ndarray, *, tol: float = TOLERANCE_M) -> np.ndarray:
    """The morphological closing by ``tol``: gaps narrower than ``2 × tol`` are closed.

    ``buffer(buffer(g, tol), −tol)`` with mitred joins, so straight edges and corners return
    to where they were (the area changes by at most ``tol²`` per sharp corner beyond the mitre
    limit): the union of parcels whose shared edge matches only up to rounding loses its
    hairline cracks (interior slivers, parts meeting at a corner) and becomes the one polygon
    it is, in any orientation. Real holes and gaps of 2 mm or more stay.
    """
    grown = shapely.buffer(geoms, tol, join_style="mitre")
    return shapely.buffer(grown, -tol, join_style="mitre")


#: Size classes (corners) of the vertex tables; larger polygons are left to GEOS.
SIZES = (4, 6, 8, 12, 16)
MAX_VERTICES = SIZES[-1]
#: Matrix entries (pairs × corners × corners) computed at once.
CHUNK_ENTRIES = 4_000_000


@dataclass(frozen=True)
class _Bucket:
    """Polygons with up to ``K`` corners: corners ``V`` (n, K, 2), counter-clockwise, padded
    with the first corner; inward unit normals ``N`` of the edges from each corner; ``E``
    marks real edges; ``convex`` per polygon."""

    K: int
    V: np.ndarray
    N: np.ndarray
    E: np.ndarray
    convex: np.ndarray


@dataclass(frozen=True)
class SimplePolygons:
    """Vertex tables of the simple polygons of a geometry array (see the module docstring).

    ``bucket[i]`` is the size class of geometry ``i`` (-1: not simple) and ``row[i]`` its row
    in that bucket.
    """

    bucket: np.ndarray
    row: np.ndarray
    buckets: tuple[_Bucket, ...]

    @classmethod
    def build(cls, geoms: np.ndarray, *, tol: float = TOLERANCE_M) -> SimplePolygons:
        n = len(geoms)
        bucket = np.full(n, -1, dtype=np.int64)
        row = np.full(n, -1, dtype=np.int64)
        # polygons, and multi-polygons of one part (as readers deliver parcels)
        # (GEOS simplifies a multi-polygon of one part to its polygon: no copy of the part)
        kind = shapely.get_type_id(geoms)
        cand = np.flatnonzero((kind == 3) | (kind == 6))
        simp = np.full(n, None, dtype=object)
        simp[cand] = shapely.simplify(geoms[cand], tol, preserve_topology=False)
        ok = np.zeros(n, dtype=bool)
        ok[cand] = shapely.get_type_id(simp[cand]) == 3
        ok[ok] = shapely.get_num_interior_rings(simp[ok]) == 0
        cnt = np.zeros(n, dtype=np.int64)
        cnt[ok] = shapely.get_num_coordinates(simp[ok]) - 1
        ok &= (cnt >= 3) & (cnt <= MAX_VERTICES)
        buckets = []
        lo = 0
        for b, K in enumerate(SIZES):
            idx = np.flatnonzero(ok & (cnt > lo) & (cnt <= K))
            lo = K
            bucket[idx] = b
            row[idx] = np.arange(len(idx))
            buckets.append(_table(simp[idx], cnt[idx], K, tol))
        return cls(bucket, row, tuple(buckets))


def _table(geoms: np.ndarray, cnt: np.ndarray, K: int, tol: float) -> _Bucket:
    """The vertex table of polygons with ``cnt`` (≤ K) distinct corners each."""
    n = len(geoms)
    xy, own = shapely.get_coordinates(geoms, return_index=True)
    start = np.cumsum(cnt + 1) - (cnt + 1)
    k = np.arange(len(xy)) - start[own]
    keep = k < cnt[own]  # not the closing coordinate
    V = np.zeros((n, K, 2))
    V[own[keep], k[keep]] = xy[keep]
    ar = np.arange(K)[None, :]
    real = ar < cnt[:, None]
    nxt = np.where(ar + 1 < cnt[:, None], ar + 1, 0)
    # orientation from the shoelace sum, relative to the first corner (precision)
    rel = V - V[:, :1]
    relw = np.take_along_axis(rel, nxt[:, :, None], axis=1)
    twice_area = np.where(real, rel[:, :, 0] * relw[:, :, 1] - relw[:, :, 0] * rel[:, :, 1], 0.0)
    cw = twice_area.sum(axis=1) < 0
    rev = np.where(real, cnt[:, None] - 1 - ar, 0)
    V[cw] = np.take_along_axis(V[cw], rev[cw][:, :, None], axis=1)
    V = np.where(real[:, :, None], V, V[:, :1])
    d = np.take_along_axis(V, nxt[:, :, None], axis=1) - V
    length = np.hypot(d[:, :, 0], d[:, :, 1])
    E = real & (length > 0)
    safe = np.where(E, length, 1.0)
    N = np.stack([-d[:, :, 1] / safe, d[:, :, 0] / safe], axis=2)
    # convex: no corner turns right by more than the tolerance
    d_next = np.take_along_axis(d, nxt[:, :, None], axis=1)
    turn = (d[:, :, 0] * d_next[:, :, 1] - d[:, :, 1] * d_next[:, :, 0]) / safe
    convex = np.all(~E | (turn >= -tol), axis=1)
    return _Bucket(K, V, N, E, convex)


_CACHE: dict[int, tuple[weakref.ref, SimplePolygons]] = {}
_LOCK = threading.Lock()


def simple_polygons(geoms: np.ndarray) -> SimplePolygons:
    """:meth:`SimplePolygons.build` of ``geoms``, built once per geometry array.

    The scan overlays the same parcels with buildings, owners, zoning and zones (on two
    threads): the tables are kept while the array lives.
    """
    key = id(geoms)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is geoms:
            return hit[1]
        table = SimplePolygons.build(geoms)

        def forget(_: object, key: int = key) -> None:
            _CACHE.pop(key, None)

        _CACHE[key] = (weakref.ref(geoms, forget), table)
        return table


#: Results of :func:`classify_pairs`.
UNDECIDED, APART, A_IN_B, B_IN_A = -1, 0, 1, 2


def classify_pairs(
    a: SimplePolygons, b: SimplePolygons, i: np.ndarray, j: np.ndarray, *, tol: float = TOLERANCE_M
) -> np.ndarray:
    """For each pair (``i`` into ``a``, ``j`` into ``b``): :data:`A_IN_B`, :data:`B_IN_A`,
    :data:`APART` or :data:`UNDECIDED` (see the module docstring)."""
    out = np.full(len(i), UNDECIDED, dtype=np.int8)
    ba, bb = a.bucket[i], b.bucket[j]
    for x, tab_a in enumerate(a.buckets):
        for y, tab_b in enumerate(b.buckets):
            sel = np.flatnonzero((ba == x) & (bb == y))
            step = max(1, CHUNK_ENTRIES // (tab_a.K * tab_b.K))
            for s in range(0, len(sel), step):
                part = sel[s : s + step]
                out[part] = _classify(tab_a, tab_b, a.row[i[part]], b.row[j[part]], tol)
    return out


def _classify(ta: _Bucket, tb: _Bucket, ra: np.ndarray, rb: np.ndarray, tol: float) -> np.ndarray:
    VB = tb.V[rb]
    origin = VB[:, :1]  # both polygons relative to one corner: small, precise numbers
    VB = VB - origin
    VA = ta.V[ra] - origin
    NA, NB = ta.N[ra], tb.N[rb]
    EA, EB = ta.E[ra], tb.E[rb]
    # s[p, k, m]: signed distance of corner k of one polygon from edge m of the other
    # (positive inside)
    s_ab = (VA[:, :, None, 0] - VB[:, None, :, 0]) * NB[:, None, :, 0] + (
        VA[:, :, None, 1] - VB[:, None, :, 1]
    ) * NB[:, None, :, 1]
    s_ba = (VB[:, :, None, 0] - VA[:, None, :, 0]) * NA[:, None, :, 0] + (
        VB[:, :, None, 1] - VA[:, None, :, 1]
    ) * NA[:, None, :, 1]
    cva, cvb = ta.convex[ra], tb.convex[rb]
    a_in_b = cvb & (np.where(EB, s_ab.min(axis=1), np.inf).min(axis=1) >= -tol)
    b_in_a = cva & (np.where(EA, s_ba.min(axis=1), np.inf).min(axis=1) >= -tol)
    apart = (cvb & np.any(EB & (s_ab.max(axis=1) <= tol), axis=1)) | (
        cva & np.any(EA & (s_ba.max(axis=1) <= tol), axis=1)
    )
    res = np.full(len(ra), UNDECIDED, dtype=np.int8)
    res[apart] = APART
    res[b_in_a] = B_IN_A
    res[a_in_b] = A_IN_B
    return res
