"""The exploitation of relocatable homes per site: cash flow per year, NPV, IRR, break-even.

Pure and vectorised over sites: arrays in (one element per site), arrays out; the knobs are the
same for every site of one call. Modelled on the national *Rekenmodel flexwonen* (BZK, 2023):
a first exploitation term, then a residual value (sale), one relocation or two relocations.
Every formula is in docs/contracts.md §F; in short, with ``n`` homes, years ``t = 0 … E``
(end-of-year cash flows, investment at ``t = 0``), ``g`` the rent increase and ``c`` the cost
increase:

- investment ``t = 0``: ``−n × (unit cost + preparation + connections [+ RTHF fee] − subsidy)``;
- rent ``t ≥ 1``: ``n × 12 × rent × (1 + g)^(t−1) × (1 − vacancy loss) × occupancy_t``
  (occupancy is ``1 − months/12`` in the first year at a new site, else 1);
- operating costs ``t ≥ 1``: ``−n × (management + maintenance + taxes) × (1 + c)^(t−1)``;
- land: *koop* buys ``area × price × (1 + c)^s`` at the start ``s`` of every stay and sells it
  for ``land_resale_share`` of that at its end; *huur* pays ``area × rent/m²`` and
  *grondabonnement* ``fee × (n or area)`` each year, ``× (1 + c)^(t−1)``;
- relocation at the end ``T`` of a stay: ``−n × (relocation + preparation + connections +
  restoration) × (1 + c)^T``;
- the end ``E``: ``+n × (V − restoration × (1 + c)^E)`` with the sale value ``V = sale factor ×
  B`` of the book value ``B = unit cost × (1 + c)^E × max(0, 1 − E / economic life)``; with the
  RTHF guarantee also ``+n × cover × max(0, B − V)``.

``NPV = Σ CF_t / (1 + r)^t``; the IRR is the rate where the NPV is 0 (bisection; NaN when
the cash flows do not change sign); the break-even rent is the starting rent with NPV 0 (exact:
the NPV is linear in the rent); the break-even term is the shortest first term (whole years,
≤ 40) whose NPV is ≥ 0, every other knob unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.businesscase.config import Knobs

#: Components of the yearly cash flow, in the order the chart stacks them.
COMPONENTS = ("investment", "rent", "operating_costs", "land", "relocation", "residual")
#: The longest first term the break-even search tries.
MAX_BREAK_EVEN_YEARS = 40


@dataclass(frozen=True)
class BusinessCase:
    """The business case of ``n`` sites (arrays of length ``n``; cash flows ``(n, E + 1)``).

    ``years`` are ``0 … E`` for the longest site; a site whose exploitation ends earlier has
    zeros after its ``end_year``.
    """

    homes: np.ndarray
    first_term: np.ndarray
    end_year: np.ndarray
    years: np.ndarray
    flows: dict[str, np.ndarray]
    net: np.ndarray
    npv: np.ndarray
    irr: np.ndarray
    break_even_rent: np.ndarray
    break_even_term: np.ndarray  # float: NaN when none within MAX_BREAK_EVEN_YEARS
    investment: np.ndarray  # the t = 0 outlay (positive euros)
    discount_rate: float

    def site(self, i: int) -> dict[str, object]:
        """One site as plain Python (for JSON): figures and the cash flow per year."""
        end = int(self.end_year[i])
        rows = []
        cumulative = 0.0
        for t in range(end + 1):
            row: dict[str, object] = {"year": t}
            for name in COMPONENTS:
                row[name] = round(float(self.flows[name][i, t]), 2)
            row["net"] = round(float(self.net[i, t]), 2)
            cumulative += float(self.net[i, t]) / (1.0 + self.discount_rate) ** t
            row["cumulative_pv"] = round(cumulative, 2)
            rows.append(row)
        return {
            "homes": int(self.homes[i]),
            "first_term_years": int(self.first_term[i]),
            "end_year": end,
            "npv": _num(self.npv[i], 2),
            "irr": _num(self.irr[i], 6),
            "break_even_rent": _num(self.break_even_rent[i], 2),
            "break_even_term": None
            if np.isnan(self.break_even_term[i])
            else int(self.break_even_term[i]),
            "investment": _num(self.investment[i], 2),
            "cashflow": rows,
        }


def _num(value: float, decimals: int) -> float | None:
    v = float(value)
    return None if not np.isfinite(v) else round(v, decimals)


def _as_array(values: object, n: int, dtype: str) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 0:
        arr = np.full(n, arr, dtype=dtype)
    return arr


def _terms(first_term: np.ndarray, knobs: Knobs) -> tuple[np.ndarray, int, int]:
    """(first term, second term, third term) in years; a later term is 0 when not used."""
    t2 = knobs.second_term_years if knobs.scenario in ("verplaatsing_1", "verplaatsing_2") else 0
    t3 = knobs.third_term_years if knobs.scenario == "verplaatsing_2" else 0
    return first_term, t2, t3


def _cash_flows(
    homes: np.ndarray, area_m2: np.ndarray, first_term: np.ndarray, knobs: Knobs
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(years, components (n, E + 1), the rent sensitivity per euro of monthly rent (n, E + 1))."""
    k = knobs
    n_homes = homes.astype("float64")[:, None]
    area = area_m2.astype("float64")[:, None]
    t1, t2, t3 = _terms(first_term, k)
    t1c = t1[:, None].astype("int64")
    m1 = t1c + t2  # end of the second stay (= t1 without relocation)
    end = m1 + t3  # end of the exploitation
    horizon = int(end.max()) if len(end) else 0
    t = np.arange(horizon + 1)[None, :]
    tf = t.astype("float64")
    g, c = k.rent_increase, k.cost_increase
    active = (t >= 1) & (t <= end)
    cost_index = (1.0 + c) ** tf  # prices at the end of year t (capital items)
    year_index = (1.0 + c) ** np.maximum(tf - 1.0, 0.0)  # prices during year t (yearly items)

    # stays: starts s and ends e (a stay without length never starts)
    starts = [np.zeros_like(t1c)]
    ends = [t1c]
    if t2:
        starts.append(t1c)
        ends.append(m1)
    if t3:
        starts.append(m1)
        ends.append(end)

    occupancy = np.ones_like(tf)
    lost = min(k.relocation_vacancy_months, 12.0) / 12.0
    for s in starts[1:]:
        occupancy = np.where(t == s + 1, 1.0 - lost, occupancy)
    per_rent_euro = n_homes * 12.0 * (1.0 + g) ** np.maximum(tf - 1.0, 0.0) * (1.0 - k.vacancy_loss)
    per_rent_euro = np.where(active, per_rent_euro * occupancy, 0.0)
    rent = per_rent_euro * k.rent_eur_month

    operating = np.where(active, -n_homes * k.opex_eur_home_year * year_index, 0.0)

    if k.land_option == "koop":
        land = np.zeros_like(tf)
        for s, e in zip(starts, ends, strict=True):
            paid = area * k.land_price_eur_m2 * (1.0 + c) ** s.astype("float64")
            land = (
                land
                - np.where(t == s, paid, 0.0)
                + np.where(t == e, paid * k.land_resale_share, 0.0)
            )
    elif k.land_option == "huur":
        land = np.where(active, -area * k.land_rent_eur_m2_year * year_index, 0.0)
    else:  # grondabonnement
        basis = n_homes if k.grondabonnement_basis == "woning" else area
        land = np.where(active, -basis * k.grondabonnement_eur_year * year_index, 0.0)

    build = k.unit_cost_eur + k.preparation_eur_home + k.connections_eur_home
    fee = k.guarantee_fee_eur_home if k.guarantee else 0.0
    investment = np.where(t == 0, -n_homes * (build + fee - k.subsidy_eur_home), 0.0)

    move = k.relocation_eur_home + k.preparation_eur_home + k.connections_eur_home
    move += k.site_restoration_eur_home
    relocation = np.zeros_like(tf)
    for e in ends[:-1]:
        relocation = relocation - np.where(t == e, n_homes * move * cost_index, 0.0)

    end_f = end.astype("float64")
    book = (
        k.unit_cost_eur * (1.0 + c) ** end_f * np.maximum(0.0, 1.0 - end_f / k.economic_life_years)
    )
    sale = k.sale_value_factor * book
    value = sale - k.site_restoration_eur_home * (1.0 + c) ** end_f
    if k.guarantee:
        value = value + k.guarantee_cover * np.maximum(0.0, book - sale)
    residual = np.where(t == end, n_homes * value, 0.0)

    flows = {
        "investment": investment,
        "rent": rent,
        "operating_costs": operating,
        "land": land,
        "relocation": relocation,
        "residual": residual,
    }
    return t[0], flows, per_rent_euro


def _discount(years: np.ndarray, rate: float) -> np.ndarray:
    return (1.0 + rate) ** -years.astype("float64")


def npv(net: np.ndarray, rate: float | np.ndarray, years: np.ndarray | None = None) -> np.ndarray:
    """``Σ_t CF_t / (1 + r)^t`` per row of ``net`` (``rate`` a scalar or one per row)."""
    years = np.arange(net.shape[-1]) if years is None else years
    r = np.asarray(rate, dtype="float64")
    factors = (
        (1.0 + r[..., None]) ** -years.astype("float64") if r.ndim else _discount(years, float(r))
    )
    return np.asarray((net * factors).sum(axis=-1))


def irr(
    net: np.ndarray, *, low: float = -0.99, high: float = 1.0, iterations: int = 100
) -> np.ndarray:
    """The internal rate of return per row: the rate in ``[low, high]`` where the NPV is 0.

    Bisection on every row at once; NaN where the NPV has the same sign at both ends (no
    sign change of the cash flows, or an IRR outside the bracket). With one sign change of the
    cash flows (investment first, then income) the root is unique.
    """
    net = np.atleast_2d(np.asarray(net, dtype="float64"))
    lo = np.full(len(net), low)
    hi = np.full(len(net), high)
    f_lo = npv(net, lo)
    f_hi = npv(net, hi)
    valid = np.sign(f_lo) * np.sign(f_hi) < 0
    exact_lo = f_lo == 0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        f_mid = npv(net, mid)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(same, mid, lo)
        f_lo = np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
    out = 0.5 * (lo + hi)
    out = np.where(exact_lo, low, out)
    return np.where(valid | exact_lo, out, np.nan)


def business_case(
    homes: np.ndarray | int,
    window_years: np.ndarray | int,
    area_m2: np.ndarray | float,
    *,
    knobs: Knobs,
) -> BusinessCase:
    """The business case of every site for one set of knobs.

    Parameters
    ----------
    homes
        Homes per site (the scan's capacity); ``knobs.homes`` replaces it when set.
    window_years
        The availability window per site in years (``beschikbaar_jaren``, else the permit
        term); the first term is ``knobs.first_term_years`` when set, else this window
        (at least one year).
    area_m2
        The land (or floor) area per site that per-m² land knobs apply to.
    knobs
        Resolved knobs (:func:`pipeline.businesscase.config.resolve_knobs`).

    Returns
    -------
    BusinessCase
        Per site: cash flow per year by component, NPV, IRR, break-even rent and term.
    """
    n_sites = max(np.size(homes), np.size(window_years), np.size(area_m2))
    h = _as_array(homes, n_sites, "float64")
    if knobs.homes is not None:
        h = np.full(n_sites, float(knobs.homes))
    h = np.maximum(np.nan_to_num(h, nan=0.0), 0.0)
    window = _as_array(window_years, n_sites, "float64")
    first = (
        np.full(n_sites, knobs.first_term_years, dtype="int64")
        if knobs.first_term_years is not None
        else np.maximum(np.nan_to_num(window, nan=1.0), 1.0).astype("int64")
    )
    area = np.nan_to_num(_as_array(area_m2, n_sites, "float64"), nan=0.0)

    years, flows, per_rent = _cash_flows(h, area, first, knobs)
    net = sum(flows.values(), np.zeros((n_sites, len(years))))
    disc = _discount(years, knobs.discount_rate)
    value = (net * disc).sum(axis=1)
    sensitivity = (per_rent * disc).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        be_rent = np.where(sensitivity > 0, knobs.rent_eur_month - value / sensitivity, np.nan)

    be_term = np.full(n_sites, np.nan)
    for term in range(1, MAX_BREAK_EVEN_YEARS + 1):
        todo = np.isnan(be_term)
        if not todo.any():
            break
        y, f, _ = _cash_flows(h[todo], area[todo], np.full(int(todo.sum()), term), knobs)
        total = sum(f.values(), np.zeros((int(todo.sum()), len(y))))
        ok = (total * _discount(y, knobs.discount_rate)).sum(axis=1) >= 0
        idx = np.flatnonzero(todo)[ok]
        be_term[idx] = term

    t1, t2, t3 = _terms(first, knobs)
    return BusinessCase(
        homes=h.astype("int64"),
        first_term=first,
        end_year=(t1 + t2 + t3).astype("int64"),
        years=years,
        flows=flows,
        net=net,
        npv=value,
        irr=irr(net),
        break_even_rent=be_rent,
        break_even_term=be_term,
        investment=-flows["investment"][:, 0],
        discount_rate=knobs.discount_rate,
    )
