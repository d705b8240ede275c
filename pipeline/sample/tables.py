"""Turn the generated world and objects into the tables of the published formats.

Columns follow docs/contracts.md §A ("generator writes"): BRK perceel, BAG pand and
verblijfsobject (PDOK bag-light style), vacancy, ownership, stops, exclusion zones, zoning
runs (written as IMRO GML by :mod:`pipeline.sample.formats`) and the planted manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.sample import objects as ob
from pipeline.sample import world as w
from pipeline.sample.layout import Layout
from pipeline.sample.names import (
    CORPORATIONS,
    MAIN_STREET,
    STREET_PREFIXES,
    STREET_QUALIFIERS,
    STREET_SUFFIXES,
)
from pipeline.sample.objects import Objects
from pipeline.sample.shapes import box_frames, polygonal, polygons_in_world, valid
from pipeline.sample.world import CELL
from pipeline.schemas import CRS, GEBRUIKSDOELEN

#: The data's reference date: vacancy durations are counted up to this day (fixed, so the
#: output does not depend on the day it was generated).
REF_DATE = np.datetime64("2025-01-01")
SOURCE_NAME = "synthetisch (kansenkaart sample)"

# pand roles (set in objects.py for the planted sites)
ROLE_NONE, ROLE_KT, ROLE_EV, ROLE_PL_SHOP, ROLE_PL_OTHER, ROLE_DEMOLISHED = range(6)


@dataclass
class Tables:
    """Everything the writers need."""

    municipalities: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    panden: gpd.GeoDataFrame
    vbo: gpd.GeoDataFrame
    vacancy: pd.DataFrame
    ownership: gpd.GeoDataFrame
    stops: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    zoning: pd.DataFrame  # plan areas: muni, hoofdgroep, naam, geometry (polygons)
    planted: dict[str, Any] = field(default_factory=dict)


def _str(values: np.ndarray | pd.Series) -> pd.Series:
    return pd.Series(np.asarray(values)).astype(str)


def _zfill(values: np.ndarray, width: int) -> pd.Series:
    return _str(values).str.zfill(width)


def build_tables(layout: Layout, objs: Objects) -> Tables:
    """Build every output table of the sample (pure: no files)."""
    world = layout.world
    rng = np.random.default_rng([world.seed, 3])
    mu = world.munis
    codes = mu.code.to_numpy()
    code4 = np.array([c[2:] for c in codes])
    names = mu.name.to_numpy()

    municipalities = _municipalities(layout)

    # --- parcels ------------------------------------------------------------------------------
    P = objs.parcels
    pm = P.muni.to_numpy()
    pgeom = objs.parcel_geoms
    area = shapely.area(pgeom)
    # sections of 2.5 km squares
    b = shapely.bounds(pgeom)
    pi = np.floor(((b[:, 0] + b[:, 2]) / 2 - world.x0) / 2_500.0).astype(np.int64)
    pj = np.floor(((b[:, 1] + b[:, 3]) / 2 - world.y0) / 2_500.0).astype(np.int64)
    akr = np.array([_akr(n) for n in names])[pm]
    sectie = np.array(list("ABCDEFGHKLMNOPRSTUVWXZ"))[(pi + pj * 3) % 22]
    key = pd.Series(akr) + sectie
    perceelnummer = key.groupby(key, sort=False).cumcount().to_numpy() + 1
    begin = np.datetime64("1985-01-01") + rng.integers(0, 40 * 365, len(P)).astype("timedelta64[D]")
    parcels = gpd.GeoDataFrame(
        {
            "identificatie": "NL.IMKAD.KadastraalObject."
            + _str(90_000_000_000_000 + np.arange(len(P)) * 10_000 + 7_000),
            "AKRKadastraleGemeenteCodeWaarde": akr,
            "sectie": sectie,
            "perceelnummer": perceelnummer.astype(np.int32),
            "kadastraleGrootteWaarde": np.round(area).astype(np.int64),
            "soortGrootteWaarde": "Vastgesteld",
            "beginGeldigheid": begin.astype("datetime64[ms]"),
        },
        geometry=pgeom,
        crs=CRS,
    )

    # --- buildings ----------------------------------------------------------------------------
    B = objs.buildings
    bparcel = B.parcel.to_numpy()
    bm = pm[bparcel]
    bseq = pd.Series(bm).groupby(bm).cumcount().to_numpy() + 1
    pand_id = pd.Series(code4[bm]) + "10" + _zfill(bseq, 10)
    role = B["role"].to_numpy() if "role" in B else np.zeros(len(B), int)
    status = _pand_status(rng, role)

    # --- units ----------------------------------------------------------------------------------
    U = objs.units
    upand = U.pand.to_numpy()
    um = bm[upand]
    useq = pd.Series(um).groupby(um).cumcount().to_numpy() + 1
    vbo_id = pd.Series(code4[um]) + "01" + _zfill(useq, 10)
    purpose = U.purpose.to_numpy()
    pstatus_cur = np.isin(
        status,
        (
            "Pand in gebruik",
            "Pand in gebruik (niet ingemeten)",
            "Verbouwing pand",
            "Pand buiten gebruik",
            "Sloopvergunning verleend",
            "Bouw gestart",
        ),
    )
    ustatus = _unit_status(rng, status[upand], role[upand])
    current = pstatus_cur[upand] & np.isin(
        ustatus,
        (
            "Verblijfsobject in gebruik",
            "Verblijfsobject in gebruik (niet ingemeten)",
            "Verbouwing verblijfsobject",
            "Verblijfsobject buiten gebruik",
        ),
    )
    # street names and numbers from the parcel the building stands on
    uparcel = bparcel[upand]
    street, number, postcode = _addresses(layout, P, uparcel, U.u.to_numpy())
    # pand aggregates from its units
    order = np.argsort(upand, kind="stable")
    counts = np.bincount(upand, minlength=len(B))
    starts = np.cumsum(counts) - counts
    has = counts > 0
    amin = np.full(len(B), np.nan)
    amax = np.full(len(B), np.nan)
    mask = np.zeros(len(B), np.int64)
    ua = U.area.to_numpy()
    if len(U):
        amin[has] = np.minimum.reduceat(ua[order], starts[has])
        amax[has] = np.maximum.reduceat(ua[order], starts[has])
        mask[has] = np.bitwise_or.reduceat(purpose[order], starts[has])
    pand_doel = _purpose_strings(mask)
    pand_doel[~has] = None

    panden = gpd.GeoDataFrame(
        {
            "identificatie": pand_id.to_numpy(),
            "bouwjaar": B.year.to_numpy().astype(np.int32),
            "status": status,
            "gebruiksdoel": pand_doel,
            "oppervlakte_min": amin,
            "oppervlakte_max": amax,
            "aantal_verblijfsobjecten": counts.astype(np.int32),
            "bouwlagen": B.floors.to_numpy().astype(np.int32),
        },
        geometry=objs.building_geoms,
        crs=CRS,
    )
    vbo = gpd.GeoDataFrame(
        {
            "identificatie": vbo_id.to_numpy(),
            "pand_identificatie": pand_id.to_numpy()[upand],
            "gebruiksdoel": _purpose_strings(purpose),
            "oppervlakte": np.round(ua).astype(np.int32),
            "status": ustatus,
            "openbare_ruimte_naam": street,
            "huisnummer": number.astype(np.int32),
            "postcode": postcode,
            "woonplaats_naam": names[um],
            "bouwjaar": B.year.to_numpy().astype(np.int32)[upand],
        },
        geometry=shapely.points(U.x.to_numpy(), U.y.to_numpy()),
        crs=CRS,
    )

    # --- vacancy ----------------------------------------------------------------------------
    urole = role[upand]
    vacant_years = np.full(len(U), np.nan)
    office = current & ((purpose & ob.KANTOOR) > 0)
    shop = current & ((purpose & ob.WINKEL) > 0) & ~office
    # planted: all units of the long-vacant office, two of three units of the office in the
    # safety zone, the planted shop (its neighbour shop is in use)
    vacant_years[urole == ROLE_KT] = 5.6
    ev_units = np.flatnonzero(urole == ROLE_EV)
    ev_first = (
        ev_units[np.r_[True, upand[ev_units][1:] != upand[ev_units][:-1]]]
        if len(ev_units)
        else ev_units
    )
    vacant_years[ev_units] = 4.2
    vacant_years[ev_first] = np.nan
    vacant_years[(urole == ROLE_PL_SHOP) & ((purpose & ob.WINKEL) > 0)] = 4.5
    fixed = urole != ROLE_NONE
    _pick_vacant(rng, vacant_years, office, fixed, upand, 0.13, whole_buildings=0.4)
    _pick_vacant(rng, vacant_years, shop, fixed, upand, 0.08, whole_buildings=0.0)
    vac = np.flatnonzero(np.isfinite(vacant_years))
    since = REF_DATE - np.round(vacant_years[vac] * 365.25).astype("timedelta64[D]")
    vacancy = pd.DataFrame(
        {
            "verblijfsobject_id": vbo_id.to_numpy()[vac],
            "leegstand_sinds": pd.Series(since.astype("datetime64[D]"))
            .dt.strftime("%Y-%m-%d")
            .to_numpy(),
            "bron": SOURCE_NAME,
        }
    )

    # --- ownership ----------------------------------------------------------------------------
    owned = P.owner.to_numpy() > 0
    oc = P.owner.to_numpy()[owned]
    om = pm[owned]
    klass = P.kind.to_numpy()[owned]
    owner_name = np.select(
        [
            oc == ob.OWN_PROV,
            oc == ob.OWN_GEM,
            (oc == ob.OWN_RIJK) & (klass == w.RAIL),
            (oc == ob.OWN_RIJK) & (klass == w.NATURE),
            (oc == ob.OWN_RIJK) & (klass == w.WATER),
            oc == ob.OWN_RIJK,
        ],
        [
            "Provincie Zuid-Holland (fictief)",
            "Gemeente " + names[om].astype(object),
            "ProRail (fictief)",
            "Staatsbosbeheer (fictief)",
            "Rijkswaterstaat (fictief)",
            "Rijksvastgoedbedrijf (fictief)",
        ],
        "",
    ).astype(object)
    corp = oc == ob.OWN_CORP
    owner_name[corp] = np.array(CORPORATIONS, dtype=object)[om[corp] % len(CORPORATIONS)]
    ownership = gpd.GeoDataFrame(
        {
            "eigenaar_klasse": np.array(["", "provincie", "gemeente", "rijk", "corporatie"])[oc],
            "eigenaar_naam": owner_name,
        },
        geometry=pgeom[owned],
        crs=CRS,
    )

    stops = _stops(layout)
    zones = _zones(layout)
    zoning = _zoning(layout)
    planted = _planted(
        layout, parcels, P, panden, bparcel, role, vbo, upand, purpose, vacant_years, stops
    )
    return Tables(
        municipalities, parcels, panden, vbo, vacancy, ownership, stops, zones, zoning, planted
    )


def _akr(name: str) -> str:
    letters = [ch for ch in name.upper() if ch.isalpha()]
    return "".join(letters[:3]) + "01"


def _purpose_strings(mask: np.ndarray) -> np.ndarray:
    """Comma-separated gebruiksdoelen of bit masks (lookup over the distinct masks)."""
    uniq, inv = np.unique(mask, return_inverse=True)
    text = np.array(
        [",".join(d for b, d in enumerate(GEBRUIKSDOELEN) if m >> b & 1) for m in uniq],
        dtype=object,
    )
    return text[inv]


def _pand_status(rng: np.random.Generator, role: np.ndarray) -> np.ndarray:
    r = rng.random(len(role))
    status = np.select(
        [
            r < 0.004,
            r < 0.007,
            r < 0.0075,
            r < 0.0275,
            r < 0.0315,
            r < 0.0335,
            r < 0.0355,
            r < 0.0375,
        ],
        [
            "Pand gesloopt",
            "Bouwvergunning verleend",
            "Niet gerealiseerd pand",
            "Pand in gebruik (niet ingemeten)",
            "Verbouwing pand",
            "Pand buiten gebruik",
            "Sloopvergunning verleend",
            "Bouw gestart",
        ],
        "Pand in gebruik",
    ).astype(object)
    status[role != ROLE_NONE] = "Pand in gebruik"
    status[role == ROLE_DEMOLISHED] = "Pand gesloopt"
    return status


def _unit_status(rng: np.random.Generator, pand_status: np.ndarray, role: np.ndarray) -> np.ndarray:
    r = rng.random(len(pand_status))
    status = np.select(
        [r < 0.003, r < 0.023, r < 0.028, r < 0.031],
        [
            "Verblijfsobject ingetrokken",
            "Verblijfsobject in gebruik (niet ingemeten)",
            "Verbouwing verblijfsobject",
            "Verblijfsobject buiten gebruik",
        ],
        "Verblijfsobject in gebruik",
    ).astype(object)
    status[role != ROLE_NONE] = "Verblijfsobject in gebruik"
    status[pand_status == "Pand gesloopt"] = "Verblijfsobject ingetrokken"
    status[pand_status == "Bouwvergunning verleend"] = "Verblijfsobject gevormd"
    status[pand_status == "Niet gerealiseerd pand"] = "Niet gerealiseerd verblijfsobject"
    return status


def _pick_vacant(
    rng: np.random.Generator,
    years: np.ndarray,
    pool: np.ndarray,
    fixed: np.ndarray,
    pand: np.ndarray,
    rate: float,
    *,
    whole_buildings: float,
) -> None:
    """Mark vacant units in ``pool`` until ``rate`` of it is vacant; durations are mixed:
    35 % under a year, 40 % one to three years, 25 % over three years."""
    target = round(rate * pool.sum()) - int((pool & np.isfinite(years)).sum())
    free = np.flatnonzero(pool & ~fixed & ~np.isfinite(years))
    if target <= 0 or not len(free):
        return
    chosen: list[np.ndarray] = []
    if whole_buildings > 0:
        bp = np.unique(pand[free])
        bp = bp[rng.permutation(len(bp))]
        cnt = np.bincount(pand[free], minlength=pand.max() + 1)[bp]
        take = bp[np.cumsum(cnt) <= whole_buildings * target]
        chosen.append(free[np.isin(pand[free], take)])
    done = sum(len(c) for c in chosen)
    rest = np.setdiff1d(free, np.concatenate(chosen) if chosen else np.array([], int))
    k = min(max(target - done, 0), len(rest))
    chosen.append(np.sort(rng.choice(rest, k, replace=False)) if k else np.array([], int))
    idx = np.concatenate(chosen)
    # per building one duration for whole-building vacancy, else per unit
    r = rng.random(pand.max() + 1)[pand[idx]] if whole_buildings > 0 else rng.random(len(idx))
    r = np.where(np.isin(idx, chosen[-1]), rng.random(len(idx)), r)
    years[idx] = np.select(
        [r < 0.35, r < 0.75],
        [0.1 + 0.85 * rng.random(len(idx)), 1.05 + 1.9 * rng.random(len(idx))],
        3.1 + 5.0 * rng.random(len(idx)),
    )


def _addresses(layout: Layout, P: pd.DataFrame, parcel: np.ndarray, u: np.ndarray):
    """Street name, house number and postcode of units, from the street their parcel faces.

    A street is a 400 m stretch of one gridline of a district's lattice (``u`` is the unit's
    local coordinate along it).
    """
    ms = layout.main_street
    assert ms is not None
    m = P.muni.to_numpy()[parcel]
    d = P.district.to_numpy()[parcel]
    i = P.li.to_numpy()[parcel]
    j = P.lj.to_numpy()[parcel]
    g = P.g.to_numpy()[parcel]
    side = P.side.to_numpy()[parcel]
    seg = i // 4
    off = 1 << 15
    key = (m.astype(np.int64) << 48) | (d.astype(np.int64) << 32) | ((g + off) << 16) | (seg + off)
    # rank of each street segment within its municipality -> a unique name
    uniq, inv = np.unique(key, return_inverse=True)
    um = uniq >> 48
    first = np.searchsorted(um, um)
    rank = np.arange(len(uniq)) - first
    n_p, n_s, n_q = len(STREET_PREFIXES), len(STREET_SUFFIXES), len(STREET_QUALIFIERS)
    rank = (rank * 7919) % (n_p * n_s * n_q)  # spread names over the table
    pre = np.array(STREET_PREFIXES, dtype=object)[rank % n_p]
    suf = np.array(STREET_SUFFIXES, dtype=object)[(rank // n_p) % n_s]
    qual = np.array(STREET_QUALIFIERS, dtype=object)[(rank // (n_p * n_s)) % n_q]
    names = (qual + pre + suf).astype(object)
    street = names[inv]
    kind = P.kind.to_numpy()[parcel]
    main = (
        (kind == w.CENTRE)
        & (d == ms.district.to_numpy()[m])
        & (g == ms.j.to_numpy()[m])
        & (i >= ms.i0.to_numpy()[m])
        & (i <= ms.i1.to_numpy()[m])
    )
    street[main] = MAIN_STREET
    seg_x0 = seg * 4 * CELL
    number = 2 * np.floor((u - seg_x0) / 8.0).astype(np.int64) + np.where(side == 0, 2, 1)
    pc_num = 2200 + (m * 37 + d * 7 + (i // 10) * 3 + (j // 10) * 11) % 1700
    letters = np.array(list("ABCEGHJKLMNPRTVWXZ"))
    pc = _str(pc_num) + letters[(i % 10 + j) % 18] + letters[(j % 10 + 3 * i) % 18]
    return street, number, pc.to_numpy()


def _municipalities(layout: Layout) -> gpd.GeoDataFrame:
    """Municipality polygons (the union of their cells), in EPSG:4326 when written."""
    mu = layout.munis
    polys = [
        shapely.MultiPolygon([p]) if p.geom_type == "Polygon" else p for p in layout.municipalities
    ]
    return gpd.GeoDataFrame(
        {
            "statcode": mu.code.to_numpy(),
            "jrstatcode": ("2025" + mu.code).to_numpy(),
            "statnaam": mu.name.to_numpy(),
            "rubriek": "gemeente",
        },
        geometry=polys,
        crs=CRS,
    )


def _stops(layout: Layout) -> gpd.GeoDataFrame:
    world = layout.world
    mu = world.munis
    st = world.stations
    parts = [
        pd.DataFrame(
            {"x": st.x, "y": st.y, "kind": "trein", "naam": "Station " + st.naam, "m": st.muni}
        )
    ]
    # a bus stop at the corner of every fourth block (on the street), within the district
    cells = np.flatnonzero(np.isin(layout.cls, w.BLOCK_CLASSES))
    i, j = layout.li[cells], layout.lj[cells]
    bus = cells[(i % 4 == 2) & (j % 4 == 2)]
    bx, by = layout.cell_xy(bus)
    d = layout.district[bus]
    x, y = layout.frames.to_world(bx + 5.0, by + 5.0, d)
    ok = shapely.contains_xy(layout.interior[d], x, y)
    parts.append(
        pd.DataFrame(
            {"x": x[ok], "y": y[ok], "kind": "bus", "naam": "Bushalte", "m": layout.muni[bus][ok]}
        )
    )
    for kind, min_r, step, turn in (
        ("tram", 2_200, 400.0, np.pi / 2),
        ("metro", 3_500, 800.0, -np.pi / 4),
    ):
        for k in np.flatnonzero(mu.R.to_numpy() >= min_r):
            r = np.arange(step / 2, mu.R[k], step)
            r = np.concatenate([-r[::-1], r]) if kind == "metro" else r
            a = mu.theta[k] + turn
            parts.append(
                pd.DataFrame(
                    {
                        "x": mu.tx[k] + r * np.cos(a),
                        "y": mu.ty[k] + r * np.sin(a),
                        "kind": kind,
                        "naam": f"{kind.capitalize()}halte",
                        "m": k,
                    }
                )
            )
    df = pd.concat(parts, ignore_index=True)
    df["seq"] = df.groupby(["m", "kind"], sort=False).cumcount() + 1
    code4 = np.array([c[2:] for c in mu.code])
    df["stop_id"] = df.kind + ":" + code4[df.m] + ":" + df.seq.astype(str)
    df["naam"] = np.where(
        df.kind == "trein",
        df.naam,
        df.naam + " " + mu.name.to_numpy()[df.m] + " " + df.seq.astype(str),
    )
    return gpd.GeoDataFrame(
        df[["stop_id", "naam", "kind"]],
        geometry=shapely.points(df.x.to_numpy(), df.y.to_numpy()),
        crs=CRS,
    )


def _zones(layout: Layout) -> gpd.GeoDataFrame:
    world = layout.world
    mu = world.munis
    ms = layout.main_street
    assert ms is not None
    # the core shopping area: 50 m south and 60 m north of the main street, in its district
    kern = polygons_in_world(
        layout.frames,
        ms.district.to_numpy(),
        box_frames(ms.xa.to_numpy(), -50.0, ms.xb.to_numpy(), 60.0),
    )
    rows: list[tuple[str, str, Any]] = []
    for k in range(len(mu)):
        nm = mu.name[k]
        if np.isfinite(mu.nx_[k]):
            rows.append(
                (
                    "natura2000",
                    f"Natura 2000 {nm}se Polder (synthetisch)",
                    shapely.Point(mu.nx_[k], mu.ny_[k]).buffer(mu.rn[k], quad_segs=16),
                )
            )
        if np.isfinite(mu.nnx[k]):
            rows.append(
                (
                    "nnn",
                    f"NNN {nm} (synthetisch)",
                    shapely.Point(mu.nnx[k], mu.nny[k]).buffer(mu.rnn[k], quad_segs=16),
                )
            )
        rows.append(
            (
                "externe_veiligheid",
                f"Plaatsgebonden risico bedrijventerrein {nm} (synthetisch)",
                shapely.Point(mu.ix[k], mu.iy[k]).buffer(mu.rev[k], quad_segs=16),
            )
        )
        rows.append(("kernwinkelgebied", f"Kernwinkelgebied {nm} (synthetisch)", kern[k]))
    for q, (ax, ay, bx, by) in enumerate(world.hv):
        rows.append(
            (
                "hoogspanning",
                f"Hoogspanningsverbinding {q + 1} (synthetisch)",
                shapely.LineString([(ax, ay), (bx, by)]).buffer(40, cap_style="flat"),
            )
        )
    if len(world.rivers):
        river = shapely.union_all(shapely.linestrings(world.rivers.reshape(-1, 2, 2)))
        rows.append(
            (
                "waterkering",
                "Waterkering rivier (synthetisch)",
                river.buffer(130).difference(river.buffer(90)),
            )
        )
    return gpd.GeoDataFrame(
        {"kind": [r[0] for r in rows], "naam": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=CRS,
    )


def _zoning(layout: Layout) -> pd.DataFrame:
    """The plan areas: runs of blocks with one zoning along a lattice row of a district
    (clipped to its interior), and the corridors and roads; one polygon each."""
    zon_names = sorted(set(w.ZONING.values()))
    zon_index = {v: q for q, v in enumerate(zon_names)}
    lut = np.full(w.N_CLASSES, -1)
    for klass, v in w.ZONING.items():
        lut[klass] = zon_index[v]
    z = lut[layout.cls]
    order = np.lexsort((layout.li, layout.lj, layout.district))
    d, i, j, zz = layout.district[order], layout.li[order], layout.lj[order], z[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = (d[1:] != d[:-1]) | (j[1:] != j[:-1]) | (i[1:] != i[:-1] + 1) | (zz[1:] != zz[:-1])
    first = np.flatnonzero(start)
    last = np.append(first[1:], len(order)) - 1
    rd = d[first]
    boxes = polygons_in_world(
        layout.frames,
        rd,
        box_frames(i[first] * CELL, j[first] * CELL, (i[last] + 1) * CELL, (j[first] + 1) * CELL),
    )
    shapely.prepare(layout.interior)
    runs = polygonal(valid(shapely.intersection(boxes, layout.interior[rd])), min_area=1e-6)
    ok = runs != None  # noqa: E711 - object array
    strips = layout.strips
    zs = lut[strips.kind.to_numpy(np.int64)]
    geoms = np.concatenate([runs[ok], strips.geometry.to_numpy(dtype=object)])
    muni = np.concatenate([layout.d_muni[rd[ok]], strips.muni.to_numpy(np.int64)])
    zon = np.concatenate([zz[first][ok], zs])
    parts, src = shapely.get_parts(geoms, return_index=True)
    return pd.DataFrame(
        {
            "muni": muni[src],
            "hoofdgroep": np.array([v[0] for v in zon_names])[zon[src]],
            "naam": np.array([v[1] for v in zon_names])[zon[src]],
            "geometry": parts,
        }
    )


def _planted(
    layout: Layout,
    parcels: gpd.GeoDataFrame,
    P: pd.DataFrame,
    panden: gpd.GeoDataFrame,
    panden_parcel: np.ndarray,
    role: np.ndarray,
    vbo: gpd.GeoDataFrame,
    urole_pand: np.ndarray,
    purpose: np.ndarray,
    vacant_years: np.ndarray,
    stops: gpd.GeoDataFrame,
) -> dict[str, Any]:
    """The manifest of planted opportunities and non-starters (ids and expected outcome)."""
    mu = layout.munis
    kind = P.kind.to_numpy()
    pm = P.muni.to_numpy()
    trein = stops[stops.kind == "trein"]
    panden_muni = pm[panden_parcel]
    # lookups built once (the planted objects are few; the layers are large)
    first_parcel: dict[tuple[int, int], int] = {}
    for klass in (w.PLOT, w.N2K_PLANT):
        for q in np.flatnonzero(kind == klass)[::-1]:
            first_parcel[(klass, int(pm[q]))] = int(q)
    first_pand: dict[tuple[int, int], int] = {}
    special = np.flatnonzero(role != ROLE_NONE)
    for q in special[::-1]:
        first_pand[(int(role[q]), int(panden_muni[q]))] = int(q)
    unit_idx = np.flatnonzero(np.isin(urole_pand, special))
    units_of: dict[int, np.ndarray] = {
        int(b): unit_idx[urole_pand[unit_idx] == b] for b in np.unique(urole_pand[unit_idx])
    }
    vbo_ids = vbo.identificatie.iloc[unit_idx]
    vbo_id_of = dict(zip(unit_idx.tolist(), vbo_ids.tolist(), strict=True))
    vbo_area = vbo.oppervlakte.to_numpy()
    items = []
    for k in range(len(mu)):
        code = mu.code[k]

        def parcel_of(klass: int, _k: int = k) -> int:
            return first_parcel.get((klass, _k), -1)

        def pand_of(r: int, _k: int = k) -> int:
            return first_pand.get((r, _k), -1)

        def ids_of(pand: int) -> list[str]:
            return [vbo_id_of[int(u)] for u in units_of.get(pand, [])]

        tl = parcel_of(w.PLOT)
        if tl >= 0:
            geom = parcels.geometry.iloc[tl]
            items.append(
                {
                    "id": _canonical(parcels.identificatie.iloc[tl]),
                    "source_id": parcels.identificatie.iloc[tl],
                    "layer": "parcels",
                    "gemeentecode": code,
                    "kind": "tijdelijke_locatie",
                    "expected": "top_tier",
                    "opportunity_type": "tijdelijke_locatie",
                    "description": "Vacant provincial plot near the station, zoned bedrijventerrein, quiet, near shops.",
                    "area_m2": round(float(geom.area), 1),
                    "dist_trein_m": round(float(trein.distance(geom).min()), 1),
                    "owner_class": "provincie",
                    "zoning_hoofdgroep": "bedrijventerrein",
                    "demolished_pand_id": panden.identificatie.iloc[pand_of(ROLE_DEMOLISHED)]
                    if pand_of(ROLE_DEMOLISHED) >= 0
                    else None,
                }
            )
        kt = pand_of(ROLE_KT)
        if kt >= 0:
            geom = panden.geometry.iloc[kt]
            items.append(
                {
                    "id": panden.identificatie.iloc[kt],
                    "source_id": panden.identificatie.iloc[kt],
                    "layer": "buildings",
                    "gemeentecode": code,
                    "kind": "kantoortransformatie",
                    "expected": "top_tier",
                    "opportunity_type": "kantoortransformatie",
                    "description": "Long-vacant 1978 office slab of 5 storeys near the station.",
                    "vbo_ids": ids_of(kt),
                    "bouwjaar": int(panden.bouwjaar.iloc[kt]),
                    "bouwlagen": int(panden.bouwlagen.iloc[kt]),
                    "floor_area_m2": float(vbo_area[units_of.get(kt, [])].sum()),
                    "vacant_years": 5.6,
                    "dist_trein_m": round(float(trein.distance(geom).min()), 1),
                }
            )
        pl = pand_of(ROLE_PL_SHOP)
        if pl >= 0:
            own_units = units_of.get(pl, np.zeros(0, int))
            sel = own_units[(purpose[own_units] & ob.WINKEL) > 0]
            u = int(sel[0])
            items.append(
                {
                    "id": vbo.identificatie.iloc[u],
                    "source_id": vbo.identificatie.iloc[u],
                    "layer": "units",
                    "gemeentecode": code,
                    "kind": "plinttransformatie",
                    "expected": "top_tier",
                    "opportunity_type": "plinttransformatie",
                    "description": "Vacant ground-floor shop on a quiet side street, homes above, outside the core.",
                    "pand_id": panden.identificatie.iloc[pl],
                    "oppervlakte_m2": int(vbo.oppervlakte.iloc[u]),
                    "straatnaam": vbo.openbare_ruimte_naam.iloc[u],
                    "vacant_years": float(vacant_years[u]),
                }
            )
        n2k = parcel_of(w.N2K_PLANT)
        if n2k >= 0:
            items.append(
                {
                    "id": _canonical(parcels.identificatie.iloc[n2k]),
                    "source_id": parcels.identificatie.iloc[n2k],
                    "layer": "parcels",
                    "gemeentecode": code,
                    "kind": "natura2000",
                    "expected": "excluded",
                    "opportunity_type": "tijdelijke_locatie",
                    "reason_code": "natura2000",
                    "description": "Unbuilt plot inside a Natura 2000 area.",
                    "area_m2": round(float(parcels.geometry.iloc[n2k].area), 1),
                }
            )
        ev = pand_of(ROLE_EV)
        if ev >= 0:
            items.append(
                {
                    "id": panden.identificatie.iloc[ev],
                    "source_id": panden.identificatie.iloc[ev],
                    "layer": "buildings",
                    "gemeentecode": code,
                    "kind": "externe_veiligheid",
                    "expected": "excluded",
                    "opportunity_type": "kantoortransformatie",
                    "reason_code": "externe_veiligheid",
                    "description": "Partly vacant office on the industrial estate, inside an external-safety zone.",
                    "vbo_ids": ids_of(ev),
                }
            )
    return {
        "synthetic": True,
        "reference_date": str(REF_DATE),
        "note": (
            "Planted sites: 'id' is the canonical id the readers produce (parcel_id without the "
            "NL.IMKAD.KadastraalObject. prefix, pand_id, vbo_id); 'source_id' is the id in the file. "
            "expected: top_tier (tier A or B, among the best of its type in its municipality) or excluded (reason_code)."
        ),
        "items": items,
    }


def _canonical(parcel_identificatie: str) -> str:
    return parcel_identificatie.removeprefix("NL.IMKAD.KadastraalObject.")
