"""Features of BAG units (verblijfsobjecten) and buildings (panden): use, vacancy, shops.

Units are points with a multi-valued ``gebruiksdoel``; buildings aggregate their units by
``pand_id`` with :func:`numpy.bincount` (no group-by loops). Vacancy durations are measured
against a fixed ``reference_date`` (from the config or the vacancy source's date) so two runs
give identical output.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features._spatial import geometry_array, lookup_positions

DAYS_PER_YEAR = 365.25
#: Streets with fewer shop units than this (outside the core area) are secondary streets.
SECONDARY_STREET_MAX_SHOPS = 10


def use_flags(units: pd.DataFrame, uses: tuple[str, ...]) -> pd.DataFrame:
    """One boolean column per gebruiksdoel in ``uses`` plus ``n_uses`` (number of uses).

    ``gebruiksdoel`` may hold lists (canonical) or comma-separated strings.
    """
    values = units["gebruiksdoel"]
    n = len(units)
    out = pd.DataFrame(index=units.index)
    if n == 0:
        for u in uses:
            out[u] = np.zeros(0, dtype=bool)
        out["n_uses"] = np.zeros(0, dtype=np.int64)
        return out
    pos = pd.Series(np.arange(n), index=pd.RangeIndex(n))
    vals = pd.Series(values.to_numpy(), index=pos.index)
    strings = vals.map(type) == str  # noqa: E721 - exact type check is the point
    if strings.any():
        vals = vals.where(~strings, vals[strings].str.split(","))
    exploded = vals.explode()
    idx = exploded.index.to_numpy()
    flat = np.asarray(exploded.astype("string").str.strip().to_numpy(dtype=object, na_value=None))  # type: ignore[call-overload]
    present = pd.notna(flat)
    for u in uses:
        hit = np.zeros(n, dtype=bool)
        hit[idx[present & (flat == u)]] = True
        out[u] = hit
    out["n_uses"] = np.bincount(idx[present], minlength=n)
    return out


def _as_date(value: dt.date | dt.datetime | str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(value).normalize().tz_localize(None)


def vacant_since(
    units: pd.DataFrame, vacancy: pd.DataFrame, *, reference_date: dt.date
) -> pd.Series:
    """The date each unit became vacant, if it is vacant on ``reference_date`` (else NaT).

    A registration that starts after the reference date does not count yet.
    """
    ref = _as_date(reference_date)
    if len(vacancy):
        since = pd.to_datetime(vacancy.set_index("vbo_id")["vacant_since"], errors="coerce")
        since = since[~since.index.duplicated(keep="first")]
        if getattr(since.dt, "tz", None) is not None:
            since = since.dt.tz_localize(None)
        s = pd.Series(since.reindex(units.index.astype(str)).to_numpy(), index=units.index)
        s = s.where(s <= ref)
    else:
        s = pd.Series(pd.NaT, index=units.index, dtype="datetime64[ns]")
    return s.rename("vacant_since")


def unit_vacant_years(
    units: pd.DataFrame, vacancy: pd.DataFrame, *, reference_date: dt.date
) -> pd.Series:
    """Years a unit has been vacant on the reference date (0 when not vacant).

    ``vacant_years = (reference_date − vacant_since) / 365.25 days``.
    """
    return vacant_years(
        vacant_since(units, vacancy, reference_date=reference_date), reference_date=reference_date
    )


def vacant_years(since: pd.Series, *, reference_date: dt.date) -> pd.Series:
    """:func:`unit_vacant_years` from the units' :func:`vacant_since` dates."""
    days = (_as_date(reference_date) - since).dt.days.astype("float64")
    return (days / DAYS_PER_YEAR).fillna(0.0).clip(lower=0.0).rename("vacant_years")


def unit_is_vacant(
    units: pd.DataFrame, vacancy: pd.DataFrame, *, reference_date: dt.date
) -> pd.Series:
    """``True`` when the unit is registered vacant on the reference date."""
    return vacant_since(units, vacancy, reference_date=reference_date).notna().rename("is_vacant")


#: Optional precomputed column of ``units``: the position of its building (see building_positions).
POS_COLUMN = "_building_pos"


def building_positions(buildings: pd.DataFrame, units: pd.DataFrame) -> np.ndarray:
    """Position of each unit's building in ``buildings`` (−1 without a known building).

    Store the result in ``units[POS_COLUMN]`` to let every building aggregate reuse it.
    """
    pand = units["pand_id"].to_numpy(dtype=object, na_value="")
    return lookup_positions(pd.Index(buildings.index.to_numpy(dtype=object)), pand)


def _building_pos(buildings: pd.DataFrame, units: pd.DataFrame) -> np.ndarray:
    if POS_COLUMN in units.columns:
        return units[POS_COLUMN].to_numpy()
    return building_positions(buildings, units)


def _per_building(buildings: pd.DataFrame, units: pd.DataFrame, weights: np.ndarray) -> np.ndarray:
    pos = _building_pos(buildings, units)
    ok = pos >= 0
    return np.bincount(
        pos[ok], weights=np.asarray(weights, dtype=float)[ok], minlength=len(buildings)
    )


def _unit_area(units: pd.DataFrame) -> np.ndarray:
    return (
        pd.to_numeric(units["oppervlakte_m2"], errors="coerce")
        .fillna(0.0)
        .clip(lower=0)
        .to_numpy(float)
    )


def floor_area(buildings: pd.DataFrame, units: pd.DataFrame) -> pd.Series:
    """Total floor area of a building: ``floor_area_m2 = Σ oppervlakte_m2`` of its units."""
    return pd.Series(
        _per_building(buildings, units, _unit_area(units)),
        index=buildings.index,
        name="floor_area_m2",
    )


def office_floor_area(
    buildings: pd.DataFrame, units: pd.DataFrame, flags: pd.DataFrame
) -> pd.Series:
    """Office floor area: ``office_floor_m2 = Σ_u oppervlakte(u) × [kantoor ∈ u] / n_uses(u)``.

    A unit with several uses (``kantoorfunctie,winkelfunctie``) counts its area equally
    over its uses, since BAG does not say how the floor is divided.
    """
    share = np.where(
        flags["n_uses"] > 0, flags["kantoorfunctie"] / np.maximum(flags["n_uses"], 1), 0.0
    )
    return pd.Series(
        _per_building(buildings, units, _unit_area(units) * share),
        index=buildings.index,
        name="office_floor_m2",
    )


def office_share(office_floor_m2: pd.Series, floor_area_m2: pd.Series) -> pd.Series:
    """``office_share = office_floor_m2 / floor_area_m2`` (0 for a building without floor area)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(floor_area_m2 > 0, office_floor_m2 / floor_area_m2, 0.0)
    return pd.Series(np.clip(v, 0, 1), index=office_floor_m2.index, name="office_share")


def building_vacant_share(
    buildings: pd.DataFrame, units: pd.DataFrame, unit_vacant: pd.Series
) -> pd.Series:
    """``vacant_share = Σ area of vacant units / Σ area of units`` (0 without floor area)."""
    area = _unit_area(units)
    vac = _per_building(buildings, units, area * unit_vacant.to_numpy(bool))
    tot = _per_building(buildings, units, area)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(tot > 0, vac / tot, 0.0)
    return pd.Series(np.clip(v, 0, 1), index=buildings.index, name="vacant_share")


def building_vacant_office_floor(
    buildings: pd.DataFrame, units: pd.DataFrame, flags: pd.DataFrame, unit_vacant: pd.Series
) -> pd.Series:
    """The vacant office floor: ``Σ_u vacant(u) × oppervlakte(u) × [kantoor ∈ u] / n_uses(u)``."""
    share = np.where(
        flags["n_uses"] > 0, flags["kantoorfunctie"] / np.maximum(flags["n_uses"], 1), 0.0
    )
    weights = _unit_area(units) * share * unit_vacant.to_numpy(bool)
    return pd.Series(
        _per_building(buildings, units, weights),
        index=buildings.index,
        name="vacant_office_floor_m2",
    )


def building_vacant_years(
    buildings: pd.DataFrame, units: pd.DataFrame, unit_years: pd.Series, unit_vacant: pd.Series
) -> pd.Series:
    """Floor-area-weighted mean vacancy (years) of the building's vacant units (0 if none).

    ``vacant_years = Σ_{u vacant} area(u) × years(u) / Σ_{u vacant} area(u)``; a vacant unit
    without a floor area counts with weight 1 m² (so it is not lost).
    """
    vac = unit_vacant.to_numpy(bool)
    area = np.where(vac, np.maximum(_unit_area(units), 1.0), 0.0)
    years = unit_years.to_numpy(float)
    num = _per_building(buildings, units, area * np.nan_to_num(years))
    den = _per_building(buildings, units, area)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / den, 0.0)
    return pd.Series(out, index=buildings.index, name="vacant_years")


def building_energielabel(buildings: pd.DataFrame, units: pd.DataFrame) -> pd.Series:
    """The energy label of the building's largest unit that has one, else ``onbekend``.

    Equal areas go to the worse label (later letter), independent of row order.
    """
    out = pd.Series("onbekend", index=buildings.index, name="energielabel", dtype=object)
    if "energielabel" not in units or len(units) == 0:
        return out
    lab = units["energielabel"].astype("string").str.strip().str.upper()
    df = pd.DataFrame(
        {"pos": _building_pos(buildings, units), "area": _unit_area(units), "label": lab}
    )
    df = df[(df["pos"] >= 0) & df["label"].notna() & (df["label"] != "")]
    if len(df) == 0:
        return out
    df = df.sort_values(["pos", "area", "label"], ascending=[True, False, False], kind="mergesort")
    first = df.drop_duplicates("pos")
    out.iloc[first["pos"].to_numpy()] = first["label"].to_numpy(dtype=object)  # type: ignore[call-overload]
    return out


def unit_counts(
    buildings: pd.DataFrame, units: pd.DataFrame, mask: np.ndarray | None = None
) -> pd.Series:
    """Number of (masked) units per building."""
    w = np.ones(len(units)) if mask is None else np.asarray(mask, dtype=float)
    return pd.Series(
        _per_building(buildings, units, w).astype(np.int64), index=buildings.index, name="n_units"
    )


def storeys(buildings: gpd.GeoDataFrame, floor_area_m2: pd.Series) -> pd.Series:
    """Number of storeys: BAG-derived ``bouwlagen`` when present, else estimated.

    Estimate: ``bouwlagen = max(1, round(floor_area_m2 / footprint_m2))`` for buildings with
    units; NaN for buildings without floor area and no ``bouwlagen``.
    """
    given = (
        pd.to_numeric(buildings["bouwlagen"], errors="coerce")
        if "bouwlagen" in buildings
        else pd.Series(np.nan, index=buildings.index)
    ).astype("float64")
    footprint = shapely.area(geometry_array(buildings))
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(
            (floor_area_m2.to_numpy() > 0) & (footprint > 0),
            np.maximum(1.0, np.round(floor_area_m2.to_numpy() / footprint)),
            np.nan,
        )
    return given.fillna(pd.Series(est, index=buildings.index)).rename("bouwlagen")


def is_ground_floor_shop(
    units: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    flags: pd.DataFrame,
    *,
    bouwlagen: pd.Series,
    slack: float = 1.1,
) -> pd.Series:
    """Whether a shop unit (winkelfunctie) is on the ground floor (a plint).

    BAG records no floor number, so this is inferred per building. A shop unit counts as a
    ground-floor shop when it has a building and at least one of:

    1. the building has one storey (``bouwlagen`` ≤ 1);
    2. the building also has homes (woonfunctie units): the classic shop below flats;
    3. all shop units of the building together fit on its footprint
       (``Σ shop area ≤ slack × footprint``, default 1.1: BAG areas are measured slightly
       generously; the config's ``features.shops.ground_floor_slack``), so none needs to be
       upstairs.

    Otherwise (e.g. a multi-storey shopping centre whose shop floor exceeds its footprint)
    it is not counted as a plint. Units that are not shops are ``False``.
    """
    shop = flags["winkelfunctie"].to_numpy(bool)
    pos = _building_pos(buildings, units)
    has_b = pos >= 0
    homes = _per_building(buildings, units, flags["woonfunctie"].to_numpy(float)) > 0
    shop_area = _per_building(buildings, units, _unit_area(units) * shop)
    footprint = shapely.area(geometry_array(buildings))
    single = bouwlagen.to_numpy(float) <= 1
    fits = shop_area <= slack * footprint
    per_building = single | homes | fits
    out = np.zeros(len(units), dtype=bool)
    out[has_b] = per_building[pos[has_b]]
    return pd.Series(out & shop, index=units.index, name="is_ground_floor_shop")


def own_entrance(units: pd.DataFrame, buildings: pd.DataFrame) -> pd.Series:
    """``eigen_pand`` when the unit is its building's only address, ``gedeeld_pand`` when the
    building has other addresses too, ``onbekend`` without a known building.

    A single-address building's door is the unit's own door; in a building with more
    addresses the shop usually has its own street door too, but that is not certain.
    """
    n = unit_counts(buildings, units).to_numpy()
    pos = _building_pos(buildings, units)
    out = np.full(len(units), "onbekend", dtype=object)
    ok = pos >= 0
    out[ok] = np.where(n[pos[ok]] <= 1, "eigen_pand", "gedeeld_pand")
    return pd.Series(out, index=units.index, name="own_entrance")


def _street_key(shops: pd.DataFrame) -> pd.Series:
    street = shops["straatnaam"] if "straatnaam" in shops else pd.Series(None, index=shops.index)
    street = street.astype("string").str.strip().str.lower()
    key = shops["gemeentecode"].astype("string") + "|" + street
    return key.where(street.notna() & (street != ""))


def street_shop_units(shops: pd.DataFrame) -> pd.Series:
    """Number of shop units on the same street (straatnaam) in the same municipality.

    ``street_shop_units = |{s : gemeente(s) = gemeente(u) ∧ straat(s) = straat(u)}|``
    (including the unit itself; street names compared case- and space-insensitively); NaN
    when the street is unknown.
    """
    key = _street_key(shops)
    counts = key.map(key.value_counts()).astype("float64")
    return counts.rename("street_shop_units")


def street_shop_vacancy(shops: pd.DataFrame, is_vacant: pd.Series) -> pd.Series:
    """Street-level shop vacancy: vacant share of the shop units on the same street.

    ``street_shop_vacancy = Σ_{s on street} is_vacant(s) / street_shop_units``; NaN when the
    street is unknown (never a guess from the unit alone).
    """
    key = _street_key(shops)
    vac = is_vacant.astype(float)
    grouped = vac.groupby(key).mean()
    return key.map(grouped).astype("float64").rename("street_shop_vacancy")


def winkelligging(
    street_units: pd.Series,
    street_vacancy: pd.Series,
    in_core: pd.Series,
    *,
    min_shops: int,
    min_vacancy: float,
) -> pd.Series:
    """Where a shop unit lies in the shopping structure (contracts §E.5).

    ``onbekend`` without a known street; else ``aanloopstraat`` outside the kernwinkelgebied on
    a street with at least ``min_shops`` shop units of which at least ``min_vacancy`` is
    vacant; ``winkelstraat`` with that many shops and less vacancy (or in the core);
    ``verspreid`` with fewer shops (a scattered shop among homes).
    """
    n = street_units.to_numpy(dtype=float)
    vac = street_vacancy.to_numpy(dtype=float)
    core = in_core.fillna(False).astype(bool).to_numpy()
    many = n >= min_shops
    out = np.where(
        np.isnan(n),
        "onbekend",
        np.where(
            many & ~core & (vac >= min_vacancy - 1e-12),
            "aanloopstraat",
            np.where(many | core, "winkelstraat", "verspreid"),
        ),
    ).astype(object)
    return pd.Series(out, index=street_units.index, name="winkelligging")
