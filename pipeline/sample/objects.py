"""Parcels, buildings and units of the synthetic province, generated per land-use class.

Every 100 m cell with streets (towns) has two road parcels along its south and west edge and
a 90 x 90 m block, split per class: two rows of row-house parcels, four apartment plots,
office or industrial plots, one park, school or sports plot. Farmland, nature and water are
merged into 400 x 200 m parcels where the class allows; railways, main roads and rivers are
strips along the rows. Buildings (BAG panden) sit inside their parcel; units
(verblijfsobjecten) are points inside their pand. All vectorised over cells and objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.sample import world as w
from pipeline.sample.world import CELL, World

ROAD_W = 10.0
INNER = CELL - ROAD_W

#: Bit per BAG gebruiksdoel (schemas.GEBRUIKSDOELEN order).
WOON, BIJEEN, CEL, GEZOND, INDUS, KANTOOR, LOGIES, ONDERW, SPORTF, WINKEL, OVERIG = (
    1 << k for k in range(11)
)

# Owner classes of parcels (0 = private, not in the ownership layer).
OWN_NONE, OWN_PROV, OWN_GEM, OWN_RIJK, OWN_CORP = range(5)


class _Acc:
    """Collects column arrays in chunks; ``frame()`` concatenates them (missing columns of a
    chunk are filled with zeros)."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []
        self.n = 0

    def add(self, **cols: np.ndarray | float | int) -> np.ndarray:
        length = max(np.size(v) for v in cols.values() if np.ndim(v) > 0)
        chunk = {}
        for k, v in cols.items():
            arr = np.asarray(v)
            chunk[k] = np.broadcast_to(arr, (length,)) if arr.ndim == 0 else arr
        self.chunks.append(chunk)
        idx = np.arange(self.n, self.n + length)
        self.n += length
        return idx

    def set_last(self, col: str, values: np.ndarray) -> None:
        """Replace column ``col`` of the chunk added last."""
        self.chunks[-1][col] = np.asarray(values)

    def frame(self) -> pd.DataFrame:
        names = list(dict.fromkeys(k for ch in self.chunks for k in ch))
        out = {}
        for k in names:
            parts = []
            for ch in self.chunks:
                length = len(next(iter(ch.values())))
                parts.append(ch[k] if k in ch else np.zeros(length, dtype=np.int64))
            out[k] = np.concatenate(parts)
        return pd.DataFrame(out)


@dataclass
class Objects:
    """Parcels, buildings and units as plain tables (boxes as x0, y0, x1, y1)."""

    parcels: pd.DataFrame
    buildings: pd.DataFrame
    units: pd.DataFrame


def _strips(lo: np.ndarray, hi: np.ndarray, n: np.ndarray, rng: np.random.Generator, jitter: float):
    """Split each interval ``[lo, hi]`` into ``n`` pieces with jittered inner cuts.

    Returns the owner index of each piece, its left and right edge, its position and count.
    """
    n = np.asarray(n, dtype=np.int64)
    owner = np.repeat(np.arange(len(n)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    width = (hi - lo) / n
    left = lo[owner] + k * width[owner]
    jit = rng.uniform(-jitter, jitter, len(owner)) * width[owner]
    jit[k == 0] = 0.0
    left = left + jit
    right = np.empty_like(left)
    right[:-1] = left[1:]
    last = k == n[owner] - 1
    right[last] = hi[owner][last]
    return owner, left, right, k, n[owner]


def build_objects(world: World) -> Objects:
    """Generate all parcels, buildings and units of ``world``."""
    rng = np.random.default_rng([world.seed, 2])
    P, B, U = _Acc(), _Acc(), _Acc()
    cls = world.cls
    cells = np.arange(world.ncell)
    ms = world.main_street
    assert ms is not None
    mu = world.munis
    block = np.isin(cls, w.BLOCK_CLASSES)
    bc = cells[block]
    bx, by = world.cell_xy(bc)
    bj = bc // world.nx

    # --- road parcels of every block cell: south strip and west strip -------------------------
    P.add(x0=bx, y0=by, x1=bx + CELL, y1=by + ROAD_W, cell=bc, kind=0, owner=OWN_GEM, g=bj, side=0)
    P.add(
        x0=bx,
        y0=by + ROAD_W,
        x1=bx + ROAD_W,
        y1=by + CELL,
        cell=bc,
        kind=0,
        owner=OWN_GEM,
        g=bj,
        side=0,
    )

    m_cell = np.maximum(world.label, 0)
    tx, ty, radius = (mu[c].to_numpy()[m_cell] for c in ("tx", "ty", "R"))
    d_town = np.hypot(
        world.x0 + (cells % world.nx + 0.5) * CELL - tx,
        world.y0 + (cells // world.nx + 0.5) * CELL - ty,
    )
    rel = np.clip(d_town / radius, 0, 1.5)
    cell_year = np.clip(
        np.round(1890 + 115 * rel + rng.normal(0, 10, world.ncell)), 1850, 2023
    ).astype(int)

    # --- row houses (and the planted shop street) and the centre --------------------------------
    for klass in (w.RES_ROW, w.PL_PLANT, w.CENTRE):
        c = cells[cls == klass]
        if not len(c):
            continue
        x, y = world.cell_xy(c)
        j = c // world.nx
        i = c % world.nx
        m = world.label[c]
        centre = klass == w.CENTRE
        mid = y + ROAD_W + INNER / 2 + rng.uniform(-4, 4, len(c))
        n_lo, n_hi = (10, 15) if centre else (9, 15)
        for side in (0, 1):  # 0: south row (faces gridline j), 1: north row (faces gridline j+1)
            n = rng.integers(n_lo, n_hi, len(c))
            own, left, right, k, nk = _strips(x + ROAD_W, x + CELL, n, rng, 0.18)
            ya = np.where(side == 0, y[own] + ROAD_W, mid[own])
            yb = np.where(side == 0, mid[own], y[own] + CELL)
            g = j[own] + side
            pidx = P.add(
                x0=left,
                y0=ya,
                x1=right,
                y1=yb,
                cell=c[own],
                kind=klass,
                owner=OWN_NONE,
                g=g,
                side=side,
            )
            if centre:
                depth = rng.uniform(14, 18, len(c))[own]
                setback = np.zeros(len(own))
                floors = rng.integers(3, 5, len(own))
                year = np.clip(cell_year[c][own] - rng.integers(30, 200, len(own)), 1650, 1990)
            else:
                depth = rng.uniform(9, 10.5, len(c))[own]
                setback = rng.uniform(4, 6, len(c))[own]
                floors = np.where(rng.random(len(c)) < 0.7, 2, 3)[own]
                year = cell_year[c][own] + rng.integers(-2, 3, len(own))
            # the front of the house is at the street side of the parcel
            ha = np.where(side == 0, ya + setback, yb - setback - depth)
            hb = ha + depth
            bidx = B.add(
                x0=left, y0=ha, x1=right, y1=hb, parcel=pidx, year=year, floors=floors, cell=c[own]
            )
            if centre:
                on_main = (
                    (g == ms.j.to_numpy()[m[own]])
                    & (i[own] >= ms.i0.to_numpy()[m[own]])
                    & (i[own] <= ms.i1.to_numpy()[m[own]])
                )
                r = rng.random(len(own))
                p_shop = np.where(on_main, 0.85, 0.3)
                ground = np.where(
                    r < p_shop,
                    WINKEL,
                    np.where(
                        r < p_shop + 0.08,
                        BIJEEN,
                        np.where(
                            r < p_shop + 0.11, GEZOND, np.where(r < p_shop + 0.16, KANTOOR, WOON)
                        ),
                    ),
                )
                fp = (right - left) * depth
                g_area = np.clip(np.round(fp * 0.9), 25, None)
                _units_in(
                    U,
                    rng,
                    bidx,
                    left,
                    ha,
                    right,
                    hb,
                    np.ones(len(own), int),
                    ground,
                    g_area,
                    front=side,
                )
                upper = floors - 1
                _units_in(
                    U,
                    rng,
                    bidx,
                    left,
                    ha,
                    right,
                    hb,
                    upper,
                    WOON,
                    np.round(fp * 0.8),
                    front=1 - side,
                )
            else:
                fp = (right - left) * depth
                area = np.round(fp * floors * 0.82)
                purpose = np.full(len(own), WOON)
                n_units = np.ones(len(own), int)
                if klass == w.PL_PLANT:
                    # the middle parcel of the south row: a shop with two homes above; two parcels
                    # further an occupied shop (same street)
                    special = (side == 0) & (k == nk // 2)
                    other = (side == 0) & (k == nk // 2 + 2)
                    purpose = np.where(special | other, WINKEL, purpose)
                    area = np.where(special, 80.0, np.where(other, 70.0, area))
                    floors = np.where(special | other, 3, floors)
                    B.set_last("floors", floors)
                    B.set_last("role", np.where(special, 3, np.where(other, 4, 0)))
                    _units_in(
                        U,
                        rng,
                        bidx[special | other],
                        left[special | other],
                        ha[special | other],
                        right[special | other],
                        hb[special | other],
                        np.full((special | other).sum(), 2),
                        WOON,
                        np.full((special | other).sum(), 70.0),
                        front=1,
                    )
                    # make the planted shop's pand deep enough for 80 m2 on the ground floor
                    hb2 = np.where(special, ha + 12.0, hb)
                    B.set_last("y1", hb2)
                    hb = hb2
                _units_in(U, rng, bidx, left, ha, right, hb, n_units, purpose, area, front=side)
                # sheds at the back of some gardens (BAG panden without units)
                shed = rng.random(len(own)) < 0.12
                if shed.any():
                    sy0 = np.where(side == 0, yb - 4.0, ya + 1.0)[shed]
                    B.add(
                        x0=left[shed] + 1.0,
                        y0=sy0,
                        x1=np.minimum(left[shed] + 4.0, right[shed] - 0.5),
                        y1=sy0 + 3.0,
                        parcel=pidx[shed],
                        year=year[shed] + 5,
                        floors=1,
                        cell=c[own][shed],
                    )

    # --- apartments: four plots with a slab each -------------------------------------------
    c = cells[cls == w.RES_APT]
    if len(c):
        x, y = world.cell_xy(c)
        qx, qy, qw, qh, own, side = _quadrants(x, y, rng, 4)
        corp = rng.random(len(own)) < 0.55
        g = c[own] // world.nx + side
        pidx = P.add(
            x0=qx,
            y0=qy,
            x1=qx + qw,
            y1=qy + qh,
            cell=c[own],
            kind=w.RES_APT,
            owner=np.where(corp, OWN_CORP, OWN_NONE),
            g=g,
            side=side,
        )
        bw = qw * rng.uniform(0.6, 0.8, len(own))
        bd = rng.uniform(11, 14, len(own))
        floors = rng.integers(3, 8, len(own))
        bx0 = qx + (qw - bw) / 2
        by0 = qy + (qh - bd) / 2
        year = np.clip(cell_year[c][own] + 10 + rng.integers(-5, 6, len(own)), 1950, 2023)
        bidx = B.add(
            x0=bx0,
            y0=by0,
            x1=bx0 + bw,
            y1=by0 + bd,
            parcel=pidx,
            year=year,
            floors=floors,
            cell=c[own],
        )
        per_floor = np.maximum(np.round(bw * bd * 0.8 / 85), 2).astype(int)
        shop = rng.random(len(own)) < 0.1
        n_res = per_floor * floors - shop.astype(int)
        _units_in(
            U,
            rng,
            bidx,
            bx0,
            by0,
            bx0 + bw,
            by0 + bd,
            n_res,
            WOON,
            rng.uniform(50, 95, n_res.sum()).round(),
            per_unit=True,
        )
        if shop.any():
            _units_in(
                U,
                rng,
                bidx[shop],
                bx0[shop],
                by0[shop],
                (bx0 + bw)[shop],
                (by0 + bd)[shop],
                np.ones(shop.sum(), int),
                WINKEL,
                rng.uniform(60, 250, shop.sum()).round(),
                front=side[shop],
            )

    # --- offices near the station -------------------------------------------------------------
    c = cells[cls == w.OFFICE]
    if len(c):
        x, y = world.cell_xy(c)
        qx, qy, qw, qh, own, side = _quadrants(x, y, rng, None)
        pidx = P.add(
            x0=qx,
            y0=qy,
            x1=qx + qw,
            y1=qy + qh,
            cell=c[own],
            kind=w.OFFICE,
            owner=OWN_NONE,
            g=c[own] // world.nx + side,
            side=side,
        )
        bw = qw * rng.uniform(0.55, 0.75, len(own))
        bd = qh * rng.uniform(0.45, 0.65, len(own))
        floors = rng.integers(3, 10, len(own))
        bx0 = qx + (qw - bw) / 2
        by0 = qy + (qh - bd) / 2
        year = rng.integers(1962, 2016, len(own))
        bidx = B.add(
            x0=bx0,
            y0=by0,
            x1=bx0 + bw,
            y1=by0 + bd,
            parcel=pidx,
            year=year,
            floors=floors,
            cell=c[own],
        )
        gross = bw * bd * floors
        n_off = rng.integers(1, 7, len(own))
        mixed = rng.random(len(own)) < 0.12
        n_res = np.where(mixed, rng.integers(2, 8, len(own)), 0)
        off_share = np.where(mixed, 0.6, 1.0)
        area = np.repeat(np.round(gross * 0.85 * off_share / n_off), n_off)
        _units_in(U, rng, bidx, bx0, by0, bx0 + bw, by0 + bd, n_off, KANTOOR, area, per_unit=True)
        if mixed.any():
            _units_in(
                U,
                rng,
                bidx[mixed],
                bx0[mixed],
                by0[mixed],
                (bx0 + bw)[mixed],
                (by0 + bd)[mixed],
                n_res[mixed],
                WOON,
                rng.uniform(50, 110, n_res[mixed].sum()).round(),
                per_unit=True,
            )

    # --- industrial estates ---------------------------------------------------------------------
    c = cells[cls == w.INDUSTRY]
    if len(c):
        x, y = world.cell_xy(c)
        qx, qy, qw, qh, own, side = _quadrants(x, y, rng, None)
        empty = rng.random(len(own)) < 0.1
        owner = np.where(empty & (rng.random(len(own)) < 0.5), OWN_GEM, OWN_NONE)
        pidx = P.add(
            x0=qx,
            y0=qy,
            x1=qx + qw,
            y1=qy + qh,
            cell=c[own],
            kind=w.INDUSTRY,
            owner=owner,
            g=c[own] // world.nx + side,
            side=side,
        )
        b = ~empty
        bw = (qw * rng.uniform(0.6, 0.8, len(own)))[b]
        bd = (qh * rng.uniform(0.5, 0.7, len(own)))[b]
        bx0 = qx[b] + 4
        by0 = qy[b] + (qh[b] - bd) / 2
        floors = rng.integers(1, 3, b.sum())
        bidx = B.add(
            x0=bx0,
            y0=by0,
            x1=bx0 + bw,
            y1=by0 + bd,
            parcel=pidx[b],
            year=rng.integers(1958, 2022, b.sum()),
            floors=floors,
            cell=c[own][b],
        )
        n_u = rng.integers(1, 4, b.sum())
        r = rng.random(n_u.sum())
        purpose = np.where(
            r < 0.55,
            INDUS,
            np.where(r < 0.85, INDUS | KANTOOR, np.where(r < 0.95, KANTOOR, WINKEL)),
        )
        area = np.repeat(np.round(bw * bd * floors * 0.9 / n_u), n_u)
        _units_in(U, rng, bidx, bx0, by0, bx0 + bw, by0 + bd, n_u, purpose, area, per_unit=True)

    # --- single-plot blocks: parks, schools / health centres, sports, planted sites ---------------
    for klass, owner_code in (
        (w.GREEN, OWN_GEM),
        (w.SOCIAL, OWN_GEM),
        (w.SPORT, OWN_GEM),
        (w.PLOT, OWN_PROV),
        (w.KT_PLANT, OWN_NONE),
        (w.EV_PLANT, OWN_NONE),
    ):
        c = cells[cls == klass]
        if not len(c):
            continue
        x, y = world.cell_xy(c)
        pidx = P.add(
            x0=x + ROAD_W,
            y0=y + ROAD_W,
            x1=x + CELL,
            y1=y + CELL,
            cell=c,
            kind=klass,
            owner=owner_code,
            g=c // world.nx,
            side=0,
        )
        if klass == w.GREEN:
            pav = rng.random(len(c)) < 0.1
            if pav.any():
                px0, py0 = x[pav] + 40, y[pav] + 45
                bidx = B.add(
                    x0=px0,
                    y0=py0,
                    x1=px0 + 12,
                    y1=py0 + 8,
                    parcel=pidx[pav],
                    year=rng.integers(1960, 2020, pav.sum()),
                    floors=1,
                    cell=c[pav],
                )
                _units_in(
                    U,
                    rng,
                    bidx,
                    px0,
                    py0,
                    px0 + 12,
                    py0 + 8,
                    np.ones(pav.sum(), int),
                    BIJEEN,
                    np.full(pav.sum(), 80.0),
                )
        elif klass == w.SOCIAL:
            school = rng.random(len(c)) < 0.55
            bw = np.where(school, 50.0, 32.0)
            bd = np.where(school, 24.0, 18.0)
            px0, py0 = x + ROAD_W + 15, y + ROAD_W + 12
            bidx = B.add(
                x0=px0,
                y0=py0,
                x1=px0 + bw,
                y1=py0 + bd,
                parcel=pidx,
                year=rng.integers(1955, 2022, len(c)),
                floors=2,
                cell=c,
            )
            n_u = np.where(school, 1, rng.integers(2, 6, len(c)))
            area = np.repeat(np.where(school, bw * bd * 1.7, bw * bd * 1.6 / n_u).round(), n_u)
            purpose = np.repeat(np.where(school, ONDERW, GEZOND), n_u)
            _units_in(U, rng, bidx, px0, py0, px0 + bw, py0 + bd, n_u, purpose, area, per_unit=True)
        elif klass == w.SPORT:
            px0, py0 = x + ROAD_W + 20, y + ROAD_W + 20
            bidx = B.add(
                x0=px0,
                y0=py0,
                x1=px0 + 40,
                y1=py0 + 25,
                parcel=pidx,
                year=rng.integers(1965, 2022, len(c)),
                floors=1,
                cell=c,
            )
            _units_in(
                U,
                rng,
                bidx,
                px0,
                py0,
                px0 + 40,
                py0 + 25,
                np.ones(len(c), int),
                SPORTF,
                np.full(len(c), 950.0),
            )
        elif klass == w.PLOT:
            # a shed demolished years ago: BAG still lists it as 'Pand gesloopt'
            px0, py0 = x + 30, y + 30
            B.add(
                x0=px0,
                y0=py0,
                x1=px0 + 15,
                y1=py0 + 10,
                parcel=pidx,
                year=1962,
                floors=1,
                cell=c,
                role=5,
            )
        elif klass == w.KT_PLANT:
            # 1978 office slab of 5 storeys, 44 x 16 m: 3,520 m2 gross, four office units
            px0, py0 = x + ROAD_W + 23, y + ROAD_W + 37
            bidx = B.add(
                x0=px0,
                y0=py0,
                x1=px0 + 44,
                y1=py0 + 16,
                parcel=pidx,
                year=1978,
                floors=5,
                cell=c,
                role=1,
            )
            _units_in(
                U,
                rng,
                bidx,
                px0,
                py0,
                px0 + 44,
                py0 + 16,
                np.full(len(c), 4),
                KANTOOR,
                np.full(4 * len(c), 750.0),
                per_unit=True,
            )
        elif klass == w.EV_PLANT:
            px0, py0 = x + ROAD_W + 30, y + ROAD_W + 35
            bidx = B.add(
                x0=px0,
                y0=py0,
                x1=px0 + 30,
                y1=py0 + 20,
                parcel=pidx,
                year=1988,
                floors=3,
                cell=c,
                role=2,
            )
            _units_in(
                U,
                rng,
                bidx,
                px0,
                py0,
                px0 + 30,
                py0 + 20,
                np.full(len(c), 3),
                KANTOOR,
                np.full(3 * len(c), 500.0),
                per_unit=True,
            )

    # --- rail and main roads: strips along the rows (at most 1 km); the planted nature plot ------
    for klass in (w.RAIL, w.ROAD, w.N2K_PLANT):
        if klass == w.N2K_PLANT:
            c = cells[cls == klass]
            length = np.ones(len(c), dtype=np.int64)
        else:
            c, length = _row_runs(world, cls == klass)
        x, y = world.cell_xy(c)
        P.add(
            x0=x,
            y0=y,
            x1=x + length * CELL,
            y1=y + CELL,
            cell=c,
            kind=klass,
            owner=OWN_RIJK,
            g=c // world.nx,
            side=0,
        )

    # --- farmland, nature and water: 400 x 200 m parcels where a whole group has one class ---
    _rural(world, P, B, U, rng)

    parcels = P.frame()
    buildings = B.frame()
    units = U.frame()
    return Objects(parcels, buildings, units)


def _row_runs(world: World, mask: np.ndarray, max_len: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive ``mask`` cells in a row with one municipality and class, cut at
    every ``max_len`` cells. Returns the first cell of each run and its length in cells."""
    key = np.where(mask, world.label.astype(np.int64) * 32 + world.cls, -1).reshape(
        world.ny, world.nx
    )
    cut = np.zeros_like(key, dtype=bool)
    cut[:, 0] = True
    cut[:, 1:] = (key[:, 1:] != key[:, :-1]) | (np.arange(1, world.nx) % max_len == 0)[None, :]
    start = cut & (key >= 0)
    end = np.zeros_like(cut)
    end[:, :-1] = cut[:, 1:]
    end[:, -1] = True
    end &= key >= 0
    js, is_ = np.nonzero(start)
    _, ie = np.nonzero(end)
    return js * world.nx + is_, (ie - is_ + 1).astype(np.int64)


def _quadrants(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_fixed: int | None):
    """Split the 90 x 90 m block of each cell into 2 or 4 plots (jittered cut lines).

    Returns plot corner, size, owning cell index and street side (0 south, 1 north).
    """
    n = np.full(len(x), 4) if n_fixed else np.where(rng.random(len(x)) < 0.4, 2, 4)
    own = np.repeat(np.arange(len(x)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    cx = ROAD_W + INNER / 2 + rng.uniform(-8, 8, len(x))
    cy = ROAD_W + INNER / 2 + rng.uniform(-8, 8, len(x))
    two = n[own] == 2
    west = np.where(two, k == 0, (k % 2) == 0)
    south = np.where(two, True, k < 2)
    x0 = x[own] + np.where(west, ROAD_W, cx[own])
    x1 = x[own] + np.where(west, cx[own], CELL)
    y0 = y[own] + np.where(south, ROAD_W, cy[own])
    y1 = np.where(two, y[own] + CELL, y[own] + np.where(south, cy[own], CELL))
    side = np.where(south, 0, 1)
    return x0, y0, x1 - x0, y1 - y0, own, side


def _units_in(
    U: _Acc,
    rng: np.random.Generator,
    bidx: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    n: np.ndarray | int,
    purpose: np.ndarray | int,
    area: np.ndarray,
    *,
    front: np.ndarray | int | None = None,
    per_unit: bool = False,
) -> None:
    """Add ``n[k]`` unit points inside box ``k`` (building ``bidx[k]``).

    ``purpose`` and ``area`` are per box (or per unit with ``per_unit=True``). ``front``
    puts the points in the southern (0) or northern (1) third of the box (the street side).
    """
    n = np.broadcast_to(np.asarray(n), (len(bidx),)).astype(np.int64)
    if n.sum() == 0:
        return
    own = np.repeat(np.arange(len(bidx)), n)
    fx = rng.uniform(0.15, 0.85, len(own))
    fy = rng.uniform(0.15, 0.85, len(own))
    if front is not None:
        fr = np.broadcast_to(np.asarray(front), (len(bidx),))[own]
        fy = np.where(fr == 0, rng.uniform(0.1, 0.3, len(own)), rng.uniform(0.7, 0.9, len(own)))
    ux = x0[own] + fx * (x1 - x0)[own]
    uy = y0[own] + fy * (y1 - y0)[own]
    purpose = np.asarray(purpose)
    if purpose.ndim and not per_unit:
        purpose = purpose[own]
    area = np.asarray(area, dtype=float)
    if area.ndim and not per_unit:
        area = area[own]
    U.add(
        pand=bidx[own],
        x=ux,
        y=uy,
        purpose=np.broadcast_to(purpose, (len(own),)).astype(np.int64),
        area=np.broadcast_to(area, (len(own),)),
    )


def _rural(world: World, P: _Acc, B: _Acc, U: _Acc, rng: np.random.Generator) -> None:
    cls = world.cls
    nx, ny = world.nx, world.ny
    cells = np.arange(world.ncell)
    i, j = cells % nx, cells // nx
    rural = np.isin(cls, (w.FARM, w.NATURE, w.WATER))
    gnx = nx // 4 + 1
    grp = (j // 2) * gnx + i // 4
    code = world.label.astype(np.int64) * 32 + cls
    ngrp = gnx * (ny // 2 + 1)
    cnt = np.bincount(grp[rural], minlength=ngrp)
    lo = np.full(ngrp, np.iinfo(np.int64).max)
    hi = np.full(ngrp, -1)
    np.minimum.at(lo, grp[rural], code[rural])
    np.maximum.at(hi, grp[rural], code[rural])
    full = (cnt == 8) & (lo == hi)
    whole = rural & full[grp]
    # one parcel per full group, represented by its lower-left cell
    lead = whole & (i % 4 == 0) & (j % 2 == 0)
    single = rural & ~whole & (cls != w.WATER)
    parts = []
    for mask, wdt, hgt in ((lead, 4 * CELL, 2 * CELL), (single, CELL, CELL)):
        c = cells[mask]
        x, y = world.cell_xy(c)
        parts.append((c, x, y, np.full(len(c), wdt), np.full(len(c), hgt)))
    # rivers and lake shores: strips along the rows
    c, length = _row_runs(world, rural & ~whole & (cls == w.WATER))
    x, y = world.cell_xy(c)
    parts.append((c, x, y, length * CELL, np.full(len(c), CELL)))
    c = np.concatenate([p[0] for p in parts])
    x = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    pw = np.concatenate([p[3] for p in parts])
    ph = np.concatenate([p[4] for p in parts])
    order = np.argsort(c, kind="stable")
    c, x, y, pw, ph = c[order], x[order], y[order], pw[order], ph[order]
    klass = cls[c]
    r = rng.random(len(c))
    owner = np.select(
        [
            klass == w.WATER,
            (klass == w.NATURE) & (r < 0.4),
            (klass == w.NATURE) & (r < 0.6),
            (klass == w.FARM) & (r < 0.03),
        ],
        [OWN_RIJK, OWN_RIJK, OWN_PROV, OWN_PROV],
        OWN_NONE,
    )
    pidx = P.add(
        x0=x, y0=y, x1=x + pw, y1=y + ph, cell=c, kind=klass, owner=owner, g=c // nx, side=0
    )
    # farmsteads: a farmhouse and a barn on some farm parcels
    farm = (klass == w.FARM) & (rng.random(len(c)) < np.where(pw > CELL, 0.22, 0.05))
    if farm.any():
        fx, fy = x[farm] + 12, y[farm] + 8
        year = rng.integers(1850, 1995, farm.sum())
        hidx = B.add(
            x0=fx,
            y0=fy,
            x1=fx + 14,
            y1=fy + 10,
            parcel=pidx[farm],
            year=year,
            floors=2,
            cell=c[farm],
        )
        _units_in(
            U,
            rng,
            hidx,
            fx,
            fy,
            fx + 14,
            fy + 10,
            np.ones(farm.sum(), int),
            WOON,
            rng.uniform(120, 220, farm.sum()).round(),
        )
        B.add(
            x0=fx + 20,
            y0=fy,
            x1=fx + 50,
            y1=fy + 18,
            parcel=pidx[farm],
            year=year + 20,
            floors=1,
            cell=c[farm],
        )
