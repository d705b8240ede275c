"""The planner: batches of relocatable homes along chains of sites on offer ("treintjes").

:func:`plan_match` is a pure function of the two registries and a config. The model
(docs/contracts.md §G.2–G.4, in months from the start of the horizon):

- A *chain* takes a part of a batch from its current site (free from month ``f``) to sites
  ``k1, k2, …``: a stay on site ``k`` starts at ``max(end of the previous stay, window start
  a_k)`` and lasts until the site's window closes (``b_k``) or the batch's technical life (or
  the horizon) ends (``E``). A stay lasts at least ``minimum_stay_months``; the wait before a
  stay at most ``max_gap_months``; a move at most ``max_distance_km`` road kilometres.
- The cost of a chain per home: ``idle_eur_per_home_year × idle years`` (its useful period
  ``[f, E)`` minus its stays) ``+ transport_eur_per_home_km × km + relocation_factor ×
  relocation cost per home × moves``. Homes that are not placed lose their whole useful period.
- A site's capacity bounds the homes of all the stays on it within its window.
- A batch of ``n`` homes is cut into ``n // m`` parts of ``m = split_multiple`` homes (its
  remainder ``n mod m`` travels with one of them); parts may follow different chains.

It is solved by column generation (Dantzig–Wolfe): the linear relaxation over all chains is
solved with OR-Tools' GLOP on a growing set of chains, each round pricing every batch with a
shortest-path search over the sites sorted by window end (a DAG; the capacity duals charge
each stop). The Lagrangian bound of every round is a lower bound of the whole problem. The
integer plan is then solved with OR-Tools CP-SAT over the generated chains (whole parts,
capacities, remainders), and its gap to the bound is reported.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.match.config import MatchConfig, load_match_config
from pipeline.match.registries import Registries, format_year_month, parse_year_month

#: Why homes of a batch are not placed: code → Dutch text template (filled per batch).
REASONS: dict[str, str] = {
    "einde_levensduur": "Einde levensduur: de technische levensduur (of de planperiode) eindigt "
    "binnen {min_stay} maanden nadat de woningen vrijkomen.",
    "geen_locatie_op_tijd": "Geen locatie op tijd: geen aangeboden locatie is binnen {max_gap} "
    "maanden na {free_from} vrij voor een verblijf van ten minste {min_stay} maanden.",
    "te_ver": "Te ver: de locaties die op tijd vrij zijn liggen verder dan {max_km} km over de weg "
    "(de dichtstbijzijnde op {nearest_km} km).",
    "voorwaarden": "Voorwaarden: de locaties die op tijd vrij en dichtbij genoeg zijn, zijn "
    "bedoeld voor een andere doelgroep ({groups}).",
    "te_klein": "Te klein: de locaties die op tijd vrij en dichtbij genoeg zijn, bieden minder "
    "dan {min_part} plaatsen (de grootste {max_cap}).",
    "locaties_vol": "Locaties vol: de locaties die in aanmerking komen zijn in dit plan al gevuld "
    "met andere partijen.",
    "niet_rendabel": "Niet rendabel: verhuizen kost meer dan de leegstand die het voorkomt, bij "
    "de gewichten van de planning.",
}


@dataclass(frozen=True)
class Stop:
    """One stay of a chain on a site on offer (months as ``YYYY-MM``, both included)."""

    offer_id: str
    site_id: str | None
    gemeentecode: str
    label: str
    x: float
    y: float
    start: str
    end: str
    months: int
    km: float  # road km of the move to this site


@dataclass(frozen=True)
class Parts:
    """The objective's parts of a chain or a whole plan."""

    idle_home_years: float
    idle_eur: float
    home_km: float
    transport_eur: float
    moves: int  # home moves (homes × relocations)
    relocation_eur: float

    @property
    def total_eur(self) -> float:
        return self.idle_eur + self.transport_eur + self.relocation_eur

    def as_dict(self) -> dict[str, float | int]:
        return {
            "total_eur": round(self.total_eur, 2),
            "idle_home_years": round(self.idle_home_years, 4),
            "idle_eur": round(self.idle_eur, 2),
            "home_km": round(self.home_km, 3),
            "transport_eur": round(self.transport_eur, 2),
            "moves": self.moves,
            "relocation_eur": round(self.relocation_eur, 2),
        }


@dataclass(frozen=True)
class Chain:
    """A part of one batch and the sites it stays on, in order."""

    chain_id: str
    batch_id: str
    units: int
    origin_gemeentecode: str
    origin_x: float
    origin_y: float
    free_from: str
    useful_until: str  # last month of the batch's useful period (life or horizon)
    stops: tuple[Stop, ...]
    parts: Parts

    @property
    def gemeentecodes(self) -> set[str]:
        """Every municipality the chain touches: its origin and its stops."""
        return {self.origin_gemeentecode, *(s.gemeentecode for s in self.stops)}


@dataclass(frozen=True)
class Unplaced:
    """Homes of a batch that no chain takes, and why."""

    batch_id: str
    gemeentecode: str
    units: int
    reason: str
    text: str
    idle_home_years: float


@dataclass
class MatchPlan:
    """The plan: chains, unplaced homes with their reason, the objective and the bound."""

    reference_month: str
    horizon_end: str  # last month of the horizon
    chains: list[Chain]
    unplaced: list[Unplaced]
    objective: Parts
    bound_eur: float
    status: str  # optimaal | haalbaar
    solver_bound_eur: float
    stats: dict[str, Any] = field(default_factory=dict)
    config: MatchConfig | None = None

    @property
    def gap(self) -> float:
        """Relative gap of the objective to the lower bound (0 = proven optimal)."""
        obj = self.objective.total_eur
        if obj <= 1e-9:
            return 0.0
        return max(0.0, (obj - self.bound_eur) / obj)


# --------------------------------------------------------------------------------------------
# Preparing the instance
# --------------------------------------------------------------------------------------------


def _month_index(ym: tuple[int, int]) -> int:
    return ym[0] * 12 + ym[1] - 1


def _index_month(i: int) -> str:
    return format_year_month((i // 12, i % 12 + 1))


@dataclass
class _Instance:
    cfg: MatchConfig
    ref: int
    H: int
    offers: pd.DataFrame
    batches: pd.DataFrame
    a: np.ndarray  # window start (months from ref), sites sorted by (b, a, id)
    b: np.ndarray  # window end (exclusive)
    cap: np.ndarray
    f: np.ndarray  # batch free from
    E: np.ndarray  # batch useful until (exclusive)
    n: np.ndarray
    q: np.ndarray
    r: np.ndarray
    min_part: np.ndarray
    reloc: np.ndarray  # per home per move (× relocation_factor)
    d_src: np.ndarray  # B × V road km
    d_site: np.ndarray  # V × V road km
    ok: np.ndarray  # B × V: target group and size fit
    in_time: np.ndarray  # B × V: a first stay fits the windows
    src_cost: np.ndarray  # B × V: cost per home of the first move and its wait (inf = no arc)
    preds: list[np.ndarray]
    pred_start: list[np.ndarray]
    pred_cost: list[np.ndarray]
    empty_cost: np.ndarray  # per home: the whole useful period idle


def _prepare(reg: Registries, cfg: MatchConfig) -> _Instance:
    ref_date = cfg.reference_date or reg.reference_date or dt.date.today()
    ref = ref_date.year * 12 + ref_date.month - 1
    H = cfg.horizon_years * 12
    S, G, D = cfg.minimum_stay_months, cfg.max_gap_months, cfg.max_distance_km
    w = cfg.weights

    offers = reg.offers.copy()
    a_raw = np.array(
        [_month_index(parse_year_month(v) or (0, 1)) for v in offers["available_from"]],
        dtype=np.int64,
    )
    b_raw = np.array(
        [_month_index(parse_year_month(v, end=True) or (0, 1)) + 1 for v in offers["available_to"]],
        dtype=np.int64,
    )
    offers["_a"] = np.clip(a_raw - ref, 0, H)
    offers["_b"] = np.clip(b_raw - ref, 0, H)
    offers = offers.sort_values(["_b", "_a", "offer_id"], kind="mergesort").reset_index(drop=True)
    a = offers["_a"].to_numpy(np.int64)
    b = offers["_b"].to_numpy(np.int64)
    cap = offers["capacity"].to_numpy(np.int64)

    batches = reg.batches.sort_values("batch_id", kind="mergesort").reset_index(drop=True)
    f_raw = np.array(
        [_month_index(parse_year_month(v) or (0, 1)) for v in batches["free_from"]], dtype=np.int64
    )
    f = np.clip(f_raw - ref, 0, H)
    life = np.floor(batches["life_left_years"].to_numpy(np.float64) * 12 + 1e-9).astype(np.int64)
    E = np.maximum(np.minimum(life, H), f)
    n = batches["units"].to_numpy(np.int64)
    m = cfg.split_multiple
    q, r = n // m, n % m
    # The smallest part that can move alone: m, unless the batch cannot be split (fewer than
    # 2m homes with a remainder, or fewer than m): then the whole batch.
    min_part = np.where((q >= 2) | ((q >= 1) & (r == 0)), m, n)
    reloc = batches["relocation_eur_per_home"].to_numpy(np.float64) * w.relocation_factor

    ox, oy = offers["x"].to_numpy(np.float64), offers["y"].to_numpy(np.float64)
    bx, by = batches["x"].to_numpy(np.float64), batches["y"].to_numpy(np.float64)
    km = cfg.road_factor / 1000.0
    d_src = np.hypot(bx[:, None] - ox[None, :], by[:, None] - oy[None, :]) * km
    d_site = np.hypot(ox[:, None] - ox[None, :], oy[:, None] - oy[None, :]) * km

    groups = [set(g.split(",")) if g else set() for g in offers["target_groups"]]
    tg = batches["target_group"].tolist()
    fits_group = np.array(
        [[not gs or not t or t in gs for gs in groups] for t in tg], dtype=bool
    ).reshape(len(tg), len(groups))
    ok = fits_group & (cap[None, :] >= min_part[:, None])

    s0 = np.maximum(f[:, None], a[None, :])
    in_time = ((s0 - f[:, None]) <= G) & ((np.minimum(b[None, :], E[:, None]) - s0) >= S)
    src_ok = in_time & ok & (d_src <= D + 1e-9)
    src_cost = np.where(
        src_ok,
        w.idle_eur_per_home_year * (s0 - f[:, None]) / 12.0
        + w.transport_eur_per_home_km * d_src
        + reloc[:, None],
        np.inf,
    )

    # Site → site arcs (the same for every batch; a batch's own life is checked in pricing).
    V = len(offers)
    preds: list[np.ndarray] = []
    pred_start: list[np.ndarray] = []
    pred_cost: list[np.ndarray] = []
    for k in range(V):
        j = np.arange(V)
        start = np.maximum(b, a[k])
        valid = (
            (b < b[k])
            & (start - b <= G)
            & (b[k] - start >= S)
            & (d_site[:, k] <= D + 1e-9)
            & (j != k)
        )
        valid &= (b - a) >= S  # a site too short for any stay is never a predecessor
        J = np.flatnonzero(valid)
        preds.append(J)
        pred_start.append(start[J])
        pred_cost.append(
            w.idle_eur_per_home_year * (start[J] - b[J]) / 12.0
            + w.transport_eur_per_home_km * d_site[J, k]
        )
    empty_cost = w.idle_eur_per_home_year * (E - f) / 12.0
    return _Instance(
        cfg,
        ref,
        H,
        offers,
        batches,
        a,
        b,
        cap,
        f,
        E,
        n,
        q,
        r,
        min_part,
        reloc,
        d_src,
        d_site,
        ok,
        in_time,
        src_cost,
        preds,
        pred_start,
        pred_cost,
        empty_cost,
    )


# --------------------------------------------------------------------------------------------
# Pricing: the cheapest chain of every batch under the capacity duals (a DAG shortest path)
# --------------------------------------------------------------------------------------------


def _price(inst: _Instance, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (cost per home of leaving each site, duals included) and predecessors.

    ``label[b, k]``: the cheapest way for a home of batch ``b`` to have stayed on site ``k``
    last, up to the end of that stay, with ``−π_k`` charged at every stop; ``pred[b, k]``: the
    site before (``-1`` = the batch's current site).
    """
    B, V = inst.src_cost.shape
    S = inst.cfg.minimum_stay_months
    label = np.full((B, V), np.inf)
    pred = np.full((B, V), -1, dtype=np.int64)
    charge = -pi  # π ≤ 0: a full site costs extra
    for k in range(V):
        best = inst.src_cost[:, k].copy()
        J = inst.preds[k]
        if len(J):
            stay_end = np.minimum(inst.b[k], inst.E)
            cand = label[:, J] + inst.pred_cost[k][None, :] + inst.reloc[:, None]
            valid = (inst.b[J][None, :] < inst.E[:, None]) & (
                (stay_end[:, None] - inst.pred_start[k][None, :]) >= S
            )
            cand = np.where(valid, cand, np.inf)
            arg = np.argmin(cand, axis=1)
            via = cand[np.arange(B), arg]
            better = via < best
            best = np.where(better, via, best)
            pred[:, k] = np.where(better, J[arg], -1)
        best = np.where(inst.ok[:, k], best, np.inf)
        label[:, k] = best + charge[k]
    return label, pred


def _path(pred: np.ndarray, b: int, k: int) -> tuple[int, ...]:
    out = [k]
    while pred[b, out[-1]] >= 0:
        out.append(int(pred[b, out[-1]]))
    return tuple(reversed(out))


@dataclass(frozen=True)
class _Column:
    batch: int
    path: tuple[int, ...]
    cost: float  # per home
    idle_months: int
    km: float
    moves: int
    stays: tuple[tuple[int, int], ...]


def _column(inst: _Instance, bi: int, path: tuple[int, ...]) -> _Column:
    w = inst.cfg.weights
    t = int(inst.f[bi])
    E = int(inst.E[bi])
    km = 0.0
    stays = []
    prev = -1
    used = 0
    for k in path:
        start = max(t, int(inst.a[k]))
        end = min(int(inst.b[k]), E)
        km += float(inst.d_src[bi, k] if prev < 0 else inst.d_site[prev, k])
        stays.append((start, end))
        used += end - start
        t, prev = end, k
    idle = (E - int(inst.f[bi])) - used
    cost = (
        w.idle_eur_per_home_year * idle / 12.0
        + w.transport_eur_per_home_km * km
        + float(inst.reloc[bi]) * len(path)
    )
    return _Column(bi, path, cost, idle, km, len(path), tuple(stays))


def _best_columns(
    inst: _Instance, label: np.ndarray, pred: np.ndarray, mu: np.ndarray, per_batch: int
) -> tuple[list[tuple[int, tuple[int, ...]]], np.ndarray]:
    """Chains with negative reduced cost (up to ``per_batch`` per batch, ending at different
    sites) and each batch's cheapest chain cost under the duals (or the empty chain)."""
    w = inst.cfg.weights
    tail = (
        w.idle_eur_per_home_year
        * (inst.E[:, None] - np.minimum(inst.b[None, :], inst.E[:, None]))
        / 12.0
    )
    total = label + tail
    best = np.minimum(
        total.min(axis=1) if total.shape[1] else np.full(len(mu), np.inf), inst.empty_cost
    )
    found: list[tuple[int, tuple[int, ...]]] = []
    tol = 1e-6 * max(1.0, float(np.max(inst.empty_cost, initial=1.0)))
    for bi in range(total.shape[0]):
        row = total[bi]
        order = np.argsort(row, kind="stable")[:per_batch]
        for k in order:
            if not np.isfinite(row[k]) or row[k] - mu[bi] >= -tol:
                break
            found.append((bi, _path(pred, bi, int(k))))
    return found, best


# --------------------------------------------------------------------------------------------
# The master problems
# --------------------------------------------------------------------------------------------


def _column_generation(
    inst: _Instance, deadline: float
) -> tuple[list[_Column], float, dict[str, Any]]:
    from ortools.linear_solver import pywraplp

    cfg = inst.cfg
    B, V = inst.src_cost.shape
    lp = pywraplp.Solver.CreateSolver("GLOP")
    inf = lp.infinity()
    demand = [lp.Constraint(float(inst.n[bi]), float(inst.n[bi]), f"d{bi}") for bi in range(B)]
    capacity = [lp.Constraint(-inf, float(inst.cap[k]), f"c{k}") for k in range(V)]
    obj = lp.Objective()
    for bi in range(B):
        u = lp.NumVar(0.0, inf, f"u{bi}")
        demand[bi].SetCoefficient(u, 1.0)
        obj.SetCoefficient(u, float(inst.empty_cost[bi]))
    obj.SetMinimization()

    columns: list[_Column] = []
    seen: set[tuple[int, tuple[int, ...]]] = set()

    def add(found: list[tuple[int, tuple[int, ...]]]) -> int:
        added = 0
        for bi, path in found:
            if (bi, path) in seen:
                continue
            seen.add((bi, path))
            col = _column(inst, bi, path)
            var = lp.NumVar(0.0, inf, f"y{len(columns)}")
            demand[bi].SetCoefficient(var, 1.0)
            for k in path:
                capacity[k].SetCoefficient(var, 1.0)
            obj.SetCoefficient(var, col.cost)
            columns.append(col)
            added += 1
        return added

    pi = np.zeros(V)
    mu = inst.empty_cost.astype(np.float64).copy()
    bound = -math.inf
    rounds = 0
    lp_value = math.nan
    converged = False
    while rounds < cfg.solver.max_rounds:
        label, pred = _price(inst, pi)
        found, best = _best_columns(inst, label, pred, mu, cfg.solver.columns_per_round)
        bound = max(bound, float(np.dot(pi, inst.cap) + np.dot(inst.n, best)))
        if rounds > 0 and not found:
            converged = True
            break
        if rounds > 0 and time.perf_counter() > deadline:
            break
        add(found)
        rounds += 1
        status = lp.Solve()
        if status != pywraplp.Solver.OPTIMAL:  # pragma: no cover - the LP is always feasible
            raise RuntimeError(f"the relaxation did not solve (status {status})")
        lp_value = lp.Objective().Value()
        pi = np.minimum(0.0, np.array([c.dual_value() for c in capacity]))
        mu = np.array([c.dual_value() for c in demand])
    if converged:
        bound = max(bound, lp_value)
    return (
        columns,
        bound,
        {"rounds": rounds, "columns": len(columns), "lp_eur": lp_value, "converged": converged},
    )


def _integer_master(
    inst: _Instance, columns: list[_Column], time_limit: float
) -> tuple[np.ndarray, str, float, dict[str, Any]]:
    """Whole parts per chain with CP-SAT: returns homes per column, status, the solver's bound."""
    from ortools.sat.python import cp_model

    cfg = inst.cfg
    m = cfg.split_multiple
    model = cp_model.CpModel()
    z: list[Any] = []
    wv: list[Any] = []
    per_batch: dict[int, list[int]] = {}
    per_site: dict[int, list[int]] = {}
    coef: list[int] = []
    for ci, col in enumerate(columns):
        bi = col.batch
        per_batch.setdefault(bi, []).append(ci)
        for k in col.path:
            per_site.setdefault(k, []).append(ci)
        qb, rb = int(inst.q[bi]), int(inst.r[bi])
        z.append(model.new_int_var(0, qb, f"z{ci}") if qb > 0 else None)
        wv.append(model.new_bool_var(f"w{ci}") if rb > 0 else None)
        if qb > 0 and rb > 0:
            model.add(wv[ci] <= z[ci])  # the remainder travels with a part of whole multiples
        coef.append(round(col.cost - float(inst.empty_cost[bi])))

    def units(ci: int) -> Any:
        bi = columns[ci].batch
        expr = 0
        if z[ci] is not None:
            expr = expr + m * z[ci]
        if wv[ci] is not None:
            expr = expr + int(inst.r[bi]) * wv[ci]
        return expr

    for bi, cis in per_batch.items():
        qb, rb = int(inst.q[bi]), int(inst.r[bi])
        if qb > 0:
            zs = [z[ci] for ci in cis]
            if rb > 0:
                left = model.new_bool_var(f"left{bi}")  # the remainder stays unplaced
                model.add(sum(wv[ci] for ci in cis) + left == 1)
                model.add(sum(zs) + left <= qb)  # … then so does at least one whole part
            else:
                model.add(sum(zs) <= qb)
        else:
            model.add(sum(wv[ci] for ci in cis) <= 1)
    for k, cis in per_site.items():
        model.add(sum(units(ci) for ci in cis) <= int(inst.cap[k]))
    model.minimize(sum(coef[ci] * units(ci) for ci in range(len(columns))))

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.max_time_in_seconds = max(1.0, time_limit)
    p.num_workers = cfg.solver.workers
    p.random_seed = cfg.solver.random_seed
    if cfg.solver.workers > 1:
        p.interleave_search = True  # deterministic: the same plan on every run
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover - zero is feasible
        raise RuntimeError(f"the integer model did not solve ({solver.status_name(status)})")
    homes = np.zeros(len(columns), dtype=np.int64)
    for ci, col in enumerate(columns):
        v = 0
        if z[ci] is not None:
            v += m * solver.value(z[ci])
        if wv[ci] is not None:
            v += int(inst.r[col.batch]) * solver.value(wv[ci])
        homes[ci] = v
    constant = float(np.dot(inst.n, inst.empty_cost))
    solver_bound = constant + solver.best_objective_bound
    state = "optimaal" if status == cp_model.OPTIMAL else "haalbaar"
    return (
        homes,
        state,
        solver_bound,
        {"cpsat_status": solver.status_name(status), "cpsat_wall_s": solver.wall_time},
    )


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


def _parts(inst: _Instance, col: _Column, homes: int) -> Parts:
    w = inst.cfg.weights
    return Parts(
        idle_home_years=homes * col.idle_months / 12.0,
        idle_eur=homes * w.idle_eur_per_home_year * col.idle_months / 12.0,
        home_km=homes * col.km,
        transport_eur=homes * w.transport_eur_per_home_km * col.km,
        moves=homes * col.moves,
        relocation_eur=homes * float(inst.reloc[col.batch]) * col.moves,
    )


def _reason(inst: _Instance, bi: int, used: np.ndarray) -> tuple[str, dict[str, Any]]:
    cfg = inst.cfg
    D = cfg.max_distance_km
    values: dict[str, Any] = {
        "min_stay": cfg.minimum_stay_months,
        "max_gap": cfg.max_gap_months,
        "max_km": f"{D:g}",
        "free_from": _index_month(inst.ref + int(inst.f[bi])),
        "min_part": int(inst.min_part[bi]),
    }
    if inst.E[bi] - inst.f[bi] < cfg.minimum_stay_months:
        return "einde_levensduur", values
    in_time = inst.in_time[bi]
    if not in_time.any():
        return "geen_locatie_op_tijd", values
    near = in_time & (inst.d_src[bi] <= D + 1e-9)
    if not near.any():
        values["nearest_km"] = f"{float(inst.d_src[bi][in_time].min()):.0f}"
        return "te_ver", values
    group = inst.batches.at[bi, "target_group"]
    fits = near & np.array(
        [not g or not group or group in g.split(",") for g in inst.offers["target_groups"]],
        dtype=bool,
    )
    if not fits.any():
        values["groups"] = ", ".join(
            sorted({g for g in inst.offers.loc[near, "target_groups"] if g})
        )
        return "voorwaarden", values
    big = fits & (inst.cap >= inst.min_part[bi])
    if not big.any():
        values["max_cap"] = int(inst.cap[fits].max())
        return "te_klein", values
    room = big & ((inst.cap - used) >= inst.min_part[bi]) & np.isfinite(inst.src_cost[bi])
    return ("niet_rendabel" if room.any() else "locaties_vol"), values


def plan_match(registries: Registries, config: MatchConfig | None = None) -> MatchPlan:
    """Plan the batches of relocatable homes along chains of sites on offer.

    Parameters
    ----------
    registries
        The sites on offer and the batches (:func:`~pipeline.match.registries.offers_frame`,
        :func:`~pipeline.match.registries.batches_frame`).
    config
        The match config (``None``: the shipped ``default.yaml``).

    Returns
    -------
    MatchPlan
        Chains (a part of a batch and its stops), unplaced homes with their reason, the
        objective and its parts, the lower bound and the gap. The same registries and config
        give the same plan.
    """
    cfg = config or load_match_config()
    started = time.perf_counter()
    deadline_total = started + cfg.solver.time_limit_s
    inst = _prepare(registries, cfg)
    t_prep = time.perf_counter() - started
    B = len(inst.batches)
    if B and len(inst.offers):
        # Column generation gets at most 60 % of the budget, CP-SAT the rest.
        cg_deadline = started + 0.6 * cfg.solver.time_limit_s
        columns, bound, stats = _column_generation(inst, cg_deadline)
        t_cg = time.perf_counter()
        if columns:
            homes, status, solver_bound, sstats = _integer_master(
                inst, columns, deadline_total - t_cg
            )
        else:
            homes, status, solver_bound, sstats = (
                np.zeros(0, np.int64),
                "optimaal",
                float(np.dot(inst.n, inst.empty_cost)),
                {},
            )
        stats.update(sstats)
        stats["column_generation_s"] = round(t_cg - started - t_prep, 3)
    else:
        columns, homes, status = [], np.zeros(0, np.int64), "optimaal"
        bound = solver_bound = float(np.dot(inst.n, inst.empty_cost)) if B else 0.0
        stats = {"rounds": 0, "columns": 0}

    chains: list[Chain] = []
    used = np.zeros(len(inst.offers), dtype=np.int64)
    placed = np.zeros(B, dtype=np.int64)
    order = sorted(
        (ci for ci in range(len(columns)) if homes[ci] > 0),
        key=lambda ci: (columns[ci].batch, columns[ci].stays[0][0], columns[ci].path),
    )
    counter: dict[int, int] = {}
    for ci in order:
        col = columns[ci]
        bi, h = col.batch, int(homes[ci])
        placed[bi] += h
        for k in col.path:
            used[k] += h
        counter[bi] = counter.get(bi, 0) + 1
        row = inst.batches.iloc[bi]
        stops = []
        prev = -1
        for k, (s, e) in zip(col.path, col.stays, strict=True):
            o = inst.offers.iloc[k]
            stops.append(
                Stop(
                    offer_id=str(o["offer_id"]),
                    site_id=o["site_id"],
                    gemeentecode=str(o["gemeentecode"]),
                    label=str(o["label"]),
                    x=float(o["x"]),
                    y=float(o["y"]),
                    start=_index_month(inst.ref + s),
                    end=_index_month(inst.ref + e - 1),
                    months=e - s,
                    km=round(float(inst.d_src[bi, k] if prev < 0 else inst.d_site[prev, k]), 3),
                )
            )
            prev = k
        chains.append(
            Chain(
                chain_id=f"{row['batch_id']}/{counter[bi]}",
                batch_id=str(row["batch_id"]),
                units=h,
                origin_gemeentecode=str(row["gemeentecode"]),
                origin_x=float(row["x"]),
                origin_y=float(row["y"]),
                free_from=_index_month(inst.ref + int(inst.f[bi])),
                useful_until=_index_month(inst.ref + int(inst.E[bi]) - 1),
                stops=tuple(stops),
                parts=_parts(inst, col, h),
            )
        )
    unplaced: list[Unplaced] = []
    w = cfg.weights
    for bi in range(B):
        left = int(inst.n[bi] - placed[bi])
        if left <= 0:
            continue
        code, values = _reason(inst, bi, used)
        values.setdefault("nearest_km", "?")
        values.setdefault("groups", "")
        values.setdefault("max_cap", 0)
        row = inst.batches.iloc[bi]
        unplaced.append(
            Unplaced(
                batch_id=str(row["batch_id"]),
                gemeentecode=str(row["gemeentecode"]),
                units=left,
                reason=code,
                text=REASONS[code].format(**values),
                idle_home_years=left * float(inst.E[bi] - inst.f[bi]) / 12.0,
            )
        )
    idle_unplaced = sum(u.idle_home_years for u in unplaced)
    total = Parts(
        idle_home_years=sum(c.parts.idle_home_years for c in chains) + idle_unplaced,
        idle_eur=sum(c.parts.idle_eur for c in chains) + idle_unplaced * w.idle_eur_per_home_year,
        home_km=sum(c.parts.home_km for c in chains),
        transport_eur=sum(c.parts.transport_eur for c in chains),
        moves=sum(c.parts.moves for c in chains),
        relocation_eur=sum(c.parts.relocation_eur for c in chains),
    )
    # The integer objective rounds each chain's cost per home to whole euros: the bound is
    # valid for the exact objective; never report it above the plan's own cost.
    bound = min(bound, total.total_eur)
    stats["wall_s"] = round(time.perf_counter() - started, 3)
    stats["prepare_s"] = round(t_prep, 3)
    stats["sites"] = len(inst.offers)
    stats["batches"] = B
    stats["arcs"] = int(sum(len(p) for p in inst.preds))
    return MatchPlan(
        reference_month=_index_month(inst.ref),
        horizon_end=_index_month(inst.ref + inst.H - 1),
        chains=chains,
        unplaced=unplaced,
        objective=total,
        bound_eur=bound,
        status=status,
        solver_bound_eur=min(solver_bound, total.total_eur),
        stats=stats,
        config=cfg,
    )
