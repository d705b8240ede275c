"""Plausible registries for the match (issue 14) from a scan of a synthetic province.

*Sites on offer*: a draw of the scan's temporary sites (``tijdelijke_locaties``, best tiers
first), each offered for a window that starts somewhere in the first twelve years and lasts
three to twelve years — never past the scan's own ``beschikbaar_tot`` (a permanent plan) — with
its central capacity estimate, sometimes for one target group. *Batches*: existing flex projects
whose temporary permit ends (planted on other temporary sites of the scan: that is where such
projects stand), 12–120 homes of one type, free from the month after the permit ends, with their
technical life left and a relocation cost per home. The same sites, seed and sizes give the
same registries. Pure: GeoDataFrames in, GeoDataFrames out.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: Synthetic owners (fictional corporations, like the sample's municipalities).
OWNERS = (
    "Woonstichting Polderzicht",
    "Stadswonen Veenhaven",
    "Woonkracht Duinrand",
    "Wooncorporatie Rijnoever",
    "Vestia-Zuid Synthetisch",
    "Huisvesting Lekstreek",
)
OFFERED_BY = ("gemeente", "provincie", "corporatie", "rijk (RVB)", "particulier")
GROUPS = ("spoedzoekers", "jongeren", "statushouders", "arbeidsmigranten")
TYPES = ("grondgebonden", "gestapeld")


def _ym(ref: dt.date, months: int) -> str:
    i = ref.year * 12 + ref.month - 1 + int(months)
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def sample_registers(
    sites: gpd.GeoDataFrame,
    *,
    reference_date: dt.date,
    seed: int = 42,
    n_offers: int | None = None,
    n_batches: int | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Sites on offer and batches of relocatable homes (Dutch columns of §G.1, RD New).

    Parameters
    ----------
    sites
        The scan's ``tijdelijke_locaties`` (``site_id``, ``gemeentecode``, ``label``,
        ``capacity_units``, ``score``; ``beschikbaar_tot`` when the scan has it).
    reference_date
        The scan's reference date: the start of every window and term is counted from it.
    n_offers, n_batches
        How many; default 500 and 200 for a province (more than ten municipalities), else 40
        and 12.
    """
    rng = np.random.default_rng(seed)
    sites = sites.sort_values("site_id", kind="mergesort").reset_index(drop=True)
    big = sites["gemeentecode"].nunique() > 10
    n_offers = min(len(sites), n_offers if n_offers is not None else (500 if big else 40))
    n_batches = n_batches if n_batches is not None else (200 if big else 12)
    # Best sites are offered first (a municipality offers what the scan ranks high), with a
    # random element so not only tier A.
    weight = np.clip(sites["score"].to_numpy(float), 1, 100) ** 2
    order = rng.choice(len(sites), size=len(sites), replace=False, p=weight / weight.sum())
    chosen = np.sort(order[:n_offers])
    rest = order[n_offers:] if len(order) > n_offers else order
    offers = sites.iloc[chosen].reset_index(drop=True)
    start = rng.integers(0, 12 * 12, size=len(offers))
    start[: len(offers) // 4] = rng.integers(0, 24, size=len(offers) // 4)  # a quarter now
    length = rng.integers(36, 12 * 12 + 1, size=len(offers))
    end = start + length - 1
    # The scan's availability (contracts §E.3) bounds the window: a permanent plan starting in
    # year ``beschikbaar_tot`` ends it in the December before; ``beschikbaar_jaren`` (the permit
    # term, or the years until the plan) bounds its length from the reference date.
    if "beschikbaar_tot" in offers:
        until = pd.to_numeric(offers["beschikbaar_tot"], errors="coerce").to_numpy(float)
        plan_end = (until - reference_date.year) * 12 - reference_date.month  # December before
        end = np.where(np.isfinite(plan_end), np.minimum(end, plan_end), end).astype(np.int64)
    if "beschikbaar_jaren" in offers:
        years = pd.to_numeric(offers["beschikbaar_jaren"], errors="coerce").to_numpy(float)
        last = 12 * years - 1
        end = np.where(np.isfinite(last), np.minimum(end, last), end).astype(np.int64)
    end = np.maximum(end, 0)
    start = np.minimum(start, np.maximum(0, end - 35))
    # Offered for the scan's central estimate, kept within its range (capacity_low/high).
    capacity = offers["capacity_units"].to_numpy(float, na_value=np.nan)
    capacity = np.where(np.isnan(capacity), 6.0, capacity)
    if "capacity_low" in offers and "capacity_high" in offers:
        low = offers["capacity_low"].to_numpy(float, na_value=np.nan)
        high = offers["capacity_high"].to_numpy(float, na_value=np.nan)
        low = np.where(np.isnan(low), capacity, low)
        high = np.where(np.isnan(high), capacity, high)
        capacity = np.clip(capacity, low, np.maximum(low, high))
    capacity = np.maximum(6, capacity).astype(np.int64)
    groups = np.where(rng.random(len(offers)) < 0.15, rng.choice(GROUPS, size=len(offers)), "")
    offer_frame = gpd.GeoDataFrame(
        {
            "aanbod_id": [f"AB-{i + 1:03d}" for i in range(len(offers))],
            "site_id": offers["site_id"].astype(str),
            "gemeentecode": offers["gemeentecode"].astype(str),
            "naam": offers["label"].astype(str),
            "beschikbaar_van": [_ym(reference_date, m) for m in start],
            "beschikbaar_tot": [_ym(reference_date, m) for m in end],
            "capaciteit": capacity,
            "doelgroepen": groups,
            "aangeboden_door": rng.choice(
                OFFERED_BY, size=len(offers), p=[0.5, 0.15, 0.2, 0.1, 0.05]
            ),
        },
        geometry=offers.geometry.to_numpy(),
        crs=sites.crs,
    )
    # Existing flex projects on other temporary sites, their permit ending within 16 years.
    pick = rest[rng.integers(0, len(rest), size=n_batches)] if len(rest) else np.zeros(0, int)
    here = sites.iloc[pick].reset_index(drop=True)
    free = rng.integers(0, 16 * 12, size=n_batches)
    units = 6 * rng.integers(2, 21, size=n_batches)
    odd = rng.random(n_batches) < 0.2
    units = np.where(odd, units + rng.integers(1, 6, size=n_batches), units)
    life = np.round(free / 12 + rng.uniform(8, 30, size=n_batches), 1)
    point = shapely.point_on_surface(here.geometry.to_numpy()) if len(here) else np.zeros(0, object)
    batch_frame = gpd.GeoDataFrame(
        {
            "partij_id": [f"FP-{i + 1:03d}" for i in range(n_batches)],
            "eigenaar": rng.choice(OWNERS, size=n_batches),
            "aantal": units,
            "woningtype": rng.choice(TYPES, size=n_batches, p=[0.7, 0.3]),
            "doelgroep": np.where(
                rng.random(n_batches) < 0.2, rng.choice(GROUPS, size=n_batches), ""
            ),
            "gemeentecode": here["gemeentecode"].astype(str).to_numpy(),
            "locatie": [f"Flexproject {lbl}" for lbl in here["label"].astype(str)],
            "vrij_vanaf": [_ym(reference_date, m) for m in free],
            "restlevensduur_jaren": life,
            "verhuiskosten_per_woning": 500 * rng.integers(30, 61, size=n_batches),
        },
        geometry=point,
        crs=sites.crs,
    )
    return offer_frame, batch_frame
