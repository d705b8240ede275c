"""The sources of the revised scan model in the synthetic province, and its planted cases.

Adds to a generated world (docs/contracts.md §A, issue 9): the province's built-up area (BSD:
the towns' street blocks and estates), permanent housing plans (town-edge extensions, estate
transformations, and planted ones), one noise raster per source (road, rail, industry), soft
constraint zones (external-safety aandachtsgebieden, milieuzonering, soil, unexploded
ordnance, archaeology, grid congestion, nitrogen-sensitive habitat), and per municipality the
planted cases of the model: a plot temporary until development, a crowded-out plot, a field
far outside the BSD, a partly vacant and a fully occupied office, a large vacant ground floor
and a plot cut by a high-voltage strip (listed in ``planted.json``). Everything is derived
from the world's cells and objects (vectorised; small loops over municipalities only), so the
same seed gives the same files.
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
from pipeline.sample.objects import Objects
from pipeline.sample.tables import REF_DATE, SOURCE_NAME, Tables
from pipeline.sample.world import CELL, World, grid_distance
from pipeline.schemas import CRS

REF_YEAR = int(str(REF_DATE)[:4])
#: The planted kinds of the revised model (docs/contracts.md §A, planted.json).
MODEL_KINDS = (
    "tot_ontwikkeling",
    "verdringing",
    "buiten_bsd",
    "deels_leeg_kantoor",
    "vol_kantoor",
    "grote_plint",
    "hoogspanning_strook",
)


@dataclass
class ModelLayers:
    """The model's extra sources and planted items."""

    bsd: gpd.GeoDataFrame
    plans: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame  # rows to add to the exclusion zones
    items: list[dict[str, Any]] = field(default_factory=list)


def _canonical(identificatie: str) -> str:
    return identificatie.removeprefix("NL.IMKAD.KadastraalObject.")


def _cells_polygons(world: World, mask: np.ndarray) -> dict[int, Any]:
    """Per municipality, the union of the cells in ``mask`` (cell-edge polygons)."""
    from rasterio import features
    from rasterio.transform import from_origin

    label = np.where(mask, world.label, -1).reshape(world.ny, world.nx)[::-1].astype(np.int32)
    transform = from_origin(world.x0, world.y0 + world.ny * CELL, CELL, CELL)
    parts: dict[int, list[Any]] = {}
    for geom, value in features.shapes(label, mask=label >= 0, transform=transform, connectivity=4):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    return {k: shapely.union_all(v) for k, v in parts.items()}


def bsd_layer(world: World) -> gpd.GeoDataFrame:
    """The BSD: every town's street blocks (homes, centre, offices, estates, parks, …)."""
    urban = np.isin(world.cls, w.BLOCK_CLASSES)
    polys = _cells_polygons(world, urban)
    mu = world.munis
    keys = sorted(polys)
    return gpd.GeoDataFrame(
        {"naam": [f"BSD {mu.name[k]} (synthetisch)" for k in keys]},
        geometry=[polys[k] for k in keys],
        crs=CRS,
    )


def noise_by_source(world: World) -> dict[str, np.ndarray]:
    """Noise grids (dB Lden, north row first) per source on the preset's noise raster grid.

    Road and rail: line sources (``72/75 − 20 log10(d / 10)``, as the combined raster);
    industry: ``58 − 20 log10(max(d, 25) / 25)`` from the edge of each industrial estate.
    """
    cell = world.preset.noise_cell
    bx0, by0, bx1, by1 = world.preset.bounds
    nx = round((bx1 - bx0) / cell)
    ny = round((by1 - by0) / cell)
    grid: dict[str, Any] = {"x0": bx0, "y0": by0, "cell": cell, "nx": nx, "ny": ny}
    d_rail = grid_distance(world.rail, max_dist=1_500, **grid)
    d_road = grid_distance(world.roads, max_dist=1_500, **grid)
    rail = w.NOISE_RAIL_10M - 20.0 * np.log10(np.maximum(d_rail, 10.0) / 10.0)
    road = w.NOISE_ROAD_10M - 20.0 * np.log10(np.maximum(d_road, 10.0) / 10.0)
    xs = bx0 + (np.arange(nx) + 0.5) * cell
    ys = by0 + (np.arange(ny) + 0.5) * cell
    d_ind = np.full((ny, nx), np.inf, dtype=np.float32)
    mu = world.munis
    for x, y, r in zip(mu.ix, mu.iy, mu.ri, strict=True):
        reach = r + 1_500
        i0, i1 = np.searchsorted(xs, [x - reach, x + reach])
        j0, j1 = np.searchsorted(ys, [y - reach, y + reach])
        d = np.hypot(xs[None, i0:i1] - x, ys[j0:j1, None] - y) - r
        np.minimum(d_ind[j0:j1, i0:i1], np.maximum(d, 0.0), out=d_ind[j0:j1, i0:i1])
    industry = 58.0 - 20.0 * np.log10(np.maximum(d_ind, 25.0) / 25.0)
    out = {}
    for key, values in (("road", road), ("rail", rail), ("industry", industry)):
        v = np.round(np.clip(values, 20.0, 90.0), 1).astype(np.float32)
        if world.preset.coast:
            v[w._sea(xs[None, :], ys[:, None])] = -9999.0
        out[key] = v[::-1]
    return out


def _ring(x: float, y: float, outer: float, inner: float) -> Any:
    return (
        shapely.Point(x, y)
        .buffer(outer, quad_segs=16)
        .difference(shapely.Point(x, y).buffer(inner, quad_segs=16))
    )


def soft_zones(world: World, zones: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Zone polygons of the soft constraints (aandachtspunten), derived from the world."""
    mu = world.munis
    rows: list[tuple[str, str, Any]] = []
    for k in range(len(mu)):
        nm = mu.name[k]
        ix, iy, rev, ri = mu.ix[k], mu.iy[k], mu.rev[k], mu.ri[k]
        rows.append(
            (
                "ev_aandachtsgebied",
                f"Aandachtsgebied brand {nm} (synthetisch)",
                _ring(ix, iy, rev + 250, rev),
            )
        )
        rows.append(
            (
                "milieuzonering",
                f"Milieuzone bedrijventerrein {nm} (synthetisch)",
                _ring(ix, iy, ri + 100, ri),
            )
        )
        rows.append(
            (
                "bodem",
                f"Bodemverontreiniging {nm} (synthetisch)",
                shapely.Point(ix, iy).buffer(0.5 * ri, quad_segs=12),
            )
        )
        ang = rng.uniform(0, 2 * np.pi)
        r = 0.5 * mu.R[k]
        rows.append(
            (
                "nge",
                f"NGE-verdacht gebied {nm} (synthetisch)",
                shapely.Point(mu.tx[k] + r * np.cos(ang), mu.ty[k] + r * np.sin(ang)).buffer(
                    350, quad_segs=12
                ),
            )
        )
        rows.append(
            (
                "archeologie",
                f"Archeologische verwachting {nm} (synthetisch)",
                shapely.Point(mu.tx[k], mu.ty[k]).buffer(mu.rc[k] + 200, quad_segs=16),
            )
        )
    n2k = zones[zones["kind"] == "natura2000"]
    for geom, naam in zip(n2k.geometry, n2k["naam"], strict=True):
        rows.append(("stikstofgevoelig", f"Stikstofgevoelige habitat, {naam}", geom))
    bx0, by0, bx1, by1 = world.preset.bounds
    # grid congestion in the eastern third of the region (a transformer station at capacity)
    rows.append(
        (
            "netcongestie",
            "Netcongestie afname (synthetisch)",
            shapely.box(bx0 + (bx1 - bx0) * 2 / 3, by0, bx1, by1),
        )
    )
    return gpd.GeoDataFrame(
        {"kind": [r[0] for r in rows], "naam": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=CRS,
    )


def build_model(layout: Layout, objs: Objects, t: Tables) -> ModelLayers:
    """The model's sources and planted cases; changes ``t`` (vacancy, units) in place."""
    world = layout.world
    rng = np.random.default_rng([world.seed, 9])
    bsd = bsd_layer(world)
    extra_zones = soft_zones(world, t.zones, rng)
    info = _parcel_info(world, objs)
    plans, plan_items = _plans_and_plants(layout, objs, t, info, bsd, rng)
    office_items = _plant_offices(world, objs, t)
    shop_items = _plant_large_shop(world, objs, t)
    strip_zones, strip_items = _plant_strips(world, objs, t, info, plans)
    zones = pd.concat([extra_zones, strip_zones], ignore_index=True)
    items = plan_items + office_items + shop_items + strip_items
    order = {k: i for i, k in enumerate(MODEL_KINDS)}
    items.sort(key=lambda it: (it["gemeentecode"], order[it["kind"]]))
    return ModelLayers(bsd=bsd, plans=plans, zones=gpd.GeoDataFrame(zones, crs=CRS), items=items)


def _world_cells(world: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    i = np.clip(np.floor((x - world.x0) / CELL).astype(np.int64), 0, world.nx - 1)
    j = np.clip(np.floor((y - world.y0) / CELL).astype(np.int64), 0, world.ny - 1)
    return j * world.nx + i


def _noise_at(world: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The combined Lden of the world's 100 m cell under each point."""
    c = _world_cells(world, x, y)
    return w.lden(world.d_rail[c], world.d_road[c])


def _below_limits(world: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points whose road and rail noise stay below the limit values (well clear of both)."""
    c = _world_cells(world, x, y)
    return (world.d_rail[c] > 100) & (world.d_road[c] > 100)


def _quiet(world: World, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points far enough from railways and main roads to stay below the noise standards."""
    return _noise_at(world, x, y) < 48.0


def _parcel_info(world: World, objs: Objects) -> pd.DataFrame:
    P = objs.parcels
    geoms = objs.parcel_geoms
    built = np.zeros(len(P), dtype=bool)
    built[objs.buildings.parcel.to_numpy()] = True
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    return pd.DataFrame(
        {
            "kind": P.kind.to_numpy(),
            "muni": P.muni.to_numpy(),
            "built": built,
            "x": x,
            "y": y,
            "area": shapely.area(geoms),
            "quiet": _quiet(world, x, y),
        }
    )


def _item(t: Tables, q: int, code: str, kind: str, **extra: Any) -> dict[str, Any]:
    sid = t.parcels.identificatie.iloc[q]
    return {
        "id": _canonical(sid),
        "source_id": sid,
        "layer": "parcels",
        "gemeentecode": code,
        "opportunity_type": "tijdelijke_locatie",
        "kind": kind,
        **extra,
    }


def _plans_and_plants(
    layout: Layout,
    objs: Objects,
    t: Tables,
    info: pd.DataFrame,
    bsd: gpd.GeoDataFrame,
    rng: np.random.Generator,
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """Housing plans (town-edge extensions, estate transformations) and the planted plan cases."""
    world = layout.world
    mu = world.munis
    kind = info.kind.to_numpy()
    muni = info.muni.to_numpy()
    built = info.built.to_numpy()
    xs, ys = info.x.to_numpy(), info.y.to_numpy()
    geoms = objs.parcel_geoms
    plans: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    bsd_union = shapely.union_all(bsd.geometry.to_numpy())
    shapely.prepare(bsd_union)
    # the original planted sites keep their outcome: no plan may touch them
    blocks = np.concatenate([v[v >= 0] for v in layout.planted.values()])
    keep_clear = shapely.union_all(
        shapely.buffer(shapely.points(layout.cx[blocks], layout.cy[blocks]), 150.0)
    )
    # --- background plans: farmland just outside the towns (extensions), empty estate plots
    farm = np.flatnonzero((kind == w.FARM) & ~built & (info.area.to_numpy() >= 5_000))
    d_bsd = shapely.distance(bsd_union, shapely.points(xs[farm], ys[farm]))
    for k in range(len(mu)):
        code = mu.code[k]
        near = farm[(muni[farm] == k) & (d_bsd < 250)]
        n_ext = min(len(near), 3)
        picks = rng.choice(near, n_ext, replace=False) if n_ext else np.zeros(0, dtype=np.int64)
        for e, q in enumerate(picks):
            geom = shapely.box(xs[q] - 250, ys[q] - 150, xs[q] + 250, ys[q] + 150)
            start = int(REF_YEAR + rng.integers(1, 12))
            status = "hard" if rng.random() < 0.5 else "zacht"
            if geom.intersects(keep_clear):
                continue
            plans.append(
                {
                    "plan_id": f"PC-{code[2:]}-U{e + 1}",
                    "plannaam": f"Uitbreiding {mu.name[k]} {e + 1}",
                    "woningen": int(geom.area * 35 / 10_000),
                    "startjaar": start,
                    "status": status,
                    "geometry": geom,
                }
            )
        estate = np.flatnonzero((kind == w.INDUSTRY) & ~built & (muni == k))
        chosen = estate[rng.random(len(estate)) < 0.35]
        for e, q in enumerate(chosen):
            plans.append(
                {
                    "plan_id": f"PC-{code[2:]}-T{e + 1}",
                    "plannaam": f"Transformatie bedrijventerrein {mu.name[k]} {e + 1}",
                    "woningen": int(info.area.iloc[q] * 60 / 10_000),
                    "startjaar": int(REF_YEAR + rng.integers(1, 9)),
                    "status": "zacht",
                    "geometry": geoms[q],
                }
            )
    # --- planted: quiet parks near the centre without a pavilion
    parks = np.flatnonzero(
        (kind == w.GREEN) & ~built & info.quiet.to_numpy() & (info.area.to_numpy() >= 4_000)
    )
    for k in range(len(mu)):
        code = mu.code[k]
        mine = parks[muni[parks] == k]
        if len(mine) < 3:
            continue
        d = np.hypot(xs[mine] - mu.tx[k], ys[mine] - mu.ty[k])
        chosen = mine[np.argsort(d, kind="stable")[:2]]
        for q, what, start in (
            (chosen[0], "tot_ontwikkeling", REF_YEAR + 8),
            (chosen[1], "verdringing", REF_YEAR + 1),
        ):
            later = what == "tot_ontwikkeling"
            plans.append(
                {
                    "plan_id": f"PC-{code[2:]}-P{'O' if later else 'V'}",
                    "plannaam": f"{'Parkrand' if later else 'Parkzicht'} {mu.name[k]}",
                    "woningen": 45,
                    "startjaar": int(start),
                    "status": "hard",
                    "geometry": geoms[q],
                }
            )
            if later:
                items.append(
                    _item(
                        t,
                        int(q),
                        code,
                        what,
                        expected="candidate",
                        expect_values={
                            "beschikbaarheid": "tot_ontwikkeling",
                            "beschikbaar_tot": int(start),
                        },
                        description=f"Municipal park with a hard housing plan starting in {start}: "
                        "temporary until development.",
                    )
                )
            else:
                items.append(
                    _item(
                        t,
                        int(q),
                        code,
                        what,
                        expected="excluded",
                        reason_code="verdringing",
                        description=f"Municipal park with a hard housing plan starting in {start}: "
                        "temporary homes would crowd it out.",
                    )
                )
        # a field far outside the BSD (no farmstead on it)
        far = (muni[farm] == k) & (d_bsd > 1_500)
        if far.any():
            q = int(farm[far][np.argmin(d_bsd[far])])
            items.append(
                _item(
                    t,
                    q,
                    code,
                    "buiten_bsd",
                    expected="excluded",
                    reason_code="buiten_bsd",
                    description="Unbuilt farmland more than 1.5 km outside the built-up area (BSD).",
                )
            )
    frame = pd.DataFrame([{k: v for k, v in p.items() if k != "geometry"} for p in plans])
    gdf = gpd.GeoDataFrame(frame, geometry=[p["geometry"] for p in plans], crs=CRS)
    return gdf, items


def _building_points(objs: Objects) -> tuple[np.ndarray, np.ndarray]:
    pts = shapely.point_on_surface(objs.building_geoms)
    return shapely.get_x(pts), shapely.get_y(pts)


def _plant_offices(world: World, objs: Objects, t: Tables) -> list[dict[str, Any]]:
    """A partly vacant (60–75 % of equal units) and a fully occupied office per municipality."""
    B, U = objs.buildings, objs.units
    upand = U.pand.to_numpy()
    n_units = np.bincount(upand, minlength=len(B))
    office_only = np.ones(len(B), dtype=bool)
    np.logical_and.at(office_only, upand, U.purpose.to_numpy() == ob.KANTOOR)
    kind = objs.parcels.kind.to_numpy()[B.parcel.to_numpy()]
    muni = objs.parcels.muni.to_numpy()[B.parcel.to_numpy()]
    bx, by = _building_points(objs)
    current = t.panden.status.to_numpy() == "Pand in gebruik"
    cand = np.flatnonzero(
        (kind == w.OFFICE)
        & office_only
        & (n_units >= 3)
        & (B.role.to_numpy() == 0)
        & current
        & _below_limits(world, bx, by)
    )
    vbo_ids = t.vbo.identificatie.to_numpy()
    vac = t.vacancy
    items: list[dict[str, Any]] = []
    for k in range(len(world.munis)):
        code = world.munis.code[k]
        mine = cand[muni[cand] == k]
        if len(mine) < 2:
            continue
        for b, what in ((int(mine[0]), "deels_leeg_kantoor"), (int(mine[1]), "vol_kantoor")):
            ids = vbo_ids[np.flatnonzero(upand == b)]
            vac = vac[~vac.verblijfsobject_id.isin(ids)]
            n_vacant = round(0.65 * len(ids))  # 3 -> 2, 4 -> 3, 5 -> 3, 6 -> 4: 60–75 %
            if what == "deels_leeg_kantoor":
                since = str(REF_DATE - np.timedelta64(int(3.5 * 365.25), "D"))
                vac = pd.concat(
                    [
                        vac,
                        pd.DataFrame(
                            {
                                "verblijfsobject_id": ids[:n_vacant],
                                "leegstand_sinds": since,
                                "bron": SOURCE_NAME,
                            }
                        ),
                    ],
                    ignore_index=True,
                )
            pid = t.panden.identificatie.iloc[b]
            item: dict[str, Any] = {
                "id": pid,
                "source_id": pid,
                "layer": "buildings",
                "gemeentecode": code,
                "opportunity_type": "kantoortransformatie",
                "kind": what,
                "vbo_ids": list(ids),
            }
            if what == "deels_leeg_kantoor":
                item.update(
                    expected="candidate",
                    vacant_share=round(n_vacant / len(ids), 3),
                    description=f"Office of {len(ids)} equal units, {n_vacant} of them vacant for "
                    "3.5 years (60–75 % of the floor).",
                )
            else:
                item.update(
                    expected="excluded",
                    reason_code="niet_leeg",
                    description=f"Office of {len(ids)} units, all in use.",
                )
            items.append(item)
    t.vacancy = vac.sort_values("verblijfsobject_id", kind="mergesort").reset_index(drop=True)
    return items


def _plant_large_shop(world: World, objs: Objects, t: Tables) -> list[dict[str, Any]]:
    """A vacant single-storey ground floor of about 950 m² per municipality (a former
    supermarket: the town's sports hall nearest to the centre is turned into one)."""
    B, U = objs.buildings, objs.units
    upand = U.pand.to_numpy()
    n_units = np.bincount(upand, minlength=len(B))
    kind = objs.parcels.kind.to_numpy()[B.parcel.to_numpy()]
    muni = objs.parcels.muni.to_numpy()[B.parcel.to_numpy()]
    bx, by = _building_points(objs)
    current = t.panden.status.to_numpy() == "Pand in gebruik"
    cand = np.flatnonzero(
        (kind == w.SPORT)
        & (B.floors.to_numpy() == 1)
        & (n_units == 1)
        & current
        & _below_limits(world, bx, by)
    )
    mu = world.munis
    items: list[dict[str, Any]] = []
    for k in range(len(mu)):
        mine = cand[muni[cand] == k]
        if not len(mine):
            continue
        b = int(mine[np.argmin(np.hypot(bx[mine] - mu.tx[k], by[mine] - mu.ty[k]))])
        u = int(np.flatnonzero(upand == b)[0])
        area = int(t.vbo.oppervlakte.iloc[u])
        t.vbo.loc[t.vbo.index[u], "gebruiksdoel"] = "winkelfunctie"
        t.vbo.loc[t.vbo.index[u], "status"] = "Verblijfsobject in gebruik"
        t.panden.loc[t.panden.index[b], "gebruiksdoel"] = "winkelfunctie"
        vid = t.vbo.identificatie.iloc[u]
        since = str(REF_DATE - np.timedelta64(int(3.2 * 365.25), "D"))
        t.vacancy = (
            pd.concat(
                [
                    t.vacancy[t.vacancy.verblijfsobject_id != vid],
                    pd.DataFrame(
                        {
                            "verblijfsobject_id": [vid],
                            "leegstand_sinds": [since],
                            "bron": [SOURCE_NAME],
                        }
                    ),
                ],
                ignore_index=True,
            )
            .sort_values("verblijfsobject_id", kind="mergesort")
            .reset_index(drop=True)
        )
        items.append(
            {
                "id": vid,
                "source_id": vid,
                "layer": "units",
                "gemeentecode": mu.code[k],
                "opportunity_type": "plinttransformatie",
                "kind": "grote_plint",
                "expected": "candidate",
                "expect_values": {"capacity_units": 4},
                "pand_id": t.panden.identificatie.iloc[b],
                "oppervlakte_m2": area,
                "description": f"A vacant single-storey ground floor of {area} m² (a former "
                "supermarket): at most 4 homes.",
            }
        )
    return items


def _plant_strips(
    world: World, objs: Objects, t: Tables, info: pd.DataFrame, plans: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]]]:
    """A park whose north edge lies in a high-voltage strip, per municipality: the strip takes
    10–40 % of it, the rest stays a usable plot (checked here with the scan's net-area rule)."""
    geoms = objs.parcel_geoms
    planned = shapely.union_all(plans.geometry.to_numpy()) if len(plans) else shapely.Polygon()
    kind, muni = info.kind.to_numpy(), info.muni.to_numpy()
    parks = np.flatnonzero(
        (kind == w.GREEN)
        & ~info.built.to_numpy()
        & info.quiet.to_numpy()
        & (info.area.to_numpy() >= 5_000)
    )
    parks = parks[~shapely.intersects(planned, geoms[parks])]
    # nor in another hard zone (a high-voltage line of the province crossing the same park
    # would exclude it as a whole instead of cutting its strip off)
    hard = t.zones[t.zones["kind"] != "kernwinkelgebied"].geometry.to_numpy()
    if len(hard):
        parks = parks[~shapely.intersects(shapely.union_all(hard), geoms[parks])]
    b = shapely.bounds(geoms[parks])
    height = b[:, 3] - b[:, 1]
    strips = shapely.box(b[:, 0] - 10, b[:, 3] - 0.3 * height, b[:, 2] + 10, b[:, 3] + 10)
    frac = shapely.area(shapely.intersection(geoms[parks], strips)) / shapely.area(geoms[parks])
    rest = shapely.buffer(shapely.difference(geoms[parks], strips), -5.0)
    usable = (
        (frac >= 0.1)
        & (frac <= 0.4)
        & (shapely.area(rest) >= 2_500)
        & ~shapely.is_empty(shapely.buffer(rest, -10.0))
    )
    parks, strips = parks[usable], strips[usable]
    mu = world.munis
    rows: list[tuple[str, str, Any]] = []
    items: list[dict[str, Any]] = []
    for k in range(len(mu)):
        sel = np.flatnonzero(muni[parks] == k)
        if not len(sel):
            continue
        x, y = info.x.to_numpy()[parks[sel]], info.y.to_numpy()[parks[sel]]
        pick = sel[np.argsort(np.hypot(x - mu.tx[k], y - mu.ty[k]), kind="stable")[0]]
        q = int(parks[pick])
        rows.append(
            (
                "hoogspanning",
                f"Hoogspanningsverbinding 50 kV {mu.name[k]} (synthetisch)",
                strips[pick],
            )
        )
        items.append(
            _item(
                t,
                q,
                mu.code[k],
                "hoogspanning_strook",
                expected="candidate",
                description="Municipal park whose north edge lies in a high-voltage strip: the "
                "strip is cut off the net area.",
            )
        )
    zones = gpd.GeoDataFrame(
        {"kind": [r[0] for r in rows], "naam": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=CRS,
    )
    return zones, items
