"""Parcels, buildings and units of the synthetic province, generated per land-use class.

Every 100 m block of a district's lattice (:mod:`pipeline.sample.layout`) is laid out in the
district's local frame: blocks with streets (towns) get two road parcels along their south
and west edge and a 90 x 90 m block, split per class: two rows of row-house parcels (party
walls often a little out of square), four apartment plots, office or industrial plots (cut
lines a little slanted), one park, school or sports plot. Farmland, nature and water are
merged into 400 x 200 m parcels where the class allows. Buildings (BAG panden) sit inside
their parcel, many with an extension, a bay, notches, wings or a courtyard; units
(verblijfsobjecten) are points inside their pand. A few parcels hold a small enclave (a
utility plot: the parcel has a hole).

Shapes are described as frames and unit-square templates (:mod:`pipeline.sample.shapes`),
mapped to RD New per district and clipped to the district's interior: blocks at a district's
edge become irregular (slivers and multi-part parcels included); buildings that would be cut
are left out with their units. All vectorised over blocks and objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from pipeline.sample import shapes as sh
from pipeline.sample import world as w
from pipeline.sample.layout import Layout
from pipeline.sample.world import CELL

ROAD_W = 10.0
INNER = CELL - ROAD_W

#: Bit per BAG gebruiksdoel (schemas.GEBRUIKSDOELEN order).
WOON, BIJEEN, CEL, GEZOND, INDUS, KANTOOR, LOGIES, ONDERW, SPORTF, WINKEL, OVERIG = (
    1 << k for k in range(11)
)

# Owner classes of parcels (0 = private, not in the ownership layer).
OWN_NONE, OWN_PROV, OWN_GEM, OWN_RIJK, OWN_CORP = range(5)

#: Share of the large open parcels (parks, sports fields, farmland) given an enclave.
ENCLAVE_SHARE = 0.02
Q = tuple(f"q{k}" for k in range(8))
PRM = ("p0", "p1", "p2", "p3")


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


def _q(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Frame corners as the columns q0 .. q7."""
    return {name: frames[:, k] for k, name in enumerate(Q)}


def _shape(rng: np.random.Generator, n: int, choices: dict[int, float]) -> dict[str, np.ndarray]:
    """Random shape codes (by probability) and their parameters, as columns."""
    codes = np.array(list(choices), dtype=np.int64)
    p = np.array(list(choices.values()), dtype=float)
    code = codes[
        np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right").clip(0, len(codes) - 1)
    ]
    params = rng.random((n, 4))
    return {"code": code, **{name: params[:, k] for k, name in enumerate(PRM)}}


@dataclass
class Objects:
    """Parcels, buildings and units, with their geometry in RD New.

    ``parcels``: muni, kind, owner, g (the gridline a parcel faces), side, district, li, lj.
    ``buildings``: parcel (row in ``parcels``), year, floors, role. ``units``: pand (row in
    ``buildings``), x, y (RD New), u (local coordinate along the street, for house numbers),
    purpose (bit mask), area.
    """

    parcels: pd.DataFrame
    buildings: pd.DataFrame
    units: pd.DataFrame
    parcel_geoms: np.ndarray
    building_geoms: np.ndarray


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


def build_objects(layout: Layout) -> Objects:
    """Generate all parcels, buildings and units of ``layout``."""
    rng = np.random.default_rng([layout.seed, 2])
    P, B, U = _Acc(), _Acc(), _Acc()
    cls = layout.cls
    cells = np.arange(layout.ncell)
    ms = layout.main_street
    assert ms is not None
    mu = layout.munis
    block = np.isin(cls, w.BLOCK_CLASSES)
    bc = cells[block]
    bx, by = layout.cell_xy(bc)
    bj = layout.lj[bc]

    # --- road parcels of every block: south strip and west strip -------------------------------
    road: dict[str, np.ndarray | int] = {
        "cell": bc, "kind": 0, "owner": OWN_GEM, "g": bj, "side": 0, "code": sh.PLAIN,
    }  # fmt: skip
    P.add(**_q(sh.box_frames(bx, by, bx + CELL, by + ROAD_W)), **road)
    P.add(**_q(sh.box_frames(bx, by + ROAD_W, bx + ROAD_W, by + CELL)), **road)

    m_cell = layout.muni
    tx, ty, radius = (mu[c].to_numpy()[m_cell] for c in ("tx", "ty", "R"))
    d_town = np.hypot(layout.cx - tx, layout.cy - ty)
    rel = np.clip(d_town / radius, 0, 1.5)
    cell_year = np.clip(
        np.round(1890 + 115 * rel + rng.normal(0, 10, layout.ncell)), 1850, 2023
    ).astype(int)

    # --- row houses (and the planted shop street) and the centre --------------------------------
    for klass in (w.RES_ROW, w.PL_PLANT, w.CENTRE):
        c = cells[cls == klass]
        if not len(c):
            continue
        x, y = layout.cell_xy(c)
        j = layout.lj[c]
        i = layout.li[c]
        m = m_cell[c]
        dist = layout.district[c]
        centre = klass == w.CENTRE
        mid = y + ROAD_W + INNER / 2 + rng.uniform(-4, 4, len(c))
        slanted = rng.random(len(c)) < 0.5  # party walls a little out of square
        n_lo, n_hi = (10, 15) if centre else (9, 15)
        for side in (0, 1):  # 0: south row (faces gridline j), 1: north row (faces gridline j+1)
            n = rng.integers(n_lo, n_hi, len(c))
            own, left, right, k, nk = _strips(x + ROAD_W, x + CELL, n, rng, 0.18)
            # the top of cut k is shifted by up to 2.5 m, and never by more than 30 % of
            # the narrower of its two parcels (cuts must not cross)
            width = right - left
            prev = np.r_[np.inf, width[:-1]]
            reach = np.minimum(2.5, 0.3 * np.minimum(width, prev))
            dl = np.where(slanted[own] & (k > 0), rng.uniform(-1, 1, len(own)) * reach, 0.0)
            dr = np.zeros_like(dl)
            dr[:-1] = dl[1:]
            dr[k == nk - 1] = 0.0
            ya = np.where(side == 0, y[own] + ROAD_W, mid[own])
            yb = np.where(side == 0, mid[own], y[own] + CELL)
            q = sh.box_frames(left, ya, right, yb, dl, dr)
            g = j[own] + side
            pidx = P.add(
                **_q(q), cell=c[own], kind=klass, owner=OWN_NONE, g=g, side=side, code=sh.PLAIN
            )
            if centre:
                depth = rng.uniform(14, 18, len(c))[own]
                setback = np.zeros(len(own))
                floors = rng.integers(3, 5, len(own))
                year = np.clip(cell_year[c][own] - rng.integers(30, 200, len(own)), 1650, 1990)
                shapes = {sh.PLAIN: 0.7, sh.ANNEX_BACK: 0.3}
            else:
                depth = rng.uniform(9, 10.5, len(c))[own]
                setback = rng.uniform(4, 6, len(c))[own]
                floors = np.where(rng.random(len(c)) < 0.7, 2, 3)[own]
                year = cell_year[c][own] + rng.integers(-2, 3, len(own))
                shapes = {sh.PLAIN: 0.62, sh.ANNEX_BACK: 0.28, sh.ANNEX_BAY: 0.10}
            # the front of the house is at the street side of the parcel: its frame runs from
            # the front (t0) to the back (t1), mirrored in the north row
            depth_p = yb - ya
            ta = np.where(side == 0, setback, depth_p - setback) / depth_p
            tb = np.where(side == 0, setback + depth, depth_p - setback - depth) / depth_p
            bidx = B.add(
                **_q(q), s0=0.0, s1=1.0, t0=ta, t1=tb, **_shape(rng, len(own), shapes),
                parcel=pidx, year=year, floors=floors, cell=c[own],
            )  # fmt: skip
            fp = (right - left) * depth
            if centre:
                on_main = (
                    (g == ms.j.to_numpy()[m[own]])
                    & (dist[own] == ms.district.to_numpy()[m[own]])
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
                g_area = np.clip(np.round(fp * 0.9), 25, None)
                _units_in(U, rng, bidx, B, np.ones(len(own), int), ground, g_area, front=0)
                _units_in(U, rng, bidx, B, floors - 1, WOON, np.round(fp * 0.8), front=1)
            else:
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
                    # make the planted shop's pand deep enough for 80 m2 on the ground floor
                    B.set_last("t1", np.where(special, (setback + 12.0) / depth_p, tb))
                    B.set_last("code", np.where(special | other, sh.PLAIN, B.chunks[-1]["code"]))
                    both = special | other
                    _units_in(
                        U, rng, bidx[both], B, np.full(both.sum(), 2), WOON,
                        np.full(both.sum(), 70.0), front=1,
                    )  # fmt: skip
                _units_in(U, rng, bidx, B, n_units, purpose, area, front=0)
                # sheds at the back of some gardens (BAG panden without units)
                shed = rng.random(len(own)) < 0.12
                if shed.any():
                    wd = (right - left)[shed]
                    dp = depth_p[shed]
                    t0 = np.where(side == 0, (dp - 4.0) / dp, 1.0 / dp)
                    B.add(
                        **_q(q[shed]), s0=1.0 / wd, s1=np.minimum(4.0, wd - 0.5) / wd, t0=t0,
                        t1=t0 + 3.0 / dp, code=sh.PLAIN, parcel=pidx[shed], year=year[shed] + 5,
                        floors=1, cell=c[own][shed],
                    )  # fmt: skip

    # --- apartments: four plots with a slab each -------------------------------------------
    c = cells[cls == w.RES_APT]
    if len(c):
        x, y = layout.cell_xy(c)
        q, qw, qh, own, side = _quadrants(x, y, rng, 4)
        corp = rng.random(len(own)) < 0.55
        g = layout.lj[c][own] + side
        pidx = P.add(
            **_q(q), cell=c[own], kind=w.RES_APT, owner=np.where(corp, OWN_CORP, OWN_NONE),
            g=g, side=side, code=sh.PLAIN,
        )  # fmt: skip
        bw = qw * rng.uniform(0.6, 0.8, len(own))
        bd = rng.uniform(11, 14, len(own))
        floors = rng.integers(3, 8, len(own))
        year = np.clip(cell_year[c][own] + 10 + rng.integers(-5, 6, len(own)), 1950, 2023)
        shapes = {sh.PLAIN: 0.4, sh.NOTCH1: 0.25, sh.NOTCH2: 0.15, sh.ELL: 0.1, sh.STEPS: 0.1}
        bidx = B.add(
            **_q(q), **_centred(bw / qw, bd / qh), **_shape(rng, len(own), shapes),
            parcel=pidx, year=year, floors=floors, cell=c[own],
        )  # fmt: skip
        per_floor = np.maximum(np.round(bw * bd * 0.8 / 85), 2).astype(int)
        shop = rng.random(len(own)) < 0.1
        n_res = per_floor * floors - shop.astype(int)
        _units_in(
            U, rng, bidx, B, n_res, WOON, rng.uniform(50, 95, n_res.sum()).round(), per_unit=True
        )
        if shop.any():
            _units_in(
                U, rng, bidx[shop], B, np.ones(shop.sum(), int), WINKEL,
                rng.uniform(60, 250, shop.sum()).round(), front=side[shop],
            )  # fmt: skip

    # --- offices near the station -------------------------------------------------------------
    c = cells[cls == w.OFFICE]
    if len(c):
        x, y = layout.cell_xy(c)
        q, qw, qh, own, side = _quadrants(x, y, rng, None)
        pidx = P.add(
            **_q(q), cell=c[own], kind=w.OFFICE, owner=OWN_NONE,
            g=layout.lj[c][own] + side, side=side, code=sh.PLAIN,
        )  # fmt: skip
        bw = qw * rng.uniform(0.55, 0.75, len(own))
        bd = qh * rng.uniform(0.45, 0.65, len(own))
        floors = rng.integers(3, 10, len(own))
        year = rng.integers(1962, 2016, len(own))
        shapes = {sh.PLAIN: 0.3, sh.NOTCH1: 0.2, sh.ELL: 0.15, sh.COURT: 0.15, sh.STEPS: 0.1,
                  sh.NOTCH2: 0.1}  # fmt: skip
        bidx = B.add(
            **_q(q), **_centred(bw / qw, bd / qh), **_shape(rng, len(own), shapes),
            parcel=pidx, year=year, floors=floors, cell=c[own],
        )  # fmt: skip
        gross = bw * bd * floors
        n_off = rng.integers(1, 7, len(own))
        mixed = rng.random(len(own)) < 0.12
        n_res = np.where(mixed, rng.integers(2, 8, len(own)), 0)
        off_share = np.where(mixed, 0.6, 1.0)
        area = np.repeat(np.round(gross * 0.85 * off_share / n_off), n_off)
        _units_in(U, rng, bidx, B, n_off, KANTOOR, area, per_unit=True)
        if mixed.any():
            _units_in(
                U, rng, bidx[mixed], B, n_res[mixed], WOON,
                rng.uniform(50, 110, n_res[mixed].sum()).round(), per_unit=True,
            )  # fmt: skip

    # --- industrial estates ---------------------------------------------------------------------
    c = cells[cls == w.INDUSTRY]
    if len(c):
        x, y = layout.cell_xy(c)
        q, qw, qh, own, side = _quadrants(x, y, rng, None)
        empty = rng.random(len(own)) < 0.1
        owner = np.where(empty & (rng.random(len(own)) < 0.5), OWN_GEM, OWN_NONE)
        pidx = P.add(
            **_q(q), cell=c[own], kind=w.INDUSTRY, owner=owner,
            g=layout.lj[c][own] + side, side=side, code=sh.PLAIN,
        )  # fmt: skip
        b = ~empty
        bw = (qw * rng.uniform(0.6, 0.8, len(own)))[b]
        bd = (qh * rng.uniform(0.5, 0.7, len(own)))[b]
        s0 = 4.0 / qw[b]
        t0 = (1.0 - bd / qh[b]) / 2.0
        floors = rng.integers(1, 3, b.sum())
        shapes = {sh.PLAIN: 0.35, sh.ELL: 0.25, sh.NOTCH2: 0.15, sh.STEPS: 0.25}
        bidx = B.add(
            **_q(q[b]), s0=s0, s1=s0 + bw / qw[b], t0=t0, t1=t0 + bd / qh[b],
            **_shape(rng, int(b.sum()), shapes), parcel=pidx[b],
            year=rng.integers(1958, 2022, b.sum()), floors=floors, cell=c[own][b],
        )  # fmt: skip
        n_u = rng.integers(1, 4, b.sum())
        r = rng.random(n_u.sum())
        purpose = np.where(
            r < 0.55,
            INDUS,
            np.where(r < 0.85, INDUS | KANTOOR, np.where(r < 0.95, KANTOOR, WINKEL)),
        )
        area = np.repeat(np.round(bw * bd * floors * 0.9 / n_u), n_u)
        _units_in(U, rng, bidx, B, n_u, purpose, area, per_unit=True)

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
        x, y = layout.cell_xy(c)
        q = sh.box_frames(x + ROAD_W, y + ROAD_W, x + CELL, y + CELL)
        # a utility enclave in some parks and sports fields
        hole = np.isin(klass, (w.GREEN, w.SPORT)) & (rng.random(len(c)) < ENCLAVE_SHARE)
        spot = (0.75, 0.81, 0.12, 0.18) if klass == w.GREEN else (0.78, 0.84, 0.7, 0.76)
        pidx = P.add(
            **_q(q), cell=c, kind=klass, owner=owner_code, g=layout.lj[c], side=0,
            **_holes(hole, spot),
        )  # fmt: skip
        _enclaves(P, B, rng, q[hole], c[hole], klass, spot)

        def plot(px: float | np.ndarray, py: float | np.ndarray, bw, bd) -> dict:
            """A building ``bw`` x ``bd`` m at (px, py) m from the block's corner."""
            s0 = (np.asarray(px) - ROAD_W) / INNER
            t0 = (np.asarray(py) - ROAD_W) / INNER
            return {"s0": s0, "s1": s0 + np.asarray(bw) / INNER, "t0": t0,
                    "t1": t0 + np.asarray(bd) / INNER}  # fmt: skip

        if klass == w.GREEN:
            pav = rng.random(len(c)) < 0.1
            if pav.any():
                bidx = B.add(
                    **_q(q[pav]), **plot(40.0, 45.0, 12.0, 8.0), code=sh.PLAIN, parcel=pidx[pav],
                    year=rng.integers(1960, 2020, pav.sum()), floors=1, cell=c[pav],
                )  # fmt: skip
                _units_in(
                    U, rng, bidx, B, np.ones(pav.sum(), int), BIJEEN, np.full(pav.sum(), 80.0)
                )
        elif klass == w.SOCIAL:
            school = rng.random(len(c)) < 0.55
            bw = np.where(school, 50.0, 32.0)
            bd = np.where(school, 24.0, 18.0)
            shape = _shape(rng, len(c), {sh.COURT: 0.35, sh.ELL: 0.3, sh.PLAIN: 0.2,
                                         sh.NOTCH1: 0.15})  # fmt: skip
            shape["code"] = np.where(school, shape["code"], np.where(
                shape["code"] == sh.COURT, sh.PLAIN, shape["code"]))  # fmt: skip
            bidx = B.add(
                **_q(q), **plot(25.0, 22.0, bw, bd), **shape, parcel=pidx,
                year=rng.integers(1955, 2022, len(c)), floors=2, cell=c,
            )  # fmt: skip
            n_u = np.where(school, 1, rng.integers(2, 6, len(c)))
            area = np.repeat(np.where(school, bw * bd * 1.7, bw * bd * 1.6 / n_u).round(), n_u)
            purpose = np.repeat(np.where(school, ONDERW, GEZOND), n_u)
            _units_in(U, rng, bidx, B, n_u, purpose, area, per_unit=True)
        elif klass == w.SPORT:
            bidx = B.add(
                **_q(q), **plot(30.0, 30.0, 40.0, 25.0),
                **_shape(rng, len(c), {sh.PLAIN: 0.6, sh.NOTCH1: 0.4}), parcel=pidx,
                year=rng.integers(1965, 2022, len(c)), floors=1, cell=c,
            )  # fmt: skip
            _units_in(U, rng, bidx, B, np.ones(len(c), int), SPORTF, np.full(len(c), 950.0))
        elif klass == w.PLOT:
            # a shed demolished years ago: BAG still lists it as 'Pand gesloopt'
            B.add(
                **_q(q), **plot(30.0, 30.0, 15.0, 10.0), code=sh.PLAIN, parcel=pidx, year=1962,
                floors=1, cell=c, role=5,
            )  # fmt: skip
        elif klass == w.KT_PLANT:
            # 1978 office slab of 5 storeys, 44 x 16 m: 3,520 m2 gross, four office units
            bidx = B.add(
                **_q(q), **plot(33.0, 47.0, 44.0, 16.0), code=sh.PLAIN, parcel=pidx, year=1978,
                floors=5, cell=c, role=1,
            )  # fmt: skip
            _units_in(
                U, rng, bidx, B, np.full(len(c), 4), KANTOOR, np.full(4 * len(c), 750.0),
                per_unit=True,
            )  # fmt: skip
        elif klass == w.EV_PLANT:
            bidx = B.add(
                **_q(q), **plot(40.0, 45.0, 30.0, 20.0), code=sh.PLAIN, parcel=pidx, year=1988,
                floors=3, cell=c, role=2,
            )  # fmt: skip
            _units_in(
                U, rng, bidx, B, np.full(len(c), 3), KANTOOR, np.full(3 * len(c), 500.0),
                per_unit=True,
            )  # fmt: skip

    # --- the planted nature plot: one whole block -------------------------------------------------
    c = cells[cls == w.N2K_PLANT]
    if len(c):
        x, y = layout.cell_xy(c)
        P.add(
            **_q(sh.box_frames(x, y, x + CELL, y + CELL)), cell=c, kind=w.N2K_PLANT,
            owner=OWN_RIJK, g=layout.lj[c], side=0, code=sh.PLAIN,
        )  # fmt: skip

    # --- farmland, nature and water: 400 x 200 m parcels where a whole group has one class ---
    _rural(layout, P, B, U, rng)

    return _assemble(layout, P.frame(), B.frame(), U.frame())


def _centred(fw: np.ndarray, fh: np.ndarray) -> dict[str, np.ndarray]:
    """A sub-box of relative width ``fw`` and height ``fh`` centred in its frame."""
    return {"s0": (1 - fw) / 2, "s1": (1 + fw) / 2, "t0": (1 - fh) / 2, "t1": (1 + fh) / 2}


def _quadrants(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_fixed: int | None):
    """Split the 90 x 90 m block of each cell into 2 or 4 plots.

    The cut lines are jittered; the north-south cut is slanted in half of the blocks.
    Returns the plots' frames, nominal width and height, owning cell index and street side
    (0 south, 1 north).
    """
    n = np.full(len(x), 4) if n_fixed else np.where(rng.random(len(x)) < 0.4, 2, 4)
    own = np.repeat(np.arange(len(x)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    cx = ROAD_W + INNER / 2 + rng.uniform(-8, 8, len(x))
    cy = ROAD_W + INNER / 2 + rng.uniform(-8, 8, len(x))
    lean = np.where(rng.random(len(x)) < 0.5, rng.uniform(-3, 3, len(x)), 0.0)
    two = n[own] == 2
    west = np.where(two, k == 0, (k % 2) == 0)
    south = np.where(two, True, k < 2)
    yb = y[own] + np.where(two | ~south, CELL, cy[own])
    ya = y[own] + np.where(south, ROAD_W, cy[own])

    def cut(v: np.ndarray) -> np.ndarray:  # the north-south cut line at local height v
        return x[own] + cx[own] + lean[own] * (v - y[own] - ROAD_W) / INNER

    xa_l = np.where(west, x[own] + ROAD_W, cut(ya))
    xa_r = np.where(west, cut(ya), x[own] + CELL)
    xb_l = np.where(west, x[own] + ROAD_W, cut(yb))
    xb_r = np.where(west, cut(yb), x[own] + CELL)
    q = np.column_stack([xa_l, ya, xa_r, ya, xb_r, yb, xb_l, yb])
    side = np.where(south, 0, 1)
    return q, xa_r - xa_l, yb - ya, own, side


def _holes(mask: np.ndarray, spot: tuple[float, float, float, float]) -> dict[str, np.ndarray]:
    """Shape columns of parcels: plain, or (where ``mask``) with a hole at ``spot`` (unit
    coordinates s0, s1, t0, t1 of the parcel's frame)."""
    out = {"code": np.where(mask, sh.HOLE, sh.PLAIN)}
    for name, value in zip(PRM, spot, strict=True):
        out[name] = np.where(mask, value, 0.0)
    return out


def _enclaves(
    P: _Acc,
    B: _Acc,
    rng: np.random.Generator,
    q: np.ndarray,
    cells: np.ndarray,
    kind: np.ndarray | int,
    spot: tuple[float, float, float, float],
) -> None:
    """The utility plots in the holes :func:`_holes` made: parcels of their own (the same
    corners as the hole) with a transformer house on each."""
    n = len(q)
    if n == 0:
        return
    eq = sh.sub_frames(q, *spot)
    eidx = P.add(**_q(eq), cell=cells, kind=kind, owner=OWN_NONE, g=0, side=0, code=sh.PLAIN)
    B.add(
        **_q(eq), s0=0.15, s1=0.85, t0=0.15, t1=0.85, code=sh.PLAIN, parcel=eidx,
        year=rng.integers(1960, 2020, n), floors=1, cell=cells,
    )  # fmt: skip


def _units_in(
    U: _Acc,
    rng: np.random.Generator,
    bidx: np.ndarray,
    B: _Acc,
    n: np.ndarray | int,
    purpose: np.ndarray | int,
    area: np.ndarray,
    *,
    front: np.ndarray | int | None = None,
    per_unit: bool = False,
) -> None:
    """Add ``n[k]`` unit points inside building ``bidx[k]`` (the solid part of its shape).

    ``purpose`` and ``area`` are per building (or per unit with ``per_unit=True``).
    ``front`` puts the points in the first (0) or last (1) third of the building's frame
    along t (the street side and the back of a house).
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
    # within the part of the shape every parameter value keeps solid
    code = _column(B, "code", bidx)[own]
    solid = np.array([sh.SOLID.get(k, (0.0, 1.0, 0.0, 1.0)) for k in range(10)])[code]
    fx = solid[:, 0] + fx * (solid[:, 1] - solid[:, 0])
    fy = solid[:, 2] + fy * (solid[:, 3] - solid[:, 2])
    purpose = np.asarray(purpose)
    if purpose.ndim and not per_unit:
        purpose = purpose[own]
    area = np.asarray(area, dtype=float)
    if area.ndim and not per_unit:
        area = area[own]
    U.add(
        pand=bidx[own],
        s=fx,
        t=fy,
        purpose=np.broadcast_to(purpose, (len(own),)).astype(np.int64),
        area=np.broadcast_to(area, (len(own),)),
    )


def _column(acc: _Acc, name: str, rows: np.ndarray) -> np.ndarray:
    """Values of column ``name`` at global rows ``rows`` of an accumulator (0 where absent)."""
    out = np.zeros(len(rows), dtype=np.int64)
    start = 0
    for ch in acc.chunks:
        length = len(next(iter(ch.values())))
        sel = (rows >= start) & (rows < start + length)
        if sel.any() and name in ch:
            out[sel] = np.asarray(ch[name])[rows[sel] - start]
        start += length
    return out


def _row_runs(layout: Layout, mask: np.ndarray, max_len: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive ``mask`` blocks in a lattice row of one district and class, cut at
    every ``max_len`` blocks. Returns the first block of each run and its length."""
    c = np.flatnonzero(mask)
    if len(c) == 0:
        return c, np.zeros(0, dtype=np.int64)
    order = np.lexsort((layout.li[c], layout.lj[c], layout.district[c]))
    c = c[order]
    d, i, j, k = layout.district[c], layout.li[c], layout.lj[c], layout.cls[c]
    start = np.ones(len(c), dtype=bool)
    start[1:] = (d[1:] != d[:-1]) | (j[1:] != j[:-1]) | (i[1:] != i[:-1] + 1) | (k[1:] != k[:-1])
    start |= (i % max_len) == 0
    first = np.flatnonzero(start)
    length = np.diff(np.append(first, len(c)))
    return c[first], length.astype(np.int64)


def _rural(layout: Layout, P: _Acc, B: _Acc, U: _Acc, rng: np.random.Generator) -> None:
    cls = layout.cls
    cells = np.arange(layout.ncell)
    i, j = layout.li, layout.lj
    rural = np.isin(cls, (w.FARM, w.NATURE, w.WATER))
    # groups of 4 x 2 blocks in one district
    gi, gj = i // 4, j // 2
    gkey = layout.key(layout.district, gi, gj)
    code = cls.astype(np.int64)
    uk, grp = np.unique(gkey, return_inverse=True)
    cnt = np.bincount(grp[rural], minlength=len(uk))
    lo = np.full(len(uk), np.iinfo(np.int64).max)
    hi = np.full(len(uk), -1)
    np.minimum.at(lo, grp[rural], code[rural])
    np.maximum.at(hi, grp[rural], code[rural])
    full = (cnt == 8) & (lo == hi)
    whole = rural & full[grp]
    lead = whole & (i % 4 == 0) & (j % 2 == 0)
    single = rural & ~whole & (cls != w.WATER)
    parts = []
    for mask, wdt, hgt in ((lead, 4 * CELL, 2 * CELL), (single, CELL, CELL)):
        c = cells[mask]
        x, y = layout.cell_xy(c)
        parts.append((c, x, y, np.full(len(c), wdt), np.full(len(c), hgt)))
    # lake shores: strips along the rows
    c, length = _row_runs(layout, rural & ~whole & (cls == w.WATER))
    x, y = layout.cell_xy(c)
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
    q = sh.box_frames(x, y, x + pw, y + ph)
    # farmsteads: a farmhouse and a barn on some farm parcels
    farm = (klass == w.FARM) & (rng.random(len(c)) < np.where(pw > CELL, 0.22, 0.05))
    # utility enclaves in some large farm and nature parcels (not on farmsteads)
    big = np.isin(klass, (w.FARM, w.NATURE)) & (pw > CELL) & (ph > CELL) & ~farm
    hole = big & (rng.random(len(c)) < ENCLAVE_SHARE * 2)
    spot = (0.8, 0.8 + 6.0 / (4 * CELL), 0.7, 0.7 + 5.0 / (2 * CELL))
    pidx = P.add(**_q(q), cell=c, kind=klass, owner=owner, g=j[c], side=0, **_holes(hole, spot))
    _enclaves(P, B, rng, q[hole], c[hole], klass[hole], spot)
    if farm.any():
        fw, fh = pw[farm], ph[farm]
        year = rng.integers(1850, 1995, farm.sum())
        hidx = B.add(
            **_q(q[farm]), s0=12.0 / fw, s1=26.0 / fw, t0=8.0 / fh, t1=18.0 / fh,
            **_shape(rng, int(farm.sum()), {sh.PLAIN: 0.5, sh.ANNEX_BACK: 0.5}),
            parcel=pidx[farm], year=year, floors=2, cell=c[farm],
        )  # fmt: skip
        _units_in(
            U, rng, hidx, B, np.ones(farm.sum(), int), WOON,
            rng.uniform(120, 220, farm.sum()).round(),
        )  # fmt: skip
        B.add(
            **_q(q[farm]), s0=32.0 / fw, s1=62.0 / fw, t0=8.0 / fh, t1=26.0 / fh,
            **_shape(rng, int(farm.sum()), {sh.PLAIN: 0.5, sh.ELL: 0.3, sh.NOTCH1: 0.2}),
            parcel=pidx[farm], year=year + 20, floors=1, cell=c[farm],
        )  # fmt: skip


# --------------------------------------------------------------------------- geometry


def _assemble(layout: Layout, P: pd.DataFrame, B: pd.DataFrame, U: pd.DataFrame) -> Objects:
    """Map every object to RD New, clip parcels to their district's interior, add the
    corridor and road strips, and drop buildings (with their units) that would be cut."""
    frames = layout.frames
    interior = layout.interior
    pdist = layout.district[P.cell.to_numpy()]
    pq = P[list(Q)].to_numpy(float)
    prm = P.reindex(columns=list(PRM), fill_value=0.0).to_numpy(float)
    pgeom = sh.polygons_in_world(frames, pdist, pq, P.code.to_numpy(), prm)
    pgeom, _cut = sh.clip(pgeom, interior[pdist])
    p_ok = pgeom != None  # noqa: E711 - object array
    # buildings: their frame is a sub-box of the parcel's
    bq = sh.sub_frames(
        B[list(Q)].to_numpy(float),
        B.s0.to_numpy(float),
        B.s1.to_numpy(float),
        B.t0.to_numpy(float),
        B.t1.to_numpy(float),
    )
    bdist = layout.district[B.cell.to_numpy()]
    bprm = B.reindex(columns=list(PRM), fill_value=0.0).to_numpy(float)
    bgeom = sh.polygons_in_world(frames, bdist, bq, B.code.to_numpy(), bprm)
    b_ok = p_ok[B.parcel.to_numpy()] & shapely.contains_properly(interior[bdist], bgeom)
    # units: points in their building's frame
    upand = U.pand.to_numpy()
    u_ok = b_ok[upand]
    uu, uv = sh.bilinear(bq[upand], U.s.to_numpy(float), U.t.to_numpy(float))
    ux, uy = frames.to_world(uu, uv, bdist[upand])
    # renumber what is kept
    pkeep = np.flatnonzero(p_ok)
    pnew = np.full(len(P), -1, dtype=np.int64)
    pnew[pkeep] = np.arange(len(pkeep))
    bkeep = np.flatnonzero(b_ok)
    bnew = np.full(len(B), -1, dtype=np.int64)
    bnew[bkeep] = np.arange(len(bkeep))
    ukeep = np.flatnonzero(u_ok)
    cell = P.cell.to_numpy()[pkeep]
    parcels = pd.DataFrame(
        {
            "muni": layout.muni[cell],
            "kind": P.kind.to_numpy()[pkeep],
            "owner": P.owner.to_numpy()[pkeep],
            "g": P.g.to_numpy()[pkeep],
            "side": P.side.to_numpy()[pkeep],
            "district": layout.district[cell],
            "li": layout.li[cell],
            "lj": layout.lj[cell],
            "cell": cell,
        }
    )
    strips = layout.strips
    ns = len(strips)
    parcels = pd.concat(
        [
            parcels,
            pd.DataFrame(
                {
                    "muni": strips.muni.to_numpy(np.int64),
                    "kind": strips.kind.to_numpy(np.int64),
                    "owner": strips.owner.to_numpy(np.int64),
                    "g": np.zeros(ns, np.int64),
                    "side": np.zeros(ns, np.int64),
                    "district": np.full(ns, -1, np.int64),
                    "li": np.zeros(ns, np.int64),
                    "lj": np.zeros(ns, np.int64),
                    "cell": np.full(ns, -1, np.int64),
                }
            ),
        ],
        ignore_index=True,
    )
    parcel_geoms = sh.valid(np.concatenate([pgeom[pkeep], strips.geometry.to_numpy(dtype=object)]))
    role = B["role"].to_numpy() if "role" in B else np.zeros(len(B), np.int64)
    buildings = pd.DataFrame(
        {
            "parcel": pnew[B.parcel.to_numpy()[bkeep]],
            "year": B.year.to_numpy()[bkeep],
            "floors": B.floors.to_numpy()[bkeep],
            "role": role[bkeep],
            "cell": B.cell.to_numpy()[bkeep],
        }
    )
    units = pd.DataFrame(
        {
            "pand": bnew[upand[ukeep]],
            "x": ux[ukeep],
            "y": uy[ukeep],
            "u": uu[ukeep],
            "purpose": U.purpose.to_numpy()[ukeep],
            "area": U.area.to_numpy()[ukeep],
        }
    )
    # survey points on straight edges, as real outlines have: most parcels get a few, one in
    # five (long or surveyed outlines) 12-39, so the vertex counts match the real BRK parcels
    # (p50 8, p90 30; see benchmarks/README.md for the distributions measured by shapes.py)
    rng = np.random.default_rng([layout.seed, 5])
    n = len(parcel_geoms)
    extra = np.where(rng.random(n) < 0.8, rng.geometric(0.25, n) - 1, rng.integers(12, 40, n))
    parcel_geoms = sh.add_vertices(parcel_geoms, extra, rng)
    bgeom = bgeom[bkeep]
    extra = np.where(rng.random(len(bgeom)) < 0.08, rng.geometric(0.12, len(bgeom)), 0)
    bgeom = sh.add_vertices(bgeom, extra, rng)
    return Objects(
        parcels,
        buildings,
        units,
        shapely.orient_polygons(parcel_geoms),
        shapely.orient_polygons(bgeom),
    )
