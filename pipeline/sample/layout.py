"""Districts, corridors and the block lattice of the synthetic province.

The world (:mod:`pipeline.sample.world`) says what lies where on a 100 m grid. Real places are
not drawn on one grid: every neighbourhood, industrial estate and polder has its own street or
ditch pattern at its own angle, and they meet along curved roads. This module lays that out:

* **municipalities**: the union of their grid cells (as CBS publishes them: one polygon each);
* **districts**: the Voronoi cells of seeds (each town centre, its industrial estate, seeds
  about 1 km apart in the towns and 2.5 km apart in the countryside), their edges bent by a
  smooth displacement, cut by the municipal boundaries. Each district has its own frame
  (:class:`pipeline.sample.shapes.Frames`): an angle, an origin (its seed) and a curving
  shear, so its street grid runs at its own angle and bends gently;
* **roads between districts**: a 14 m band along every district edge (two parcels wide, one
  per side), cut into pieces of at most about 400 m; **corridors**: railways, main roads
  (curved) and rivers as buffers of their lines, cut into pieces of at most about 1 km. The
  buildable *interior* of a district is what is left;
* **the block lattice**: each district's 100 m blocks (in its local frame) that reach its
  interior, with the land-use class of the world cell under the block's centre. Objects
  are generated per block in local coordinates (:mod:`pipeline.sample.objects`) and
  clipped to the interior, so blocks at the edge of a district become irregular;
* **main streets and planted sites**, chosen on the lattice (see :func:`_plant`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from pipeline.sample import world as w
from pipeline.sample.shapes import Frames, box_frames, polygons_in_world
from pipeline.sample.world import CELL, World, lden

#: Half-width (m) of the road band on each side of a district edge.
ROAD_HALF_M = 7.0
#: Half-width (m) of railway, main-road and river corridors (the world's own class widths).
RAIL_HALF_M = 45.0
MAIN_ROAD_HALF_M = 45.0
RIVER_HALF_M = 90.0
#: Seed spacing (m) in towns and in the countryside.
TOWN_SPACING_M = 1_000.0
RURAL_SPACING_M = 2_500.0
#: Maximum length (m) of a road band piece and of a corridor piece.
BAND_PIECE_M = 400.0
CORRIDOR_PIECE_M = 1_000.0
#: Smallest district part kept (m²).
MIN_DISTRICT_M2 = 100.0
#: Precision grid (m) of the layout's overlays: snap-rounded overlays are robust and leave no
#: slivers of rounding noise between districts, roads and corridors.
GRID_M = 1e-9
#: Lattice indices are packed into int64 keys with this offset and width.
_OFF = 1 << 15


@dataclass
class Layout:
    """Districts, strips (corridors and roads) and lattice blocks of a world."""

    world: World
    frames: Frames
    municipalities: np.ndarray  # (n_muni,) polygons in RD New
    d_muni: np.ndarray  # (nd,) municipality of each district
    d_seed: np.ndarray  # (nd,) seed of each district
    interior: np.ndarray  # (nd,) buildable polygon of each district
    strips: pd.DataFrame  # kind (class), owner code, muni, geometry (object)
    # lattice blocks
    district: np.ndarray
    li: np.ndarray
    lj: np.ndarray
    cls: np.ndarray
    muni: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    inside: np.ndarray
    centre_district: np.ndarray  # (n_muni,) district of each town centre
    main_street: pd.DataFrame | None = None  # per muni: district, j, i0, i1
    planted: dict[str, np.ndarray] = field(default_factory=dict)  # role -> block per muni
    noise: np.ndarray | None = None  # dB Lden at each block centre

    @property
    def ncell(self) -> int:
        return len(self.district)

    @property
    def seed(self) -> int:
        return self.world.seed

    @property
    def munis(self) -> pd.DataFrame:
        return self.world.munis

    def cell_xy(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local lower-left corner of blocks ``c`` (in their district's frame)."""
        return self.li[c] * CELL, self.lj[c] * CELL

    def key(self, d: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Packed (district, i, j) keys, sorted the same way as the lattice."""
        return (
            (np.asarray(d, dtype=np.int64) << 32)
            | ((np.asarray(i) + _OFF) << 16)
            | (np.asarray(j) + _OFF)
        )

    def find(self, d: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Index of block (district, i, j), or -1."""
        keys = self.key(self.district, self.li, self.lj)
        q = self.key(d, i, j)
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        return np.where(keys[pos] == q, pos, -1)


def build_layout(world: World) -> Layout:
    """Lay out districts, corridors, blocks, main streets and planted sites of a world."""
    rng = np.random.default_rng([world.seed, 4])
    munis = _municipality_polygons(world)
    seeds = _seeds(world, rng)
    ns = len(seeds)
    frames = Frames(
        ox=seeds.x.to_numpy(),
        oy=seeds.y.to_numpy(),
        theta=rng.uniform(0, np.pi, ns),
        amp=np.where(
            rng.random(ns) < np.where(seeds.urban, 0.65, 0.35),
            np.where(seeds.urban, rng.uniform(8, 30, ns), rng.uniform(5, 20, ns)),
            0.0,
        ),
        wavelength=rng.uniform(900, 2_400, ns),
        phase=rng.uniform(0, 2 * np.pi, ns),
    )
    cells = _voronoi(world, seeds, rng)
    strips_c, corridor = _corridors(world, munis)
    d_seed, d_muni, interior, bands = _districts(cells, munis, corridor)
    strips = pd.concat([strips_c, bands], ignore_index=True)
    lat = _lattice(world, frames, d_seed, interior)
    layout = Layout(
        world=world,
        frames=_district_frames(frames, d_seed),
        municipalities=munis,
        d_muni=d_muni,
        d_seed=d_seed,
        interior=interior,
        strips=strips,
        district=lat["district"],
        li=lat["li"],
        lj=lat["lj"],
        cls=lat["cls"],
        muni=d_muni[lat["district"]],
        cx=lat["cx"],
        cy=lat["cy"],
        inside=lat["inside"],
        centre_district=_centre_districts(d_seed, d_muni, len(world.munis)),
    )
    _main_streets(layout)
    _plant(layout)
    return layout


# --------------------------------------------------------------------------- municipalities


def _municipality_polygons(world: World) -> np.ndarray:
    """Each municipality as the union of its cells (a cell-edge staircase), RD New."""
    from rasterio import features
    from rasterio.transform import from_origin

    grid = world.label.reshape(world.ny, world.nx)[::-1].astype(np.int32)
    transform = from_origin(world.x0, world.y0 + world.ny * CELL, CELL, CELL)
    geoms: dict[int, list] = {}
    for geom, value in features.shapes(grid, mask=grid >= 0, transform=transform, connectivity=4):
        geoms.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    return np.array([shapely.union_all(geoms[k]) for k in range(len(world.munis))], dtype=object)


# --------------------------------------------------------------------------- districts


def _seeds(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """District seeds: town centres, industrial estates, town and countryside grids."""
    mu = world.munis
    n = len(mu)
    parts = [
        pd.DataFrame({"x": mu.tx, "y": mu.ty, "urban": True, "centre": np.arange(n)}),
        pd.DataFrame({"x": mu.ix, "y": mu.iy, "urban": True, "centre": -1}),
    ]
    for k in range(n):
        r = float(mu.R[k]) * 1.1
        step = TOWN_SPACING_M
        m = int(r // step) + 1
        a, b = np.meshgrid(np.arange(-m, m + 1), np.arange(-m, m + 1))
        hx = (a + 0.5 * (b % 2)).ravel() * step + rng.uniform(-0.15, 0.15, a.size) * step
        hy = b.ravel() * step * np.sqrt(3) / 2 + rng.uniform(-0.15, 0.15, a.size) * step
        x, y = mu.tx[k] + hx, mu.ty[k] + hy
        d = np.hypot(hx, hy)
        keep = (d < r) & (d > max(1_300.0, 2.3 * float(mu.rc[k]) + 250.0))
        keep &= np.hypot(x - mu.ix[k], y - mu.iy[k]) > 700.0
        keep &= _label_at(world, x, y) == k
        parts.append(pd.DataFrame({"x": x[keep], "y": y[keep], "urban": True, "centre": -1}))
    bx0, by0, bx1, by1 = world.preset.bounds
    gx = np.arange(bx0 + RURAL_SPACING_M / 2, bx1, RURAL_SPACING_M)
    gy = np.arange(by0 + RURAL_SPACING_M / 2, by1, RURAL_SPACING_M)
    x, y = (v.ravel() for v in np.meshgrid(gx, gy))
    x = x + rng.uniform(-0.3, 0.3, x.size) * RURAL_SPACING_M
    y = y + rng.uniform(-0.3, 0.3, y.size) * RURAL_SPACING_M
    far = np.ones(len(x), dtype=bool)
    for k in range(n):
        far &= np.hypot(x - mu.tx[k], y - mu.ty[k]) > 1.15 * float(mu.R[k]) + 600.0
        far &= np.hypot(x - mu.ix[k], y - mu.iy[k]) > float(mu.ri[k]) + 900.0
    far &= _label_at(world, x, y) >= 0
    parts.append(pd.DataFrame({"x": x[far], "y": y[far], "urban": False, "centre": -1}))
    return pd.concat(parts, ignore_index=True)


def _label_at(world: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Municipality of the world cell under each point (-1 outside the region or in the sea)."""
    i = np.floor((np.asarray(x) - world.x0) / CELL).astype(np.int64)
    j = np.floor((np.asarray(y) - world.y0) / CELL).astype(np.int64)
    ok = (i >= 0) & (i < world.nx) & (j >= 0) & (j < world.ny)
    out = np.full(len(i), -1, dtype=np.int64)
    out[ok] = world.label[j[ok] * world.nx + i[ok]]
    return out


def _cls_at(world: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Land-use class (before corridors) of the world cell under each point; the sea and
    outside the region count as farmland (such blocks only reach land at their edge)."""
    i = np.clip(np.floor((x - world.x0) / CELL).astype(np.int64), 0, world.nx - 1)
    j = np.clip(np.floor((y - world.y0) / CELL).astype(np.int64), 0, world.ny - 1)
    c = world.cls_base[j * world.nx + i]
    return np.where(c == w.SEA, w.FARM, c).astype(np.uint8)


def _voronoi(world: World, seeds: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Voronoi cells of the seeds (in seed order), edges bent by a smooth displacement."""
    bx0, by0, bx1, by1 = world.preset.bounds
    pts = shapely.multipoints(np.column_stack([seeds.x, seeds.y]))
    extent = shapely.box(bx0 - 5_000, by0 - 5_000, bx1 + 5_000, by1 + 5_000)
    cells = np.asarray(
        shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=extent, ordered=True)),
        dtype=object,
    )
    cells = shapely.segmentize(cells, 40.0)
    amp = rng.uniform(40, 80, 4)
    lam = rng.uniform(1_200, 2_400, 4)
    ph = rng.uniform(0, 2 * np.pi, 4)

    def bend(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        dx = amp[0] * np.sin(y / lam[0] + ph[0]) + amp[1] * np.sin((x + y) / lam[1] + ph[1])
        dy = amp[2] * np.sin(x / lam[2] + ph[2]) + amp[3] * np.sin((x - y) / lam[3] + ph[3])
        return np.column_stack([x + dx, y + dy])

    cells = shapely.transform(cells, bend)
    bad = ~shapely.is_valid(cells)
    if bad.any():
        cells[bad] = shapely.make_valid(cells[bad])
    return cells


def _district_frames(frames: Frames, d_seed: np.ndarray) -> Frames:
    """Frames per district (each district takes its seed's frame)."""
    return Frames(
        ox=frames.ox[d_seed],
        oy=frames.oy[d_seed],
        theta=frames.theta[d_seed],
        amp=frames.amp[d_seed],
        wavelength=frames.wavelength[d_seed],
        phase=frames.phase[d_seed],
    )


def _pieces(polys: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons by a grid of ``size``-metre squares; returns (pieces, source index)."""
    full = np.flatnonzero(~shapely.is_empty(polys) & ~shapely.is_missing(polys))
    if len(full) == 0:
        return polys[:0], np.zeros(0, dtype=np.int64)
    pieces, src = _pieces_of(polys[full], size)
    return pieces, full[src]


def _pieces_of(polys: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    b = shapely.bounds(polys)
    c0 = np.floor(b[:, 0] / size).astype(np.int64)
    r0 = np.floor(b[:, 1] / size).astype(np.int64)
    nc = np.floor(b[:, 2] / size).astype(np.int64) - c0 + 1
    nr = np.floor(b[:, 3] / size).astype(np.int64) - r0 + 1
    k = nc * nr
    owner = np.repeat(np.arange(len(polys)), k)
    off = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    cc = c0[owner] + off % nc[owner]
    rr = r0[owner] + off // nc[owner]
    boxes = shapely.box(cc * size, rr * size, (cc + 1) * size, (rr + 1) * size)
    src = polys[owner]
    shapely.prepare(polys)
    hit = shapely.intersects(src, boxes) & ~shapely.touches(src, boxes)
    pieces = shapely.intersection(src[hit], boxes[hit], grid_size=GRID_M)
    from pipeline.sample.shapes import polygonal, valid

    pieces = polygonal(valid(pieces), min_area=1e-6)
    ok = pieces != None  # noqa: E711 - object array
    return pieces[ok], owner[hit][ok]


def _corridors(world: World, munis: np.ndarray) -> tuple[pd.DataFrame, object]:
    """Railway, main-road and river parcels (pieces per municipality) and their union."""
    kinds = []
    taken = None
    for segs, half, klass in (
        (world.rail, RAIL_HALF_M, w.RAIL),
        (world.roads, MAIN_ROAD_HALF_M, w.ROAD),
        (world.rivers, RIVER_HALF_M, w.WATER),
    ):
        if len(segs) == 0:
            continue
        lines = shapely.union_all(shapely.linestrings(segs.reshape(-1, 2, 2)))
        poly = shapely.buffer(lines, half, quad_segs=4)
        if taken is not None:
            poly = shapely.difference(poly, taken, grid_size=GRID_M)
        taken = poly if taken is None else shapely.union(taken, poly, grid_size=GRID_M)
        kinds.append((klass, poly))
    rows = []
    for klass, poly in kinds:
        parts = shapely.intersection(
            np.full(len(munis), poly, dtype=object), munis, grid_size=GRID_M
        )
        pieces, src = _pieces(np.asarray(parts, dtype=object), CORRIDOR_PIECE_M)
        rows.append(pd.DataFrame({"kind": klass, "owner": 3, "muni": src, "geometry": pieces}))
    strips = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame({"kind": [], "owner": [], "muni": [], "geometry": []})
    )
    return strips, taken


def _districts(
    cells: np.ndarray, munis: np.ndarray, corridor: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Districts = Voronoi cell ∩ municipality − corridors − the road band along the edge."""
    tree = shapely.STRtree(munis)
    s, k = tree.query(cells, predicate="intersects")
    order = np.lexsort((k, s))
    s, k = s[order], k[order]
    raw = shapely.intersection(cells[s], munis[k], grid_size=GRID_M)
    if corridor is not None:
        raw = shapely.difference(raw, corridor, grid_size=GRID_M)
    raw = _fix(raw)
    inner = shapely.buffer(cells, -ROAD_HALF_M, join_style="mitre", mitre_limit=2.0)
    interior = _fix(shapely.intersection(raw, inner[s], grid_size=GRID_M))
    band = _fix(shapely.difference(raw, interior, grid_size=GRID_M))
    area = shapely.area(interior)
    keep = area >= MIN_DISTRICT_M2
    # a district part too small to build on stays road
    band[~keep] = raw[~keep]
    bpieces, bsrc = _pieces(np.asarray(band, dtype=object), BAND_PIECE_M)
    bands = pd.DataFrame({"kind": w.ROAD, "owner": 2, "muni": k[bsrc], "geometry": bpieces})
    return s[keep], k[keep], np.asarray(interior[keep], dtype=object), bands


def _fix(geoms: np.ndarray) -> np.ndarray:
    from pipeline.sample.shapes import polygonal

    geoms = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    out = polygonal(geoms, min_area=1e-6)
    empty = out == None  # noqa: E711 - object array
    out[empty] = shapely.Polygon()
    return out


def _centre_districts(d_seed: np.ndarray, d_muni: np.ndarray, n: int) -> np.ndarray:
    """The district of each town centre (seed k is town centre k)."""
    out = np.full(n, -1, dtype=np.int64)
    hit = np.flatnonzero((d_seed < n) & (d_seed == d_muni))
    out[d_muni[hit]] = hit
    if (out < 0).any():  # pragma: no cover - a town centre always lies in its municipality
        raise RuntimeError("a town centre has no district")
    return out


# --------------------------------------------------------------------------- lattice


def _lattice(
    world: World, frames: Frames, d_seed: np.ndarray, interior: np.ndarray
) -> dict[str, np.ndarray]:
    """The 100 m blocks of each district (local frame) that reach its interior."""
    df = _district_frames(frames, d_seed)
    shapely.prepare(interior)
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("district", "li", "lj", "inside", "cx", "cy")
    }
    for d in range(len(interior)):
        poly = interior[d]
        if shapely.is_empty(poly):
            continue
        xy = shapely.get_coordinates(poly)
        dd = np.full(len(xy), d)
        u, v = df.to_local(xy[:, 0], xy[:, 1], dd)
        i0, i1 = int(np.floor(u.min() / CELL)) - 1, int(np.floor(u.max() / CELL)) + 1
        j0, j1 = int(np.floor(v.min() / CELL)) - 1, int(np.floor(v.max() / CELL)) + 1
        ii, jj = (a.ravel() for a in np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1)))
        dist = np.full(len(ii), d)
        boxes = polygons_in_world(
            df, dist, box_frames(ii * CELL, jj * CELL, (ii + 1) * CELL, (jj + 1) * CELL)
        )
        hit = shapely.intersects(poly, boxes)
        hit &= ~shapely.touches(poly, boxes)
        if not hit.any():
            continue
        ii, jj = ii[hit], jj[hit]
        cx, cy = df.to_world((ii + 0.5) * CELL, (jj + 0.5) * CELL, np.full(len(ii), d))
        out["district"].append(np.full(len(ii), d, dtype=np.int64))
        out["li"].append(ii.astype(np.int64))
        out["lj"].append(jj.astype(np.int64))
        out["inside"].append(shapely.contains_properly(poly, boxes[hit]))
        out["cx"].append(cx)
        out["cy"].append(cy)
    lat = {k: np.concatenate(v) for k, v in out.items()}
    # sorted by (district, i, j): the order Layout.find relies on
    order = np.lexsort((lat["lj"], lat["li"], lat["district"]))
    lat = {k: v[order] for k, v in lat.items()}
    lat["cls"] = _cls_at(world, lat["cx"], lat["cy"])
    return lat


# --------------------------------------------------------------------------- streets, planting


def _main_streets(layout: Layout) -> None:
    """The core shopping street of each town: gridline ``j = 0`` of the centre district's
    lattice (through the town centre), blocks ``i0 .. i1``, lined by centre blocks."""
    mu = layout.munis
    half = np.maximum(np.round(0.7 * mu.rc.to_numpy() / CELL), 1).astype(int)
    d = layout.centre_district
    layout.main_street = pd.DataFrame(
        {"district": d, "j": 0, "i0": -half, "i1": half - 1, "xa": -half * CELL, "xb": half * CELL}
    )
    # the blocks along the main street are centre blocks
    for k in range(len(mu)):
        i = np.arange(-half[k], half[k])
        for j in (-1, 0):
            c = layout.find(np.full(len(i), d[k]), i, np.full(len(i), j))
            c = c[c >= 0]
            layout.cls[c] = w.CENTRE


def _segment_distance(segments: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact distance from each point to the nearest segment (inf without segments)."""
    if len(segments) == 0:
        return np.full(len(x), np.inf)
    lines = shapely.linestrings(np.asarray(segments, dtype=float).reshape(-1, 2, 2))
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
    return np.asarray(dist)


def _core_inside(layout: Layout, c: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whether the middle of each block ``c[mask]`` (30–80 m by 35–75 m of the block, where a
    planted office stands) lies inside its district; False elsewhere."""
    out = np.zeros(len(c), dtype=bool)
    sel = c[mask]
    if len(sel):
        x, y = layout.cell_xy(sel)
        boxes = polygons_in_world(
            layout.frames, layout.district[sel], box_frames(x + 30, y + 35, x + 80, y + 75)
        )
        out[mask] = shapely.contains_properly(layout.interior[layout.district[sel]], boxes)
    return out


def _pick(
    c: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    used: list[int],
    mask: np.ndarray,
    score: np.ndarray,
) -> int:
    """The best-scoring block of ``c[mask]`` at least 300 m from the ``used`` ones."""
    far = np.ones(len(c), dtype=bool)
    for u in used:
        far &= np.hypot(x[c] - x[u], y[c] - y[u]) >= 300.0
    cand = np.flatnonzero(mask & far)
    if not len(cand):
        return -1
    best = int(c[cand[np.argmin(score[cand])]])
    used.append(best)
    return best


def _plant(layout: Layout) -> None:
    """Choose, per municipality, the blocks of the five planted sites.

    A vacant provincial plot near the station (``tl``), a long-vacant office (``kt``), a
    residential street with a vacant ground-floor shop (``pl``), an unbuilt plot in Natura
    2000 (``n2k``) and an office in an external-safety zone (``ev``). Planted blocks lie
    wholly inside their district (nothing of them is clipped), at least 300 m apart.
    """
    world = layout.world
    mu = world.munis
    ms = layout.main_street
    assert ms is not None
    n = len(mu)
    x, y = layout.cx, layout.cy
    d_rail = _segment_distance(world.rail, x, y)
    d_road = _segment_distance(world.roads, x, y)
    d_hv = _segment_distance(world.hv, x, y)
    d_river = _segment_distance(world.rivers, x, y)
    noise = lden(d_rail, d_road)
    layout.noise = noise
    near_zone = np.zeros(layout.ncell, dtype=bool)
    for cx, cy, r in (("ix", "iy", "rev"), ("nx_", "ny_", "rn"), ("nnx", "nny", "rnn")):
        ok = np.isfinite(mu[cx].to_numpy())
        for zx, zy, rr in zip(mu[cx][ok], mu[cy][ok], mu[r][ok], strict=True):
            near_zone |= np.hypot(x - zx, y - zy) <= rr + 200
    inside = layout.inside
    env_ok = (d_hv > 200) & (d_river > 200) & ~near_zone & inside
    # may touch the dike zone along a river (not an exclusion), never the river itself
    env_near_river = (d_hv > 200) & (d_river > 110) & ~near_zone & inside
    cls = layout.cls
    # blocks near a centre block in their row or the row below (for the residential street)
    near_centre = np.zeros(layout.ncell, dtype=bool)
    for di in range(-4, 5):
        for dj in (-1, 0):
            nb = layout.find(layout.district, layout.li + di, layout.lj + dj)
            near_centre |= (nb >= 0) & (cls[np.maximum(nb, 0)] == w.CENTRE)
    order = np.argsort(layout.muni, kind="stable")
    bounds = np.searchsorted(layout.muni[order], np.arange(n + 1))
    roles = {r: np.full(n, -1, dtype=np.int64) for r in ("tl", "kt", "pl", "n2k", "ev")}
    ok_cls = np.isin(cls, (w.RES_ROW, w.RES_APT, w.OFFICE, w.GREEN, w.SOCIAL, w.SPORT, w.FARM,
                           w.CENTRE))  # fmt: skip
    for k in range(n):
        c = order[bounds[k] : bounds[k + 1]]
        xc, yc = x[c], y[c]
        d_t = np.hypot(xc - mu.tx[k], yc - mu.ty[k])
        d_s = np.hypot(xc - mu.sx[k], yc - mu.sy[k])
        on_main = (
            (layout.district[c] == ms.district[k])
            & np.isin(layout.lj[c], (-1, 0))
            & (layout.li[c] >= ms.i0[k] - 1)
            & (layout.li[c] <= ms.i1[k] + 1)
        )
        shop_gap = d_t - mu.rc[k]
        base = ok_cls[c] & env_ok[c] & ~on_main
        base_river = ok_cls[c] & env_near_river[c] & ~on_main
        penalty = np.where(cls[c] == w.CENTRE, 5_000.0, 0.0)
        used: list[int] = []

        def pick(mask: np.ndarray, score: np.ndarray, _c: np.ndarray = c) -> int:
            return _pick(_c, x, y, used, mask, score)  # noqa: B023 - used in this iteration

        # quiet first; then a slightly wider ring around the station; then louder
        steps = ((48.6, 460, 280, base), (48.6, 490, 380, base), (50.0, 490, 380, base),
                 (48.6, 500, 450, base), (50.0, 500, 450, base_river), (52.0, 500, 450, base),
                 (55.0, 500, 450, base_river))  # fmt: skip
        for thr, d_max, gap, allowed in steps:
            quiet = noise[c] <= thr
            got = pick(
                allowed & quiet & (d_s >= 200) & (d_s <= d_max) & (shop_gap <= gap), d_t + penalty
            )
            if got >= 0:
                roles["tl"][k] = got
                break
        for thr in (48.6, 50.0, 52.0, 55.0):
            quiet = noise[c] <= thr
            got = pick(
                base & quiet & (d_s >= 150) & (d_s <= 900) & (shop_gap <= 350), d_s + penalty
            )
            if got >= 0:
                roles["kt"][k] = got
                break
        # a residential street whose 400 m segment does not touch the centre
        for thr in (50.0, 52.0, 55.0, 60.0):
            quiet = noise[c] <= thr
            got = pick(
                (cls[c] == w.RES_ROW)
                & env_ok[c]
                & quiet
                & ~near_centre[c]
                & (shop_gap >= 80)
                & (shop_gap <= 600),
                d_t,
            )
            if got >= 0:
                roles["pl"][k] = got
                break
        if np.isfinite(mu.nx_[k]):
            dn = np.hypot(xc - mu.nx_[k], yc - mu.ny_[k])
            roles["n2k"][k] = pick(
                (cls[c] == w.NATURE) & (dn < mu.rn[k] - 90) & (d_hv[c] > 200) & inside[c], dn
            )
        de = np.hypot(xc - mu.ix[k], yc - mu.iy[k])
        # the office (at most 30 m from the block's centre) lies well inside the zone
        in_ev = de < mu.rev[k] - 50
        buildable = np.isin(cls[c], (w.INDUSTRY, w.FARM, w.RES_ROW, w.RES_APT, w.GREEN))
        # on the estate away from power lines; else closer to them (outside their 40 m
        # corridor); else any buildable block in the safety zone; a whole block first, else
        # a block of which the office's corner of the plot is whole; under a power line
        # only as the last resort
        got = -1
        for whole in (inside[c], _core_inside(layout, c, in_ev)):
            for mask in (
                (cls[c] == w.INDUSTRY) & in_ev & whole & (d_hv[c] > 150),
                (cls[c] == w.INDUSTRY) & in_ev & whole & (d_hv[c] > 90),
                buildable & in_ev & whole & (d_hv[c] > 90),
                buildable & in_ev & whole,
            ):
                got = pick(mask, de)
                if got >= 0:
                    break
            if got >= 0:
                break
        roles["ev"][k] = got
    for role, klass in (
        ("tl", w.PLOT),
        ("kt", w.KT_PLANT),
        ("pl", w.PL_PLANT),
        ("n2k", w.N2K_PLANT),
        ("ev", w.EV_PLANT),
    ):
        sel = roles[role][roles[role] >= 0]
        layout.cls[sel] = klass
    layout.planted = roles
