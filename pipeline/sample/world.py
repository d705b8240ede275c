"""The layout of a synthetic province on a 100 m block grid.

Every 100 m cell of the region gets a municipality (an additively weighted Voronoi diagram
of jittered seeds) and a land-use class (farmland, nature, water, row houses, apartments,
centre, offices, industry, parks, schools, sport, rail, main road, or a planted site).
Towns are rings around their centre; each has a railway station at the edge of its centre
with offices around it, an industrial estate outside the town, a Natura 2000 area, an NNN
area and a lake in its farmland. Railways connect the stations and main roads connect the
industrial estates (minimum spanning trees). Everything is vectorised over cells except
small loops over municipalities and network edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.sample.names import MUNICIPALITY_CODES, MUNICIPALITY_NAMES
from pipeline.sample.presets import Preset

CELL = 100.0

# Land-use classes of a cell.
SEA, FARM, NATURE, WATER, RES_ROW, RES_APT, CENTRE, OFFICE, INDUSTRY = range(9)
GREEN, SOCIAL, SPORT, RAIL, ROAD = range(9, 14)
# Planted sites (see planted.json): a vacant provincial plot, a long-vacant office, a street
# with a vacant ground-floor shop, an unbuilt plot in Natura 2000, an office in a safety zone.
PLOT, KT_PLANT, PL_PLANT, N2K_PLANT, EV_PLANT = range(14, 19)
N_CLASSES = 19
URBAN_CLASSES = (RES_ROW, RES_APT, CENTRE, OFFICE, INDUSTRY, GREEN, SOCIAL, SPORT)
BLOCK_CLASSES = (*URBAN_CLASSES, PLOT, KT_PLANT, PL_PLANT, EV_PLANT)  # cells with streets

#: IMRO hoofdgroep and plan-object name of each class.
ZONING = {
    FARM: ("agrarisch", "Agrarisch"),
    NATURE: ("natuur", "Natuur"),
    WATER: ("water", "Water"),
    RES_ROW: ("wonen", "Wonen"),
    RES_APT: ("wonen", "Wonen - Gestapeld"),
    CENTRE: ("centrum", "Centrum"),
    OFFICE: ("kantoor", "Kantoor"),
    INDUSTRY: ("bedrijventerrein", "Bedrijventerrein"),
    GREEN: ("groen", "Groen"),
    SOCIAL: ("maatschappelijk", "Maatschappelijk"),
    SPORT: ("sport", "Sport"),
    RAIL: ("verkeer", "Verkeer - Railverkeer"),
    ROAD: ("verkeer", "Verkeer"),
    PLOT: ("bedrijventerrein", "Bedrijventerrein"),
    KT_PLANT: ("kantoor", "Kantoor"),
    PL_PLANT: ("wonen", "Wonen"),
    N2K_PLANT: ("natuur", "Natuur"),
    EV_PLANT: ("bedrijventerrein", "Bedrijventerrein"),
}

# Noise model (dB Lden) used for the raster and for placing the quiet planted sites.
NOISE_BACKGROUND = 45.0
NOISE_RAIL_10M = 75.0
NOISE_ROAD_10M = 72.0


def lden(d_rail: np.ndarray, d_road: np.ndarray) -> np.ndarray:
    """Noise in dB Lden from the distance to the nearest railway and main road.

    ``L = 10 log10(10^(45/10) + 10^(L_rail/10) + 10^(L_road/10))`` with
    ``L_rail = 75 - 20 log10(max(d_rail, 10) / 10)`` and
    ``L_road = 72 - 20 log10(max(d_road, 10) / 10)`` (line sources, free field).
    """
    lr = NOISE_RAIL_10M - 20.0 * np.log10(np.maximum(d_rail, 10.0) / 10.0)
    lw = NOISE_ROAD_10M - 20.0 * np.log10(np.maximum(d_road, 10.0) / 10.0)
    return 10.0 * np.log10(10 ** (NOISE_BACKGROUND / 10) + 10 ** (lr / 10) + 10 ** (lw / 10))


def grid_distance(
    segments: np.ndarray,
    *,
    x0: float,
    y0: float,
    cell: float,
    nx: int,
    ny: int,
    max_dist: float,
) -> np.ndarray:
    """Distance from each cell centre of a regular grid to the nearest segment.

    Parameters
    ----------
    segments
        ``(n, 4)`` array of segments ``ax, ay, bx, by``.
    x0, y0, cell, nx, ny
        The grid: lower-left corner, cell size and shape; row 0 is the southern row.
    max_dist
        Distances are capped at this value (only windows around each segment are computed).

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` float32 distances in metres.
    """
    out = np.full((ny, nx), max_dist, dtype=np.float32)
    for ax, ay, bx, by in _split_segments(segments, 4 * cell + 500.0):
        i0 = max(int((min(ax, bx) - max_dist - x0) / cell), 0)
        i1 = min(int((max(ax, bx) + max_dist - x0) / cell) + 1, nx)
        j0 = max(int((min(ay, by) - max_dist - y0) / cell), 0)
        j1 = min(int((max(ay, by) + max_dist - y0) / cell) + 1, ny)
        if i0 >= i1 or j0 >= j1:
            continue
        px = x0 + (np.arange(i0, i1) + 0.5) * cell
        py = y0 + (np.arange(j0, j1) + 0.5) * cell
        vx, vy = bx - ax, by - ay
        ll = vx * vx + vy * vy
        wx = px[None, :] - ax
        wy = py[:, None] - ay
        t = np.clip((wx * vx + wy * vy) / ll, 0.0, 1.0) if ll > 0 else np.zeros_like(wx * wy)
        d = np.hypot(wx - t * vx, wy - t * vy).astype(np.float32)
        np.minimum(out[j0:j1, i0:i1], d, out=out[j0:j1, i0:i1])
    return out


def _split_segments(segments: np.ndarray, piece: float) -> np.ndarray:
    """Split long segments into pieces of at most ``piece`` metres (keeps windows small)."""
    if len(segments) == 0:
        return np.zeros((0, 4))
    seg = np.asarray(segments, dtype=float)
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    n = np.maximum(np.ceil(length / piece).astype(int), 1)
    idx = np.repeat(np.arange(len(seg)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    t0 = k / n[idx]
    t1 = (k + 1) / n[idx]
    s = seg[idx]
    dx = s[:, 2] - s[:, 0]
    dy = s[:, 3] - s[:, 1]
    return np.column_stack(
        [s[:, 0] + t0 * dx, s[:, 1] + t0 * dy, s[:, 0] + t1 * dx, s[:, 1] + t1 * dy]
    )


def _mst_edges(x: np.ndarray, y: np.ndarray) -> list[tuple[int, int]]:
    """Edges of the Euclidean minimum spanning tree (Prim; fine for a few hundred points)."""
    n = len(x)
    if n < 2:
        return []
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    in_tree = np.zeros(n, bool)
    in_tree[0] = True
    best = d[0].copy()
    parent = np.zeros(n, int)
    edges = []
    for _ in range(n - 1):
        cand = np.where(in_tree, np.inf, best)
        k = int(np.argmin(cand))
        edges.append((int(parent[k]), k))
        in_tree[k] = True
        closer = d[k] < best
        best = np.where(closer, d[k], best)
        parent = np.where(closer, k, parent)
    return edges


@dataclass
class World:
    """The layout: municipalities, cells with classes, networks, zones and planted sites."""

    preset: Preset
    seed: int
    nx: int
    ny: int
    x0: float
    y0: float
    label: np.ndarray  # (ncell,) municipality index or -1 (sea)
    cls: np.ndarray  # (ncell,) land-use class
    munis: pd.DataFrame  # one row per municipality
    stations: pd.DataFrame  # x, y, muni, naam
    rail: np.ndarray  # (n, 4) segments
    roads: np.ndarray  # (n, 4) segments
    hv: np.ndarray  # (n, 4) segments
    rivers: np.ndarray  # (n, 4) segments
    d_rail: np.ndarray  # (ncell,) distance of cell centres to the railways
    d_road: np.ndarray
    rand: np.ndarray  # (ncell,) uniform per-cell random numbers for later stages
    cls_base: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    """(ncell,) the land-use class before railways, main roads and rivers were drawn over it
    (the blocks of :mod:`pipeline.sample.layout` take it; corridors are polygons of their own)."""

    @property
    def ncell(self) -> int:
        return self.nx * self.ny

    def cell_xy(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower-left corner of cells ``c``."""
        return self.x0 + (c % self.nx) * CELL, self.y0 + (c // self.nx) * CELL


def build_world(preset: Preset, seed: int) -> World:
    """Lay out the municipalities, land use, networks and planted sites of a preset."""
    rng = np.random.default_rng([seed, 1])
    bx0, by0, bx1, by1 = preset.bounds
    nx = round((bx1 - bx0) / CELL)
    ny = round((by1 - by0) / CELL)
    ii2, jj2 = np.meshgrid(np.arange(nx), np.arange(ny))
    ii = ii2.ravel()
    jj = jj2.ravel()
    xc = bx0 + (ii + 0.5) * CELL
    yc = by0 + (jj + 0.5) * CELL
    land = ~_sea(xc, yc) if preset.coast else np.ones(len(xc), bool)

    # --- municipality seeds and town sizes -------------------------------------------------
    gx, gy = preset.seeds
    sx = (
        bx0 + (np.arange(gx)[None, :] + 0.5 + rng.uniform(-0.25, 0.25, (gy, gx))) * (bx1 - bx0) / gx
    )
    sy = (
        by0 + (np.arange(gy)[:, None] + 0.5 + rng.uniform(-0.25, 0.25, (gy, gx))) * (by1 - by0) / gy
    )
    sx, sy = sx.ravel(), sy.ravel()
    keep = ~_sea(sx, sy) if preset.coast else np.ones(len(sx), bool)
    if preset.coast:  # keep seeds a few km inland
        keep &= ~_sea(sx - 3_000, sy)
    sx, sy = sx[keep], sy[keep]
    n = len(sx)
    tx = bx0 + (np.floor((sx - bx0) / CELL) + 0.5) * CELL
    ty = by0 + (np.floor((sy - by0) / CELL) + 0.5) * CELL
    med, sigma = preset.urban_radius
    radius = np.clip(med * np.exp(rng.normal(0, sigma, n)), 0.55 * med, 2.2 * med)
    if preset.big_towns:
        big = np.argsort(-radius, kind="stable")[: preset.big_towns]
        radius[big] *= 1.8
    radius = np.round(radius, -1)
    order = rng.permutation(len(MUNICIPALITY_CODES))[:n]
    codes = np.array(sorted(MUNICIPALITY_CODES[k] for k in order))
    names = np.array(MUNICIPALITY_NAMES)[rng.permutation(len(MUNICIPALITY_NAMES))[:n]]

    # --- municipalities: additively weighted Voronoi, weights shrunk until every town
    # centre lies in its own municipality
    weight = 0.8 * radius
    for _ in range(10):
        label = _nearest(xc, yc, tx, ty, weight)
        label[~land] = -1
        own = label[_cell_index(tx, ty, bx0, by0, nx)] == np.arange(n)
        if own.all():
            break
        weight = np.where(own, weight, weight * 0.5) * 0.9
    label = label.astype(np.int32)

    # --- per-town features ------------------------------------------------------------------
    rc = np.clip(np.round(0.16 * radius, -1), 150, 650)
    theta = rng.uniform(0, 2 * np.pi, n)
    st_x = tx + (rc + 60) * np.cos(theta)
    st_y = ty + (rc + 60) * np.sin(theta)
    ro = np.clip(0.09 * radius, 120, 450)
    ri = np.clip(np.round(0.3 * radius, -1), 300, 1_200)
    phi = theta + np.pi + rng.uniform(-0.8, 0.8, n)
    ix, iy = _place_inside(label, tx, ty, phi, radius + 0.6 * ri, bx0, by0, nx, ny)
    rev = np.round(rng.uniform(260, 340, n), -1)

    munis = pd.DataFrame(
        {
            "code": codes,
            "name": names,
            "tx": tx,
            "ty": ty,
            "R": radius,
            "rc": rc,
            "theta": theta,
            "sx": st_x,
            "sy": st_y,
            "ro": ro,
            "ix": ix,
            "iy": iy,
            "ri": ri,
            "rev": rev,
            "wob1": rng.uniform(0, 2 * np.pi, n),
            "wob2": rng.uniform(0, 2 * np.pi, n),
        }
    )

    # stations: one per town at the centre's edge, a second in the big towns
    stations = [
        pd.DataFrame(
            {"x": st_x, "y": st_y, "muni": np.arange(n), "naam": [f"{nm}" for nm in names]}
        )
    ]
    big = np.flatnonzero(radius > 3_000)
    if len(big):
        a2 = theta[big] + np.pi * 0.75
        stations.append(
            pd.DataFrame(
                {
                    "x": tx[big] + 0.65 * radius[big] * np.cos(a2),
                    "y": ty[big] + 0.65 * radius[big] * np.sin(a2),
                    "muni": big,
                    "naam": [f"{names[k]} Zuid" for k in big],
                }
            )
        )
    stations_df = pd.concat(stations, ignore_index=True)
    rail = _curved(
        _network(stations_df.x.to_numpy(), stations_df.y.to_numpy(), preset, rng, extend=True),
        rng,
        bend=0.03,
    )
    roads = _curved(_network(ix, iy, preset, rng, extend=True), rng, bend=0.08)
    hv = _hv_lines(preset, rng)
    rivers = _rivers(preset, rng)

    grid: dict[str, Any] = {"x0": bx0, "y0": by0, "cell": CELL, "nx": nx, "ny": ny}
    d_rail = grid_distance(rail, max_dist=5_000, **grid).ravel()
    d_road = grid_distance(roads, max_dist=5_000, **grid).ravel()
    d_hv = grid_distance(hv, max_dist=5_000, **grid).ravel()
    d_river = grid_distance(rivers, max_dist=5_000, **grid).ravel()

    # --- land use ----------------------------------------------------------------------------
    m = np.maximum(label, 0)
    dx = xc - tx[m]
    dy = yc - ty[m]
    d = np.hypot(dx, dy)
    ang = np.arctan2(dy, dx)
    wob = (
        1
        + 0.12 * np.sin(3 * ang + munis.wob1.to_numpy()[m])
        + 0.07 * np.sin(5 * ang + munis.wob2.to_numpy()[m])
    )
    rand = rng.random(len(xc))
    coarse = _coarse_random(rng, ii, jj, nx, ny, 3)
    coarse2 = _coarse_random(rng, ii, jj, nx, ny, 2)
    urban = land & (d < radius[m] * wob)
    d_ind = np.hypot(xc - ix[m], yc - iy[m])
    industry = land & (d_ind < ri[m] * (1 + 0.15 * np.sin(2 * ang + 1.0)))
    d_st = np.hypot(xc - st_x[m], yc - st_y[m])

    cls = np.full(len(xc), FARM, dtype=np.uint8)
    cls[~land] = SEA
    # nature, NNN and lakes in the farmland, away from towns and networks
    far = land & ~urban & ~industry
    n2k = np.zeros((n, 3))
    nnn = np.zeros((n, 3))
    lake = np.zeros((n, 3))
    by_muni = np.argsort(label, kind="stable")
    edges = np.searchsorted(label[by_muni], np.arange(n + 1))
    d_edge = d - radius[m] * wob
    for k in range(n):
        c = by_muni[edges[k] : edges[k + 1]]  # the cells of municipality k
        x, y = xc[c], yc[c]
        base = far[c]
        args = (d_edge[c], d_ind[c] - ri[k], d_rail[c], d_road[c])
        rn = float(np.clip(0.45 * radius[k], 450, 1_200))
        ok = base & (d_hv[c] > rn + 250) & (d_river[c] > rn + 250)
        n2k[k] = _pick_far(rng, x, y, ok, *args, rn)
        base &= np.hypot(x - n2k[k, 0], y - n2k[k, 1]) > n2k[k, 2] + 600
        rnn = float(np.clip(0.3 * radius[k], 300, 800))
        nnn[k] = _pick_far(rng, x, y, base & (d_hv[c] > rnn + 150), *args, rnn)
        base &= np.hypot(x - nnn[k, 0], y - nnn[k, 1]) > nnn[k, 2] + 400
        rl = float(np.clip(0.15 * radius[k], 180, 450))
        lake[k] = _pick_far(rng, x, y, base, *args, rl)
    munis["nx_"], munis["ny_"], munis["rn"] = n2k.T
    munis["nnx"], munis["nny"], munis["rnn"] = nnn.T
    munis["lx"], munis["ly"], munis["rl"] = lake.T
    for arr, klass in ((n2k, NATURE), (nnn, NATURE), (lake, WATER)):
        ok = np.isfinite(arr[m, 0])
        inside = ok & (np.hypot(xc - arr[m, 0], yc - arr[m, 1]) < arr[m, 2]) & far
        cls[inside] = klass
    bos = far & (cls == FARM) & (coarse < 0.025)
    cls[bos] = NATURE

    res = urban & ~industry
    cls[res] = RES_ROW
    p_apt = 0.08 + 0.4 * np.clip(1 - d / radius[m], 0, 1) ** 1.5
    cls[res & (coarse2 < p_apt)] = RES_APT
    cls[res & (coarse < 0.07) & (rand < 0.8)] = GREEN
    cls[res & (rand > 0.972)] = SOCIAL
    cls[res & (d > 0.75 * radius[m]) & (rand > 0.955) & (rand <= 0.972)] = SPORT
    cls[industry] = INDUSTRY
    cls[land & (d < rc[m])] = CENTRE
    cls[land & (d_st < ro[m]) & (cls != CENTRE) & (cls != NATURE)] = OFFICE
    cls_base = cls.copy()
    cls[land & (d_river < 90) & (cls != CENTRE)] = WATER
    cls[land & (d_road < 45)] = ROAD
    cls[land & (d_rail < 45)] = RAIL

    world = World(
        preset=preset,
        seed=seed,
        nx=nx,
        ny=ny,
        x0=bx0,
        y0=by0,
        label=label,
        cls=cls,
        munis=munis,
        stations=stations_df,
        rail=rail,
        roads=roads,
        hv=hv,
        rivers=rivers,
        d_rail=d_rail,
        d_road=d_road,
        rand=rng.random(len(xc)),
        cls_base=cls_base,
    )
    return world


def _sea(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """West of a coastline shaped like Zuid-Holland's (Goeree to Noordwijk)."""
    coast = 45_000.0 + (y - 425_000.0) * 0.92 + 1_500.0 * np.sin(y / 9_000.0)
    return x < coast


def _cell_index(x: np.ndarray, y: np.ndarray, x0: float, y0: float, nx: int) -> np.ndarray:
    return (np.floor((y - y0) / CELL).astype(int)) * nx + np.floor((x - x0) / CELL).astype(int)


def _nearest(
    xc: np.ndarray, yc: np.ndarray, tx: np.ndarray, ty: np.ndarray, w: np.ndarray
) -> np.ndarray:
    out = np.empty(len(xc), dtype=np.int64)
    step = 200_000
    for s in range(0, len(xc), step):
        d = (
            np.hypot(xc[s : s + step, None] - tx[None, :], yc[s : s + step, None] - ty[None, :])
            - w[None, :]
        )
        out[s : s + step] = np.argmin(d, axis=1)
    return out


def _place_inside(
    label: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    ang: np.ndarray,
    dist: np.ndarray,
    x0: float,
    y0: float,
    nx: int,
    ny: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Points at ``dist`` from the town in direction ``ang``, pulled in (and turned) until
    they fall inside their own municipality."""
    px = np.empty(len(tx))
    py = np.empty(len(tx))
    for k in range(len(tx)):
        best = (tx[k], ty[k])
        done = False
        for turn in (0.0, 0.6, -0.6, 1.2, -1.2, 1.8, -1.8, np.pi):
            for f in (1.0, 0.9, 0.8, 0.7):
                x = tx[k] + f * dist[k] * np.cos(ang[k] + turn)
                y = ty[k] + f * dist[k] * np.sin(ang[k] + turn)
                i, j = int((x - x0) // CELL), int((y - y0) // CELL)
                if 0 <= i < nx and 0 <= j < ny and label[j * nx + i] == k:
                    best = (x0 + (i + 0.5) * CELL, y0 + (j + 0.5) * CELL)
                    done = True
                    break
            if done:
                break
        px[k], py[k] = best
    return px, py


def _coarse_random(
    rng: np.random.Generator, ii: np.ndarray, jj: np.ndarray, nx: int, ny: int, k: int
) -> np.ndarray:
    """A uniform random number per block of ``k x k`` cells (for clumpy land use)."""
    cnx = nx // k + 1
    r = rng.random(cnx * (ny // k + 1))
    return r[(jj // k) * cnx + ii // k]


def _network(
    x: np.ndarray, y: np.ndarray, preset: Preset, rng: np.random.Generator, *, extend: bool
) -> np.ndarray:
    """Segments of a minimum spanning tree over the points, plus two lines out of the region."""
    segs = [(x[a], y[a], x[b], y[b]) for a, b in _mst_edges(x, y)]
    if extend and len(x):
        bx0, _by0, bx1, _by1 = preset.bounds
        west = int(np.argmin(x))
        east = int(np.argmax(x))
        segs.append((x[west], y[west], bx0 - 100, y[west] + rng.uniform(-2_000, 2_000)))
        segs.append((x[east], y[east], bx1 + 100, y[east] + rng.uniform(-2_000, 2_000)))
    return np.array(segs, dtype=float).reshape(-1, 4)


def _curved(segs: np.ndarray, rng: np.random.Generator, *, bend: float) -> np.ndarray:
    """Each segment as a gentle arc (a parabola with a random sagitta of up to ``bend`` times
    its length), in 16 pieces."""
    if len(segs) == 0:
        return segs
    t = np.linspace(0.0, 1.0, 17)
    out = []
    for ax, ay, bx, by in segs:
        dx, dy = bx - ax, by - ay
        length = float(np.hypot(dx, dy))
        if length == 0:
            continue
        h = bend * length * rng.uniform(-1.0, 1.0)
        off = 4.0 * h * t * (1.0 - t)
        px = ax + t * dx - off * dy / length
        py = ay + t * dy + off * dx / length
        out.append(np.column_stack([px[:-1], py[:-1], px[1:], py[1:]]))
    return np.concatenate(out) if out else np.zeros((0, 4))


def _hv_lines(preset: Preset, rng: np.random.Generator) -> np.ndarray:
    bx0, by0, bx1, by1 = preset.bounds
    h = by1 - by0
    segs = []
    for k in range(preset.hv_lines):
        f = (k + 0.5) / preset.hv_lines
        ya = by0 + h * np.clip(f + rng.uniform(-0.15, 0.15), 0.05, 0.95)
        yb = by0 + h * np.clip(f + rng.uniform(-0.15, 0.15), 0.05, 0.95)
        segs.append((bx0 - 100, ya, bx1 + 100, yb))
    return np.array(segs, dtype=float).reshape(-1, 4)


def _rivers(preset: Preset, rng: np.random.Generator) -> np.ndarray:
    bx0, by0, bx1, by1 = preset.bounds
    segs = []
    for k in range(preset.rivers):
        base = (
            by0
            + (by1 - by0) * (k + 1) / (preset.rivers + 1)
            + rng.uniform(-0.05, 0.05) * (by1 - by0)
        )
        xs = np.linspace(bx0 - 100, bx1 + 100, max(int((bx1 - bx0) / 400), 8))
        amp = 0.04 * (by1 - by0)
        ys = base + amp * np.sin(xs / 3_500 + rng.uniform(0, 6)) + 0.4 * amp * np.sin(xs / 1_300)
        segs += [(xs[q], ys[q], xs[q + 1], ys[q + 1]) for q in range(len(xs) - 1)]
    return np.array(segs, dtype=float).reshape(-1, 4)


def _pick_far(
    rng: np.random.Generator,
    xc: np.ndarray,
    yc: np.ndarray,
    base: np.ndarray,
    d_town: np.ndarray,
    d_ind: np.ndarray,
    d_rail: np.ndarray,
    d_road: np.ndarray,
    r: float,
) -> tuple[float, float, float]:
    """A random cell centre in ``base`` at least ``r`` + margin away from towns and networks;
    with fewer candidates, the one with the largest margin (radius shrunk to fit)."""
    margin = np.minimum.reduce([d_town, d_ind, d_rail - 100, d_road - 100])
    ok = base & (margin > r + 250)
    cand = np.flatnonzero(ok)
    if len(cand):
        c = int(cand[rng.integers(len(cand))])
        return float(xc[c]), float(yc[c]), r
    cand = np.flatnonzero(base)
    if not len(cand):
        return float("nan"), float("nan"), 0.0
    c = int(cand[np.argmax(margin[cand])])
    return float(xc[c]), float(yc[c]), float(np.clip(margin[c] - 150, 150, r))
