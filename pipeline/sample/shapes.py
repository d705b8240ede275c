"""Geometry of the synthetic province: from local block frames to real-looking polygons.

Every district of the synthetic province has its own street grid (a lattice of 100 m blocks)
at its own angle, gently curved. Objects are laid out in the district's *local* frame
``(u, v)``, in metres, where the lattice is axis-aligned, and mapped to RD New by

1. a curving shear ``v' = v + f(u)``, where ``f`` interpolates ``amp · sin(2πu / wavelength
   + phase)`` linearly between knots every :data:`KNOT_M` metres. Between two knots the
   map is affine, so straight edges stay straight once a vertex is inserted wherever an
   edge crosses a knot line (:func:`insert_knots`): a point on an edge lands on the mapped
   edge, so parcels that share an edge or a T-junction still do (up to floating-point
   rounding, as in real cadastral data). The shear keeps every area exactly;
2. a rotation by the district's angle and a translation to its origin.

Objects are described as a *frame* (a quadrilateral in local coordinates: corners
lower-left, lower-right, upper-right, upper-left) and a polygon in the frame's unit square
``(s, t) ∈ [0, 1]²``, mapped bilinearly. Neighbouring row houses share their frame's side,
so their party walls are the same numbers.

Everything here is vectorised over objects (numpy + shapely 2); the only loops are over
small shape templates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

#: Knot spacing (m) of the piecewise-linear curving shear.
KNOT_M = 100.0


@dataclass(frozen=True)
class Frames:
    """Per-district transform parameters (arrays indexed by district)."""

    ox: np.ndarray
    oy: np.ndarray
    theta: np.ndarray
    amp: np.ndarray
    wavelength: np.ndarray
    phase: np.ndarray

    def shear(self, u: np.ndarray, d: np.ndarray) -> np.ndarray:
        """``f_d(u)``: the curving offset, linear between knots every :data:`KNOT_M` m."""
        amp = self.amp[d]
        k = np.floor(u / KNOT_M)
        t = u / KNOT_M - k
        w = 2.0 * np.pi * KNOT_M / self.wavelength[d]
        ph = self.phase[d]
        f0 = amp * np.sin(k * w + ph)
        f1 = amp * np.sin((k + 1.0) * w + ph)
        return f0 + t * (f1 - f0)

    def to_world(
        self, u: np.ndarray, v: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Local (u, v) of district ``d`` to RD New (x, y)."""
        v2 = v + self.shear(u, d)
        c, s = np.cos(self.theta[d]), np.sin(self.theta[d])
        return self.ox[d] + c * u - s * v2, self.oy[d] + s * u + c * v2

    def to_local(
        self, x: np.ndarray, y: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """RD New (x, y) to the local (u, v) of district ``d`` (the inverse of to_world)."""
        c, s = np.cos(self.theta[d]), np.sin(self.theta[d])
        dx, dy = x - self.ox[d], y - self.oy[d]
        u = c * dx + s * dy
        v2 = -s * dx + c * dy
        return u, v2 - self.shear(u, d)


def bilinear(q: np.ndarray, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map unit-square coordinates (s, t) into frames ``q`` (rows: x_ll, y_ll, x_lr, y_lr,
    x_ur, y_ur, x_ul, y_ul). ``q`` has one row per point."""
    a = (1.0 - s) * (1.0 - t)
    b = s * (1.0 - t)
    c = s * t
    e = (1.0 - s) * t
    x = a * q[:, 0] + b * q[:, 2] + c * q[:, 4] + e * q[:, 6]
    y = a * q[:, 1] + b * q[:, 3] + c * q[:, 5] + e * q[:, 7]
    return x, y


def box_frames(x0, y0, x1, y1, t0=0.0, t1=0.0) -> np.ndarray:
    """Frames of boxes, the top corners shifted along u by ``t0`` (left) and ``t1`` (right)."""
    x0, y0, x1, y1, t0, t1 = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (x0, y0, x1, y1, t0, t1))
    )
    return np.column_stack([x0, y0, x1, y0, x1 + t1, y1, x0 + t0, y1])


def sub_frames(q: np.ndarray, s0, s1, t0, t1) -> np.ndarray:
    """The frames of the sub-boxes ``[s0, s1] × [t0, t1]`` of frames ``q`` (bilinear corners)."""
    n = len(q)
    s0, s1, t0, t1 = (np.broadcast_to(np.asarray(a, dtype=float), (n,)) for a in (s0, s1, t0, t1))
    xs, ys = [], []
    for s, t in ((s0, t0), (s1, t0), (s1, t1), (s0, t1)):
        x, y = bilinear(q, s, t)
        xs.append(x)
        ys.append(y)
    return np.column_stack([xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], xs[3], ys[3]])


# --------------------------------------------------------------------------- shape templates

#: Shape codes of buildings (templates in the frame's unit square, counter-clockwise).
PLAIN, ANNEX_BACK, ANNEX_FRONT, NOTCH1, NOTCH2, ELL, COURT, STEPS, ANNEX_BAY, HOLE = range(10)

#: Per shape code, a rectangle (s0, s1, t0, t1) of the unit square that lies inside the shape
#: for every parameter value (where unit points can go).
SOLID = {
    PLAIN: (0.0, 1.0, 0.0, 1.0),
    ANNEX_BACK: (0.0, 1.0, 0.0, 1.0),
    ANNEX_FRONT: (0.0, 1.0, 0.0, 1.0),
    ANNEX_BAY: (0.0, 1.0, 0.0, 1.0),
    NOTCH1: (0.0, 1.0, 0.0, 0.6),
    NOTCH2: (0.0, 1.0, 0.42, 0.58),
    ELL: (0.0, 1.0, 0.0, 0.34),
    COURT: (0.0, 1.0, 0.0, 0.29),
    STEPS: (0.0, 1.0, 0.0, 0.5),
}


def _template(code: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Exterior (and optional hole) of shape ``code`` in unit coordinates, for parameters
    ``p`` (n, 4) in [0, 1): rings are (n, k, 2)."""
    n = len(p)
    a = 0.15 + 0.25 * p[:, 0]  # start of an annex / notch along s
    b = a + 0.3 + 0.25 * p[:, 1]  # its end (< 0.95)
    e = 0.15 + 0.25 * p[:, 2]  # annex depth (share of the frame's t extent)
    m = 0.2 + 0.2 * p[:, 3]  # notch size
    z, o = np.zeros(n), np.ones(n)
    hole = None
    if code == PLAIN:
        pts = [(z, z), (o, z), (o, o), (z, o)]
    elif code == ANNEX_BACK:  # an extension behind (t > 1)
        pts = [(z, z), (o, z), (o, o), (b, o), (b, o + e), (a, o + e), (a, o), (z, o)]
    elif code == ANNEX_FRONT:  # an extension in front (t < 0)
        pts = [(z, z), (a, z), (a, -e), (b, -e), (b, z), (o, z), (o, o), (z, o)]
    elif code == ANNEX_BAY:  # an extension behind and a bay in front
        c0, c1 = 0.35 + 0.1 * p[:, 3], 0.6 + 0.1 * p[:, 3]
        w = 0.06 + 0.04 * p[:, 2]
        pts = [(z, z), (c0, z), (c0, -w), (c1, -w), (c1, z), (o, z), (o, o), (b, o),
               (b, o + e), (a, o + e), (a, o), (z, o)]  # fmt: skip
    elif code == NOTCH1:  # one corner cut back
        pts = [(z, z), (o, z), (o, 1 - m), (1 - m, 1 - m), (1 - m, o), (z, o)]
    elif code == NOTCH2:  # two corners cut back
        pts = [(z, m), (m, m), (m, z), (o, z), (o, 1 - m), (1 - m, 1 - m), (1 - m, o), (z, o)]
    elif code == ELL:  # an L: a wing along the left side
        w = 0.35 + 0.2 * p[:, 0]
        h = 0.35 + 0.2 * p[:, 1]
        pts = [(z, z), (o, z), (o, h), (w, h), (w, o), (z, o)]
    elif code == COURT:  # a block around a courtyard (a polygon with a hole)
        pts = [(z, z), (o, z), (o, o), (z, o)]
        i0, i1 = 0.3 + 0.05 * p[:, 0], 0.7 - 0.05 * p[:, 1]
        j0, j1 = 0.3 + 0.05 * p[:, 2], 0.7 - 0.05 * p[:, 3]
        hole = np.stack([np.column_stack(c) for c in [(i0, j0), (i0, j1), (i1, j1), (i1, j0)]], 1)
    elif code == HOLE:  # the unit square with a rectangular hole [p0, p1] x [p2, p3]
        pts = [(z, z), (o, z), (o, o), (z, o)]
        cs = [(p[:, 0], p[:, 2]), (p[:, 0], p[:, 3]), (p[:, 1], p[:, 3]), (p[:, 1], p[:, 2])]
        hole = np.stack([np.column_stack(c) for c in cs], 1)
    elif code == STEPS:  # a stepped back facade (a staircase of wings)
        k = 4
        pts = [(z, z), (o, z)]
        for q in range(k):  # steps from s=1 back to s=0, each a little deeper
            s_hi = 1.0 - q / k
            s_lo = 1.0 - (q + 1) / k
            depth = 0.55 + 0.45 * (q + 1) / k - 0.1 * p[:, q % 4]
            pts += [(s_hi * o, depth), (s_lo * o, depth)]
        pts[-1] = (z, pts[-1][1])
    else:  # pragma: no cover - a programming error
        raise ValueError(f"unknown shape code {code}")
    ring = np.stack([np.column_stack([np.broadcast_to(s, (n,)), np.broadcast_to(t, (n,))])
                     for s, t in pts], axis=1)  # fmt: skip
    return ring, hole


def frame_polygons(
    q: np.ndarray, code: np.ndarray | None = None, params: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polygons of shape ``code`` in frames ``q``, in local coordinates.

    Returns the ragged rings of the polygons: ``coords`` (closed rings, consecutive),
    ``ring_offsets`` (len n_rings + 1) and ``geom_offsets`` (len n + 1, into rings), the
    layout of :func:`shapely.to_ragged_array` for polygons.
    """
    n = len(q)
    code = np.zeros(n, dtype=np.int64) if code is None else np.asarray(code, dtype=np.int64)
    params = np.zeros((n, 4)) if params is None else np.asarray(params, dtype=float)
    # (object index, ring coordinates (m, k, 2), 0 = exterior / 1 = hole)
    rings: list[tuple[np.ndarray, np.ndarray, int]] = []
    for c in np.unique(code):
        idx = np.flatnonzero(code == c)
        ext, hole = _template(int(c), params[idx])
        rings.append((idx, ext, 0))
        if hole is not None:
            rings.append((idx, hole, 1))
    # order rings by object, exterior first
    obj = np.concatenate([r[0] for r in rings])
    kind = np.concatenate([np.full(len(r[0]), r[2]) for r in rings])
    size = np.concatenate([np.full(len(r[0]), r[1].shape[1] + 1) for r in rings])
    order = np.lexsort((kind, obj))
    starts_src = np.cumsum(size) - size
    coords_src = np.concatenate(
        [np.concatenate([r[1], r[1][:, :1]], axis=1).reshape(-1, 2) for r in rings]
    )
    # gather in order
    sz = size[order]
    ring_offsets = np.zeros(len(sz) + 1, dtype=np.int64)
    np.cumsum(sz, out=ring_offsets[1:])
    take = np.repeat(starts_src[order] - ring_offsets[:-1], sz) + np.arange(ring_offsets[-1])
    st = coords_src[take]
    owner = np.repeat(obj[order], sz)
    x, y = bilinear(q[owner], st[:, 0], st[:, 1])
    geom_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(obj, minlength=n), out=geom_offsets[1:])
    return np.column_stack([x, y]), ring_offsets, geom_offsets


def insert_knots(
    coords: np.ndarray, ring_offsets: np.ndarray, curved: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Insert a vertex wherever an edge crosses a knot line ``u = k · KNOT_M``.

    ``curved`` (per ring) says whether the ring's district is curved at all (else nothing is
    inserted). Returns the new coordinates and ring offsets.
    """
    n = len(coords)
    if n == 0:
        return coords, ring_offsets
    last = np.zeros(n, dtype=bool)
    last[ring_offsets[1:] - 1] = True
    ring_of = np.repeat(np.arange(len(ring_offsets) - 1), np.diff(ring_offsets))
    seg = np.flatnonzero(~last & curved[ring_of])
    ua, ub = coords[seg, 0], coords[seg + 1, 0]
    lo, hi = np.minimum(ua, ub), np.maximum(ua, ub)
    k0 = np.floor(lo / KNOT_M) + 1.0
    k1 = np.ceil(hi / KNOT_M) - 1.0
    cnt = np.maximum(k1 - k0 + 1.0, 0.0).astype(np.int64)
    extra = np.zeros(n, dtype=np.int64)
    extra[seg] = cnt
    out_n = 1 + extra
    pos = np.cumsum(out_n) - out_n  # where each original coordinate goes
    out = np.empty((int(out_n.sum()), 2))
    out[pos] = coords
    if cnt.sum():
        owner = np.repeat(np.arange(len(seg)), cnt)
        j = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        up = ub[owner] > ua[owner]
        k = np.where(up, k0[owner] + j, k1[owner] - j)
        u = k * KNOT_M
        s = seg[owner]
        va, vb = coords[s, 1], coords[s + 1, 1]
        t = (u - ua[owner]) / (ub[owner] - ua[owner])
        out[pos[s] + 1 + j] = np.column_stack([u, va + t * (vb - va)])
    new_offsets = np.zeros_like(ring_offsets)
    new_offsets[1:] = np.cumsum(np.add.reduceat(out_n, ring_offsets[:-1]))
    return out, new_offsets


def local_to_world(
    frames: Frames,
    district: np.ndarray,
    coords: np.ndarray,
    ring_offsets: np.ndarray,
    geom_offsets: np.ndarray,
) -> np.ndarray:
    """Polygons (ragged, local coordinates of each object's ``district``) mapped to RD New.

    Knot vertices are inserted first (see the module docstring), so the curving shear maps
    every edge exactly.
    """
    ring_geom = np.repeat(np.arange(len(geom_offsets) - 1), np.diff(geom_offsets))
    ring_d = district[ring_geom]
    coords, ring_offsets = insert_knots(coords, ring_offsets, frames.amp[ring_d] > 0)
    d = np.repeat(ring_d, np.diff(ring_offsets))
    x, y = frames.to_world(coords[:, 0], coords[:, 1], d)
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON,
        np.column_stack([x, y]),
        (ring_offsets, geom_offsets),
    )


def polygons_in_world(
    frames: Frames,
    district: np.ndarray,
    q: np.ndarray,
    code: np.ndarray | None = None,
    params: np.ndarray | None = None,
) -> np.ndarray:
    """Shapes ``code`` in frames ``q`` (local coordinates of ``district``) as RD polygons."""
    if len(q) == 0:
        return np.zeros(0, dtype=object)
    coords, ro, go = frame_polygons(q, code, params)
    return local_to_world(frames, np.asarray(district), coords, ro, go)


#: Parts narrower than this on average (2 × area / perimeter, m) are overlay debris, not
#: slivers a surveyor would draw: :func:`polygonal` drops them.
MIN_WIDTH_M = 1e-3


def polygonal(geoms: np.ndarray, *, min_area: float = 0.0) -> np.ndarray:
    """The polygonal part of each geometry (Polygon or MultiPolygon; None when nothing is
    left), dropping parts smaller than ``min_area`` m² or narrower than
    :data:`MIN_WIDTH_M`."""
    out = np.full(len(geoms), None, dtype=object)
    if len(geoms) == 0:
        return out
    parts, idx = shapely.get_parts(geoms, return_index=True)
    # one level deeper for collections inside collections
    keep = np.isin(shapely.get_type_id(parts), (3,)) & (shapely.area(parts) >= max(min_area, 1e-12))
    multi = shapely.get_type_id(parts) == 6
    if multi.any():
        sub, sidx = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[keep], sub])
        idx = np.concatenate([idx[keep], idx[multi][sidx]])
        ok = shapely.area(parts) >= max(min_area, 1e-12)
        parts, idx = parts[ok], idx[ok]
    else:
        parts, idx = parts[keep], idx[keep]
    wide = 2.0 * shapely.area(parts) >= MIN_WIDTH_M * shapely.length(parts)
    parts, idx = parts[wide], idx[wide]
    if len(parts) == 0:
        return out
    counts = np.bincount(idx, minlength=len(geoms))
    single = counts == 1
    order = np.argsort(idx, kind="stable")
    parts, idx = parts[order], idx[order]
    first = np.r_[True, idx[1:] != idx[:-1]]
    one = single[idx] & first
    out[idx[one]] = parts[one]
    many = ~single[idx]
    if many.any():
        owners, inv = np.unique(idx[many], return_inverse=True)
        out[owners] = shapely.multipolygons(parts[many], indices=inv)
    return out


def clip(
    geoms: np.ndarray, areas: np.ndarray, *, min_area: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Clip each geometry to its area polygon (``areas[i]``, prepared here).

    Returns the clipped geometries (None where nothing of at least ``min_area`` m² is left)
    and a mask of the ones that were cut at all.
    """
    out = geoms.copy()
    if len(geoms) == 0:
        return out, np.zeros(0, dtype=bool)
    shapely.prepare(areas)
    inside = shapely.contains_properly(areas, geoms)
    cut = np.flatnonzero(~inside)
    if len(cut):
        touched = shapely.intersects(areas[cut], geoms[cut])
        pieces = np.full(len(cut), None, dtype=object)
        hit = np.flatnonzero(touched)
        if len(hit):
            pieces[hit] = polygonal(
                shapely.intersection(geoms[cut[hit]], areas[cut[hit]]), min_area=min_area
            )
        out[cut] = pieces
    was_cut = ~inside
    return out, was_cut


def add_vertices(geoms: np.ndarray, extra: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add ``extra[i]`` vertices on the edges of polygon ``i`` (the shape stays the same).

    Real cadastral and building outlines carry vertices on straight edges (survey points,
    where a neighbour's boundary meets them): the points go on randomly chosen edges of the
    exterior ring, at random positions, in order along each edge.
    """
    extra = np.asarray(extra, dtype=np.int64)
    todo = np.flatnonzero((extra > 0) & (shapely.get_type_id(geoms) == 3))
    if len(todo) == 0:
        return geoms
    sub = geoms[todo]
    kind, coords, (ring_offsets, geom_offsets) = shapely.to_ragged_array(sub)
    nring = len(ring_offsets) - 1
    first_ring = geom_offsets[:-1]  # the exterior ring of each polygon
    n_seg = np.diff(ring_offsets)[first_ring] - 1
    k = extra[todo]
    owner = np.repeat(np.arange(len(todo)), k)
    seg = ring_offsets[first_ring][owner] + (rng.random(len(owner)) * n_seg[owner]).astype(np.int64)
    f = rng.uniform(0.05, 0.95, len(owner))
    pts = coords[seg] + f[:, None] * (coords[seg + 1] - coords[seg])
    key_a = np.concatenate([np.arange(len(coords)), seg])
    key_t = np.concatenate([np.zeros(len(coords)), f])
    order = np.lexsort((key_t, key_a))
    xy = np.concatenate([coords, pts])[order]
    ring_of = np.repeat(np.arange(nring), np.diff(ring_offsets))
    new_counts = np.bincount(ring_of[key_a[order]], minlength=nring)
    new_offsets = np.zeros(nring + 1, dtype=np.int64)
    np.cumsum(new_counts, out=new_offsets[1:])
    out = geoms.copy()
    new = shapely.from_ragged_array(kind, xy, (new_offsets, geom_offsets))
    ok = shapely.is_valid(new) | ~shapely.is_valid(sub)  # never make a valid outline invalid
    out[todo[ok]] = new[ok]
    return out


def valid(geoms: np.ndarray) -> np.ndarray:
    """Invalid polygons (spikes left by an overlay) repaired: their polygonal part."""
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    if len(bad) == 0:
        return geoms
    out = geoms.copy()
    out[bad] = polygonal(shapely.make_valid(geoms[bad]), min_area=1e-6)
    return out
