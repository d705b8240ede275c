"""The plan for people: the JSON of ``GET /api/match`` (and ``kansenkaart match --json``) and the
rich terminal tables of ``kansenkaart match``. Scoping by municipality happens here, in one place:
a chain is in scope when it touches one of the municipalities (its batch's current site or a
stop); a stop outside them is shown without its name and scan id (docs/contracts.md §G.7)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pyproj import Transformer

from pipeline.match.plan import Chain, MatchPlan, Parts, Unplaced
from pipeline.match.registries import Registries

if TYPE_CHECKING:
    from rich.console import Console

_TO_WGS84 = Transformer.from_crs(28992, 4326, always_xy=True)


def _lonlat(x: float, y: float, *, exact: bool = True) -> tuple[float, float]:
    """WGS84 of an RD point: 6 decimals, or 2 (about 1 km) outside the caller's scope."""
    lon, lat = _TO_WGS84.transform(x, y)
    digits = 6 if exact else 2
    return round(float(lon), digits), round(float(lat), digits)


def _sum_parts(chains: list[Chain], unplaced: list[Unplaced], idle_eur: float) -> Parts:
    idle_u = sum(u.idle_home_years for u in unplaced)
    return Parts(
        idle_home_years=sum(c.parts.idle_home_years for c in chains) + idle_u,
        idle_eur=sum(c.parts.idle_eur for c in chains) + idle_u * idle_eur,
        home_km=sum(c.parts.home_km for c in chains),
        transport_eur=sum(c.parts.transport_eur for c in chains),
        moves=sum(c.parts.moves for c in chains),
        relocation_eur=sum(c.parts.relocation_eur for c in chains),
    )


def scoped(
    plan: MatchPlan, gemeenten: Collection[str] | None
) -> tuple[list[Chain], list[Unplaced]]:
    """The chains that touch ``gemeenten`` and the unplaced homes of their batches (all when
    ``gemeenten`` is ``None``)."""
    if gemeenten is None:
        return list(plan.chains), list(plan.unplaced)
    codes = set(gemeenten)
    chains = [c for c in plan.chains if c.gemeentecodes & codes]
    unplaced = [u for u in plan.unplaced if u.gemeentecode in codes]
    return chains, unplaced


def plan_json(
    plan: MatchPlan, registries: Registries, *, gemeenten: Collection[str] | None = None
) -> dict[str, Any]:
    """The plan as the api answers it, limited to ``gemeenten`` (``None``: the whole region)."""
    cfg = plan.config
    assert cfg is not None
    codes = None if gemeenten is None else set(gemeenten)

    def visible(code: str) -> bool:
        return codes is None or code in codes

    chains, unplaced = scoped(plan, codes)
    batches = registries.batches.set_index("batch_id", drop=False)
    offers = registries.offers.set_index("offer_id", drop=False)
    batch_rows: dict[str, dict[str, Any]] = {
        str(r["batch_id"]): {str(k): v for k, v in r.items()}
        for r in registries.batches.to_dict(orient="records")
    }

    def batch_json(bid: str) -> dict[str, Any]:
        b = batch_rows[bid]
        inside = visible(b["gemeentecode"])
        lon, lat = _lonlat(b["x"], b["y"], exact=inside)
        return {
            "partij_id": bid,
            "eigenaar": b["owner"],
            "aantal": int(b["units"]),
            "woningtype": b["unit_type"],
            "doelgroep": b["target_group"],
            "gemeentecode": b["gemeentecode"],
            "locatie": b["location"] if inside else None,
            "vrij_vanaf": b["free_from"],
            "restlevensduur_jaren": float(b["life_left_years"]),
            "verhuiskosten_per_woning": float(b["relocation_eur_per_home"]),
            "lon": lon,
            "lat": lat,
        }

    chain_list = []
    occupancy: dict[str, list[dict[str, Any]]] = {}
    for c in chains:
        stops = []
        for s in c.stops:
            inside = visible(s.gemeentecode)
            lon, lat = _lonlat(s.x, s.y, exact=inside)
            stops.append(
                {
                    "aanbod_id": s.offer_id,
                    "site_id": s.site_id if inside else None,
                    "naam": s.label if inside else None,
                    "gemeentecode": s.gemeentecode,
                    "in_scope": inside,
                    "from": s.start,
                    "to": s.end,
                    "months": s.months,
                    "km": s.km,
                    "lon": lon,
                    "lat": lat,
                }
            )
            if inside:
                occupancy.setdefault(s.offer_id, []).append(
                    {
                        "chain_id": c.chain_id,
                        "partij_id": c.batch_id,
                        "units": c.units,
                        "from": s.start,
                        "to": s.end,
                    }
                )
        chain_list.append(
            {
                "chain_id": c.chain_id,
                "batch": batch_json(c.batch_id),
                "units": c.units,
                "free_from": c.free_from,
                "useful_until": c.useful_until,
                "gemeentecodes": sorted(c.gemeentecodes),
                "stops": stops,
                "objective": c.parts.as_dict(),
            }
        )
    sites = []
    for oid, o in offers.iterrows():
        if not visible(o["gemeentecode"]):
            continue
        lon, lat = _lonlat(o["x"], o["y"])
        occ = sorted(occupancy.get(str(oid), []), key=lambda r: (r["from"], r["chain_id"]))
        sites.append(
            {
                "aanbod_id": str(oid),
                "site_id": o["site_id"],
                "naam": o["label"],
                "gemeentecode": o["gemeentecode"],
                "capaciteit": int(o["capacity"]),
                "beschikbaar_van": o["available_from"],
                "beschikbaar_tot": o["available_to"],
                "doelgroepen": o["target_groups"],
                "aangeboden_door": o["offered_by"],
                "lon": lon,
                "lat": lat,
                "occupancy": occ,
                "max_units": max((r["units"] for r in _peak(occ)), default=0),
            }
        )
    batch_ids = sorted(
        {c.batch_id for c in chains}
        | {u.batch_id for u in unplaced}
        | {
            str(b)
            for b, code in zip(batches["batch_id"], batches["gemeentecode"], strict=True)
            if visible(code)
        }
    )
    by_batch: dict[str, list[Chain]] = {}
    for c in chains:
        by_batch.setdefault(c.batch_id, []).append(c)
    left = {u.batch_id: u for u in unplaced}
    batch_list = []
    for bid in batch_ids:
        entry = batch_json(bid)
        own = by_batch.get(bid, [])
        entry["chains"] = [c.chain_id for c in own]
        entry["useful_until"] = own[0].useful_until if own else None
        entry["placed_units"] = sum(c.units for c in own)
        entry["unplaced_units"] = left[bid].units if bid in left else 0
        entry["idle_home_years"] = round(
            sum(c.parts.idle_home_years for c in own)
            + (left[bid].idle_home_years if bid in left else 0.0),
            4,
        )
        batch_list.append(entry)
    parts = _sum_parts(chains, unplaced, cfg.weights.idle_eur_per_home_year)
    answer: dict[str, Any] = {
        "scope": "regio" if codes is None else "gemeenten",
        "reference_month": plan.reference_month,
        "horizon_end": plan.horizon_end,
        "objective": parts.as_dict(),
        "weights": cfg.weights.model_dump(),
        "rules": {
            "horizon_years": cfg.horizon_years,
            "minimum_stay_months": cfg.minimum_stay_months,
            "max_gap_months": cfg.max_gap_months,
            "max_distance_km": cfg.max_distance_km,
            "road_factor": cfg.road_factor,
            "split_multiple": cfg.split_multiple,
        },
        "chains": chain_list,
        "unplaced": [
            {
                "partij_id": u.batch_id,
                "gemeentecode": u.gemeentecode,
                "units": u.units,
                "reason": u.reason,
                "text": u.text,
                "idle_home_years": round(u.idle_home_years, 4),
            }
            for u in unplaced
        ],
        "sites": sites,
        "batches": batch_list,
    }
    if codes is None:
        answer["plan"] = {
            "status": plan.status,
            "objective_eur": round(plan.objective.total_eur, 2),
            "bound_eur": round(plan.bound_eur, 2),
            "gap": round(plan.gap, 6),
            "solver_bound_eur": round(plan.solver_bound_eur, 2),
            "stats": plan.stats,
        }
    return answer


def _peak(occ: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Occupancy at each arrival (months are ``YYYY-MM``, so they sort as text)."""
    out = []
    for r in occ:
        t = r["from"]
        out.append({"units": sum(o["units"] for o in occ if o["from"] <= t <= o["to"])})
    return out


def _eur(v: float) -> str:
    return "€ " + f"{v:,.0f}".replace(",", ".")


def print_plan(
    plan: MatchPlan,
    console: Console,
    *,
    gemeenten: Collection[str] | None = None,
    max_chains: int = 60,
) -> None:
    """The objective, bound and gap, the chains and the unplaced homes as rich tables."""
    from rich.table import Table

    cfg = plan.config
    assert cfg is not None
    chains, unplaced = scoped(plan, gemeenten)
    parts = _sum_parts(chains, unplaced, cfg.weights.idle_eur_per_home_year)
    head = Table(
        title=f"Treintjes {plan.reference_month} – {plan.horizon_end}"
        + ("" if gemeenten is None else f" (gemeenten {', '.join(sorted(gemeenten))})")
    )
    head.add_column("onderdeel")
    head.add_column("hoeveelheid", justify="right")
    head.add_column("gewicht", justify="right")
    head.add_column("euro", justify="right")
    w = cfg.weights
    head.add_row(
        "leegstand (woningjaren)",
        f"{parts.idle_home_years:,.1f}",
        _eur(w.idle_eur_per_home_year) + "/jaar",
        _eur(parts.idle_eur),
    )
    head.add_row(
        "transport (woning-km)",
        f"{parts.home_km:,.0f}",
        _eur(w.transport_eur_per_home_km) + "/km",
        _eur(parts.transport_eur),
    )
    head.add_row(
        "verhuizingen (woningen)",
        f"{parts.moves:,}",
        f"× {w.relocation_factor:g}",
        _eur(parts.relocation_eur),
    )
    head.add_row("[bold]totaal[/]", "", "", f"[bold]{_eur(parts.total_eur)}[/]")
    console.print(head)
    if gemeenten is None:
        console.print(
            f"status [bold]{plan.status}[/]; ondergrens {_eur(plan.bound_eur)}; "
            f"gap {100 * plan.gap:.3f} %; {plan.stats.get('rounds', 0)} rondes kolomgeneratie, "
            f"{plan.stats.get('columns', 0)} ketens, {plan.stats.get('wall_s', 0):.1f} s",
            highlight=False,
        )
    table = Table(title=f"{len(chains)} ketens")
    for col in ("keten", "woningen", "vrij", "haltes", "leeg (wj)", "kosten"):
        table.add_column(
            col, justify="right" if col in {"woningen", "leeg (wj)", "kosten"} else "left"
        )
    for c in chains[:max_chains]:
        hops = " → ".join(f"{s.offer_id} ({s.gemeentecode}, {s.start}–{s.end})" for s in c.stops)
        table.add_row(
            c.chain_id,
            str(c.units),
            c.free_from,
            hops,
            f"{c.parts.idle_home_years:.1f}",
            _eur(c.parts.total_eur),
        )
    if len(chains) > max_chains:
        table.caption = f"… en {len(chains) - max_chains} ketens meer (--json voor alles)"
    console.print(table)
    if unplaced:
        miss = Table(title=f"Niet geplaatst: {sum(u.units for u in unplaced)} woningen")
        miss.add_column("partij")
        miss.add_column("gemeente")
        miss.add_column("woningen", justify="right")
        miss.add_column("leeg (wj)", justify="right")
        miss.add_column("reden")
        for u in unplaced:
            miss.add_row(
                u.batch_id, u.gemeentecode, str(u.units), f"{u.idle_home_years:.1f}", u.text
            )
        console.print(miss)
    reasons: dict[str, int] = {}
    for u in unplaced:
        reasons[u.reason] = reasons.get(u.reason, 0) + u.units
    if reasons:
        console.print(
            "redenen: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())), highlight=False
        )
