"""Settling polygon pairs without an overlay: inside, apart, or crossing (with a tolerance).

Real parcels and footprints share boundaries that are not exactly equal in floating point: a
corner lies on its neighbour's edge up to rounding, an edge rotated with the data is 1e-11 m
off its neighbour's, cadastral coordinates are rounded to the millimetre. Exact predicates
then call most neighbours "overlapping" and most footprints "not inside" their parcel, and
an overlay (``shapely.intersection``, ~10 µs per small pair) computes a sliver of 1e-10 m².
Here such pairs are settled with a tolerance of :data:`TOLERANCE_M`:

* **inside**: every vertex of A lies inside B or within the tolerance of it, and B is convex
  (so all of A does): the overlap is A's area;
* **apart**: an edge of B (or A) on its convex hull (every vertex of its own polygon on its
  inner side or within the tolerance of its line: any edge of a convex polygon, the edge of
  a concave plot along its street) has every vertex of the other polygon on its outer side
  or within the tolerance of its line: the line separates the two, the overlap lies within
  the tolerance of that edge, and counts as none (two neighbours sharing an edge, however
  concave);
* otherwise the pair is *undecided* and the caller decides it (with GEOS).

The area of a pair that really crosses is computed here too when one of the two is convex
(:func:`clip_areas`: the other clipped by its edges, Sutherland–Hodgman, vectorised over
pairs): the overlay of a parcel with a tile of a zone or a box of the BSD, the most common
crossing, costs a fraction of a GEOS overlay, which holds the GIL.

Both tests are exact geometry on the polygons' vertices, vectorised over pairs with numpy (a
few hundred nanoseconds per pair): they do not depend on the orientation of the data or on
extra vertices on straight edges (vertices within the tolerance of a straight line are
dropped first, Douglas–Peucker with the tolerance). Polygons with holes, several parts or more than
:data:`MAX_VERTICES` corners are left to the caller (a multi-polygon of one part is its part).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, fields

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


#: Geometries whose tables are built at once.
BUILD_CHUNK = 200_000
#: Size classes (corners) of the vertex tables; larger polygons are left to GEOS.
SIZES = (4, 6, 8, 12, 16)
MAX_VERTICES = SIZES[-1]
#: Matrix entries (pairs × corners × corners) computed at once (arrays of 2 MB: reused by
#: the allocator, where larger ones come as fresh pages from the kernel each time).
CHUNK_ENTRIES = 250_000
#: A polygon whose corners turn the wrong way by at most this (m; floating-point noise) is
#: convex for :func:`clip_areas`: the clipped area is then off by at most this times the
#: length of the edges, far below a square millimetre.
CLIP_CONVEX_M = 1e-9
#: Pairs clipped at once by :func:`clip_areas`.
CLIP_CHUNK = 20_000


@dataclass(frozen=True)
class _Bucket:
    """Polygons with up to ``K`` corners: corners ``V`` (n, K, 2) in either orientation,
    padded with the first corner; inward unit normals ``N`` of the edges from each corner;
    ``E`` marks real edges; ``convex`` per polygon (up to the tolerance); ``H`` marks the
    edges on the convex hull (every corner on their inner side, up to the tolerance). For
    :func:`clip_areas`: ``exact`` marks the rings that are the geometry's own (no corner
    within the tolerance of a straight line was dropped), ``strict`` the convex ones whose
    corners turn the wrong way by at most :data:`CLIP_CONVEX_M`."""

    K: int
    V: np.ndarray
    N: np.ndarray
    E: np.ndarray
    convex: np.ndarray
    H: np.ndarray
    exact: np.ndarray
    strict: np.ndarray


#: The per-polygon arrays of a :class:`_Bucket`, in the order of its fields.
_BUCKET_ARRAYS = tuple(f.name for f in fields(_Bucket) if f.name != "K")


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
        """The tables of ``geoms``, built :data:`BUILD_CHUNK` geometries at a time (the
        temporaries of all coordinates at once would take several times the tables' size)
        and joined per size class."""
        parts = [
            cls._build(geoms[s : s + BUILD_CHUNK], tol=tol)
            for s in range(0, max(len(geoms), 1), BUILD_CHUNK)
        ]
        if len(parts) == 1:
            return parts[0]
        rows = np.zeros((len(parts), len(SIZES)), dtype=np.int64)  # rows before each part
        for k, part in enumerate(parts[:-1]):
            rows[k + 1] = rows[k] + [len(b.convex) for b in part.buckets]
        row = np.concatenate(
            [
                np.where(part.bucket >= 0, part.row + rows[k][np.maximum(part.bucket, 0)], -1)
                for k, part in enumerate(parts)
            ]
        )
        buckets = tuple(
            _Bucket(
                K,
                *(
                    np.concatenate([getattr(part.buckets[b], f) for part in parts])
                    for f in _BUCKET_ARRAYS
                ),
            )
            for b, K in enumerate(SIZES)
        )
        return cls(np.concatenate([part.bucket for part in parts]), row, buckets)

    @classmethod
    def _build(cls, geoms: np.ndarray, *, tol: float) -> SimplePolygons:
        n = len(geoms)
        bucket = np.full(n, -1, dtype=np.int64)
        row = np.full(n, -1, dtype=np.int64)
        # polygons, and multi-polygons of one part (as readers deliver parcels)
        kind = shapely.get_type_id(geoms)
        cand = np.flatnonzero((kind == 3) | (kind == 6))
        ring, xy = outer_rings(geoms[cand])
        has = ring[:, 0] >= 0
        cand, ring = cand[has], ring[has]
        start = ring[:, 0]
        cnt = ring[:, 1] - start - 1  # distinct corners (the closing coordinate repeats)
        # Douglas–Peucker with the tolerance, but only where it can drop a corner: a vertex
        # within ``tol`` of the segment joining its neighbours (one outline in a hundred after
        # the canonical outlines of contracts §E.0; simplifying all of them costs seconds).
        redo = np.flatnonzero(has_straight_corner(xy, start, cnt, tol))
        exact = np.ones(len(cand), dtype=bool)  # the table holds the geometry's own ring
        if len(redo):
            simp = shapely.simplify(geoms[cand[redo]], tol, preserve_topology=False)
            ring2, xy2 = outer_rings(simp)
            fine = ring2[:, 0] >= 0
            start[redo[fine]] = ring2[fine, 0] + len(xy)
            cnt[redo[fine]] = ring2[fine, 1] - ring2[fine, 0] - 1
            cnt[redo[~fine]] = 0
            # Douglas–Peucker keeps a subset of the corners: as many means the same ring
            exact[redo[fine]] = cnt[redo[fine]] == ring[redo[fine], 1] - ring[redo[fine], 0] - 1
            xy = np.concatenate([xy, xy2])
        ok = (cnt >= 3) & (cnt <= MAX_VERTICES)
        buckets = []
        lo = 0
        for b, K in enumerate(SIZES):
            sel = np.flatnonzero(ok & (cnt > lo) & (cnt <= K))
            lo = K
            bucket[cand[sel]] = b
            row[cand[sel]] = np.arange(len(sel))
            buckets.append(_table(xy, start[sel], cnt[sel], K, tol, exact[sel]))
        return cls(bucket, row, tuple(buckets))


def outer_rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coordinates of the polygons without holes (a multi-polygon of one part is its
    polygon): ``ring[g] = (first, end)`` rows of geometry ``g``'s closed ring in ``xy``, or
    ``(-1, -1)`` for any other geometry.

    Read from the coordinates alone (no copies of rings or parts): a geometry is one ring when
    its first coordinate comes back only as its last one (a hole or a second part starts a new
    ring after the first closed; one touching the first ring's start point counts as more).
    """
    n = len(geoms)
    ring = np.full((n, 2), -1, dtype=np.int64)
    xy = shapely.get_coordinates(geoms)
    if len(xy) == 0:
        return ring, xy
    count = shapely.get_num_coordinates(geoms)
    own = np.repeat(np.arange(n), count)  # (shapely's return_index is slower)
    start = np.cumsum(count) - count
    at_start = (xy == xy[start[own]]).all(axis=1)
    returns = np.bincount(own[at_start], minlength=n)  # the first coordinate and its repeats
    end = start + count
    one = (count >= 4) & (returns == 2)
    one[one] = at_start[end[one] - 1]  # ... and the one repeat closes the geometry
    ring[one, 0] = start[one]
    ring[one, 1] = end[one]
    return ring, xy


def has_straight_corner(
    xy: np.ndarray, start: np.ndarray, cnt: np.ndarray, tol: float
) -> np.ndarray:
    """Per ring ``xy[start : start + cnt + 1]`` (closed): may a corner be dropped by
    Douglas–Peucker with ``tol``, that is, does one lie within ``tol`` of the line through its
    two neighbours? (A screen: the line is nearer than the segment, so every corner that
    Douglas–Peucker drops alone is found, and some it keeps.)"""
    n = len(start)
    if n == 0 or len(xy) < 3:
        return np.zeros(n, dtype=bool)
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    # every coordinate against the ones before and after it in the array (whole-array
    # slices), then each ring's first corner against its last one
    near = np.zeros(len(xy), dtype=bool)
    near[1:-1] = _near_line(
        x[:-2] - x[1:-1], y[:-2] - y[1:-1], x[2:] - x[1:-1], y[2:] - y[1:-1], tol
    )
    last = np.maximum(start + cnt - 1, 0)
    second = np.minimum(start + 1, len(xy) - 1)
    x0, y0 = x[start], y[start]
    near[start] = _near_line(x[last] - x0, y[last] - y0, x[second] - x0, y[second] - y0, tol)
    total = np.concatenate([[0], np.cumsum(near)])
    return total[start + np.maximum(cnt, 0)] - total[start] > 0


def _near_line(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, tol: float
) -> np.ndarray:
    """Is the origin within ``tol`` of the line through ``a`` and ``b`` (or are they equal)?"""
    cross = ax * by - ay * bx
    dx, dy = bx - ax, by - ay
    return cross * cross <= (tol * tol) * (dx * dx + dy * dy)


def _table(
    xy: np.ndarray, start: np.ndarray, cnt: np.ndarray, K: int, tol: float, exact: np.ndarray
) -> _Bucket:
    """The vertex table of the rings ``xy[start : start + cnt]`` (≤ K distinct corners each).

    Built per exact corner count, where every ring is a plain ``(m, c, 2)`` block: edges and
    turns wrap around with ``np.roll``. Clockwise rings keep their order; their normals and
    turns change sign instead.
    """
    n = len(start)
    V = np.zeros((n, K, 2))
    N = np.zeros((n, K, 2))
    E = np.zeros((n, K), dtype=bool)
    H = np.zeros((n, K), dtype=bool)
    convex = np.ones(n, dtype=bool)
    strict = np.ones(n, dtype=bool)
    for c in np.unique(cnt):
        rows = np.flatnonzero(cnt == c)
        v = xy[start[rows, None] + np.arange(c)]  # (m, c, 2)
        d = np.roll(v, -1, axis=1) - v
        # orientation from the shoelace sum, relative to the first corner (precision)
        rel = v - v[:, :1]
        relw = np.roll(rel, -1, axis=1)
        twice_area = (rel[:, :, 0] * relw[:, :, 1] - relw[:, :, 0] * rel[:, :, 1]).sum(axis=1)
        sign = np.where(twice_area < 0, -1.0, 1.0)[:, None]
        length = np.hypot(d[:, :, 0], d[:, :, 1])
        e = length > 0
        safe = np.where(e, length, 1.0)
        V[rows, :c] = v
        V[rows, c:] = v[:, :1]
        N[rows, :c, 0] = -d[:, :, 1] / safe * sign
        N[rows, :c, 1] = d[:, :, 0] / safe * sign
        E[rows, :c] = e
        # convex: no corner turns right (against the ring's orientation) by more than tol
        d_next = np.roll(d, -1, axis=1)
        turn = sign * (d[:, :, 0] * d_next[:, :, 1] - d[:, :, 1] * d_next[:, :, 0]) / safe
        convex[rows] = np.all(~e | (turn >= -tol), axis=1)
        strict[rows] = np.all(~e | (turn >= -CLIP_CONVEX_M), axis=1)
        # hull edges: no corner of the ring on the outer side of the edge's line beyond tol
        rel_n = N[rows, :c]
        step = max(1, CHUNK_ENTRIES // (c * c))
        for s in range(0, len(rows), step):
            r, nn = rel[s : s + step], rel_n[s : s + step]
            own = (r[:, :, None, 0] - r[:, None, :, 0]) * nn[:, None, :, 0] + (
                r[:, :, None, 1] - r[:, None, :, 1]
            ) * nn[:, None, :, 1]
            H[rows[s : s + step], :c] = e[s : s + step] & (own.min(axis=1) >= -tol)
    return _Bucket(K, V, N, E, convex, H, exact, strict)


_CACHE: dict[int, tuple[weakref.ref, SimplePolygons]] = {}
_BUILDING: dict[int, threading.Lock] = {}
_LOCK = threading.Lock()


def simple_polygons(geoms: np.ndarray) -> SimplePolygons:
    """:meth:`SimplePolygons.build` of ``geoms``, built once per geometry array.

    The scan overlays the same parcels with buildings, owners, zoning and zones (on two
    threads): the tables are kept while the array lives. Tables of different arrays are
    built at the same time; a second thread asking for a table being built waits for it.
    """
    key = id(geoms)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is geoms:
            return hit[1]
        building = _BUILDING.setdefault(key, threading.Lock())
    with building:
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None and hit[0]() is geoms:
                return hit[1]
        table = SimplePolygons.build(geoms)

        def forget(_: object, key: int = key) -> None:
            _CACHE.pop(key, None)

        with _LOCK:
            _CACHE[key] = (weakref.ref(geoms, forget), table)
            _BUILDING.pop(key, None)
        return table


def forget_simple_polygons(*arrays: np.ndarray) -> None:
    """Drop the cached tables of these geometry arrays, for arrays that outlive their last
    overlay (an overlay that needs a table again builds it again)."""
    with _LOCK:
        for geoms in arrays:
            hit = _CACHE.get(id(geoms))
            if hit is not None and hit[0]() is geoms:
                del _CACHE[id(geoms)]


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
    # separated by a hull edge of either (every edge of a convex polygon is one)
    HA = EA & (ta.H[ra] | cva[:, None])
    HB = EB & (tb.H[rb] | cvb[:, None])
    apart = np.any(HB & (s_ab.max(axis=1) <= tol), axis=1) | np.any(
        HA & (s_ba.max(axis=1) <= tol), axis=1
    )
    res = np.full(len(ra), UNDECIDED, dtype=np.int8)
    res[apart] = APART
    res[b_in_a] = B_IN_A
    res[a_in_b] = A_IN_B
    return res


def clip_areas(
    a: SimplePolygons, b: SimplePolygons, i: np.ndarray, j: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The area of ``a[i] ∩ b[j]`` for the pairs where one of the two is convex.

    The other polygon is clipped by the convex one's edges in turn (Sutherland–Hodgman: the
    corners on the inner side of an edge are kept, the points where the ring crosses it are
    added), which is exact for any simple ring clipped by a convex polygon: where a concave
    ring leaves and re-enters, the result runs to and fro along the edge, which adds no area.
    Both rings must be the geometries' own (``exact`` in the vertex tables), so the area is
    the overlay's up to floating-point rounding, in any orientation.

    Returns
    -------
    (area, done)
        The areas (0 where not done) and which pairs were done; the caller overlays the rest.
    """
    area = np.zeros(len(i))
    done = np.zeros(len(i), dtype=bool)
    ba, bb = a.bucket[i], b.bucket[j]
    for x, tab_a in enumerate(a.buckets):
        for y, tab_b in enumerate(b.buckets):
            sel = np.flatnonzero((ba == x) & (bb == y))
            if len(sel) == 0:
                continue
            ra, rb = a.row[i[sel]], b.row[j[sel]]
            exact = tab_a.exact[ra] & tab_b.exact[rb]
            # a clipped by a convex b, else b by a convex a (both convex: by the one with
            # fewer corners, one clipping step per edge)
            by_b = exact & tab_b.strict[rb] & ~(tab_a.strict[ra] & (tab_a.K < tab_b.K))
            by_a = exact & ~by_b & tab_a.strict[ra]
            for subject, window, rs, rw, which in (
                (tab_a, tab_b, ra, rb, by_b),
                (tab_b, tab_a, rb, ra, by_a),
            ):
                pick = np.flatnonzero(which)
                for s in range(0, len(pick), CLIP_CHUNK):
                    part = pick[s : s + CLIP_CHUNK]
                    area[sel[part]] = _clip(subject, window, rs[part], rw[part])
                    done[sel[part]] = True
    return area, done


def _clip(subject: _Bucket, window: _Bucket, rs: np.ndarray, rw: np.ndarray) -> np.ndarray:
    """Areas of ``subject[rs] ∩ window[rw]`` (``window`` convex), see :func:`clip_areas`."""
    Q = window.V[rw]
    origin = Q[:, :1]  # both rings relative to one corner: small, precise numbers
    Q = Q - origin
    S = subject.V[rs] - origin  # padded with the first corner: no area, no crossing
    Nw, Ew = window.N[rw], window.E[rw]
    n = len(rs)
    for k in range(window.K):
        e = Ew[:, k]
        if not e.any():
            continue
        # signed distance of each corner from edge k (positive inside)
        d = (S[:, :, 0] - Q[:, None, k, 0]) * Nw[:, None, k, 0] + (
            S[:, :, 1] - Q[:, None, k, 1]
        ) * Nw[:, None, k, 1]
        d[~e] = 1.0  # no such edge: all inside
        inside = d >= 0
        d_next = np.roll(d, -1, axis=1)
        cross = inside != (d_next >= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(cross, d / (d - d_next), 0.0)
        at = S + t[..., None] * (np.roll(S, -1, axis=1) - S)
        # per corner: the corner if inside, then the crossing on its edge if any
        keep = np.stack([inside, cross], axis=2).reshape(n, -1)
        points = np.stack([S, at], axis=2).reshape(n, -1, 2)
        count = keep.sum(axis=1)
        width = max(int(count.max()), 1)
        slot = np.cumsum(keep, axis=1) - 1
        r, c = np.nonzero(keep)
        out = np.zeros((n, width, 2))
        out[r, slot[r, c]] = points[r, c]
        # pad with the first point again (an empty result stays all zero: no area)
        pad = np.arange(width)[None, :] >= count[:, None]
        S = np.where(pad[..., None], out[:, :1], out)
    x, y = S[:, :, 0], S[:, :, 1]
    term = x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y
    # summed corner by corner: the padding adds exact zeros, so a pair's area does not depend
    # on the width of its chunk (numpy's pairwise sum would group the terms by that width)
    twice = np.zeros(n)
    for k in range(term.shape[1]):
        twice += term[:, k]
    return np.abs(twice) / 2.0
