"""The business case of scored sites: inputs from the scan's columns, suggestions, comparison.

:func:`site_inputs` reads a site table's homes (``capacity_low``/``capacity_units``/
``capacity_high``), availability window (``beschikbaar_jaren``, else the permit term) and land
area; :func:`business_cases` runs the model on a whole table (vectorised);
:func:`site_business_case` answers for one site what the api and the web panel show: the
knobs with their sources, the cash flow, the rent check, the scenario comparison and the
suggestions (the grondabonnement where the owner is public).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.businesscase.config import (
    PUBLIC_OWNERS,
    SCENARIOS,
    KeyFigures,
    Knobs,
    load_key_figures,
    resolve_knobs,
)
from pipeline.businesscase.model import BusinessCase, business_case
from pipeline.scoring.config import format_nl

CAPACITY_COLUMNS = {"laag": "capacity_low", "midden": "capacity_units", "hoog": "capacity_high"}
OWNER_NAMES = {
    "provincie": "de provincie",
    "gemeente": "de gemeente",
    "rijk": "het Rijk",
    "corporatie": "een woningcorporatie",
    "overig": "een andere eigenaar",
    "onbekend": "een onbekende eigenaar",
}
SCENARIO_LABELS = {
    "restwaarde": "Verkoop of restwaarde na de eerste termijn",
    "verplaatsing_1": "Eén verplaatsing",
    "verplaatsing_2": "Twee verplaatsingen",
}
DISCLAIMER = (
    "Rekenvoorbeeld, geen besluit: kengetallen gemodelleerd naar het Rekenmodel flexwonen "
    "(BZK, 2023); bedragen excl. btw. Vertrouwelijk."
)


def euro(value: float | None, decimals: int = 0) -> str:
    """``€ 1.234.567`` (negative: ``−€ 1.234``); ``—`` for a missing value."""
    if value is None or not np.isfinite(value):
        return "—"
    text = format_nl(abs(float(value)), decimals)
    return f"−€ {text}" if value < 0 else f"€ {text}"


@dataclass(frozen=True)
class SiteInputs:
    """Per site: homes, availability window (years) and where it came from, land area."""

    homes: np.ndarray
    window_years: np.ndarray
    window_from_scan: np.ndarray  # bool: beschikbaar_jaren known (else the permit term)
    area_m2: np.ndarray


def _column(df: pd.DataFrame, name: str) -> pd.Series | None:
    if name not in df.columns:
        return None
    return pd.to_numeric(df[name], errors="coerce")


def site_inputs(
    sites: pd.DataFrame, *, opportunity_type: str, knobs: Knobs, key_figures: KeyFigures
) -> SiteInputs:
    """The model's inputs from the scan's columns (docs/contracts.md §F.1).

    ``homes``: the capacity column of ``knobs.capacity`` (``capacity_low``/``capacity_units``/
    ``capacity_high``), falling back to ``capacity_units``; ``window_years``:
    ``beschikbaar_jaren`` where known, else the permit term; ``area_m2``: the first known of
    the type's ``area_columns`` (plots: ``net_area_m2``, ``area_m2``).
    """
    n = len(sites)
    units = _column(sites, "capacity_units")
    homes = units if units is not None else pd.Series(np.zeros(n), index=sites.index)
    chosen = _column(sites, CAPACITY_COLUMNS[knobs.capacity])
    if chosen is not None:
        homes = chosen.fillna(homes)
    window = _column(sites, "beschikbaar_jaren")
    known = window.notna().to_numpy() if window is not None else np.zeros(n, dtype=bool)
    permit = float(key_figures.permit_term_years)
    window_years = (
        window.fillna(permit).to_numpy(dtype="float64")
        if window is not None
        else np.full(n, permit)
    )
    area = pd.Series(np.full(n, np.nan), index=sites.index)
    profile = key_figures.types.get(opportunity_type)
    for col in profile.area_columns if profile is not None else ["area_m2"]:
        values = _column(sites, col)
        if values is not None:
            area = area.fillna(values)
    return SiteInputs(
        homes=homes.fillna(0).to_numpy(dtype="float64"),
        window_years=window_years,
        window_from_scan=known,
        area_m2=area.fillna(0).to_numpy(dtype="float64"),
    )


def business_cases(
    sites: pd.DataFrame,
    *,
    opportunity_type: str,
    overrides: Mapping[str, Any] | None = None,
    key_figures: KeyFigures | None = None,
    today: dt.date | None = None,
) -> tuple[BusinessCase, Knobs]:
    """The business case of every row of a scored site table, one set of knobs for all."""
    kf = key_figures or load_key_figures()
    knobs = resolve_knobs(kf, overrides, opportunity_type=opportunity_type, today=today)
    inputs = site_inputs(sites, opportunity_type=opportunity_type, knobs=knobs, key_figures=kf)
    return business_case(inputs.homes, inputs.window_years, inputs.area_m2, knobs=knobs), knobs


def business_case_table(
    sites: pd.DataFrame,
    *,
    opportunity_type: str,
    overrides: Mapping[str, Any] | None = None,
    key_figures: KeyFigures | None = None,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """One row per site: homes, first term, investment, NPV, IRR, break-even rent and term."""
    case, _ = business_cases(
        sites,
        opportunity_type=opportunity_type,
        overrides=overrides,
        key_figures=key_figures,
        today=today,
    )
    return pd.DataFrame(
        {
            "woningen": case.homes,
            "eerste_termijn_jaar": case.first_term,
            "investering_eur": case.investment,
            "ncw_eur": case.npv,
            "irr": case.irr,
            "break_even_huur_eur": case.break_even_rent,
            "break_even_termijn_jaar": case.break_even_term,
        },
        index=sites.index,
    )


def rent_check(key_figures: KeyFigures, knobs: Knobs) -> dict[str, Any]:
    """The starting rent against the start year's huurtoeslag limits (a Dutch sentence)."""
    year, limits = key_figures.rent_limits(knobs.start_year)
    rent = knobs.rent_eur_month
    if rent <= limits.kwaliteitskortingsgrens:
        status = "doelgroep"
        text = (
            f"De huur van {euro(rent, 2)} ligt niet boven de kwaliteitskortingsgrens van "
            f"{euro(limits.kwaliteitskortingsgrens, 2)} ({year}): de doelgroep van de scan."
        )
    elif rent <= limits.maximale_huurgrens:
        status = "huurtoeslag"
        text = (
            f"De huur van {euro(rent, 2)} ligt boven de kwaliteitskortingsgrens van "
            f"{euro(limits.kwaliteitskortingsgrens, 2)} maar onder de maximale huurgrens van "
            f"{euro(limits.maximale_huurgrens, 2)} ({year}): huurtoeslag is mogelijk, maar "
            "niet voor het hele deel boven de grens."
        )
    else:
        status = "boven_huurtoeslaggrens"
        text = (
            f"De huur van {euro(rent, 2)} ligt boven de maximale huurgrens van de huurtoeslag "
            f"({euro(limits.maximale_huurgrens, 2)}, {year}): geen huurtoeslag, dus niet voor "
            "de doelgroep van de scan."
        )
    if year != knobs.start_year:
        text += (
            f" (Voor {knobs.start_year} staan geen grenzen in de kengetallen; gebruikt: {year}.)"
        )
    return {
        "year": year,
        "kwaliteitskortingsgrens": limits.kwaliteitskortingsgrens,
        "maximale_huurgrens": limits.maximale_huurgrens,
        "rent_eur_month": rent,
        "status": status,
        "text": text,
        "source": limits.source,
    }


def knob_specs(key_figures: KeyFigures, knobs: Knobs) -> list[dict[str, Any]]:
    """Every knob with its effective value and spec (label, range, unit, source)."""
    out = []
    for name, spec in key_figures.knobs.items():
        entry = spec.model_dump(exclude_none=True)
        entry["name"] = name
        entry["value"] = getattr(knobs, name)
        out.append(entry)
    return out


def _scalar(props: Mapping[str, Any], key: str) -> Any:
    value = props.get(key)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def site_business_case(
    properties: Mapping[str, Any],
    *,
    opportunity_type: str,
    overrides: Mapping[str, Any] | None = None,
    key_figures: KeyFigures | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Everything the panel shows for one site (JSON-ready; docs/contracts.md §D and §F).

    Parameters
    ----------
    properties
        The site's columns (a result row or ``GET /api/sites/{layer}/{id}``'s properties).
    opportunity_type
        ``tijdelijke_locatie``, ``kantoortransformatie`` or ``plinttransformatie``.
    overrides
        Knob values that replace the defaults (strings are parsed).
    """
    kf = key_figures or load_key_figures()
    knobs = resolve_knobs(kf, overrides, opportunity_type=opportunity_type, today=today)
    frame = pd.DataFrame([{k: _scalar(properties, k) for k in properties}])
    inputs = site_inputs(frame, opportunity_type=opportunity_type, knobs=knobs, key_figures=kf)
    case = business_case(inputs.homes, inputs.window_years, inputs.area_m2, knobs=knobs)
    result = case.site(0)

    scenarios = []
    for name in SCENARIOS:
        other = (
            case
            if name == knobs.scenario
            else business_case(
                inputs.homes,
                inputs.window_years,
                inputs.area_m2,
                knobs=knobs.replace(scenario=name),
            )
        )
        row = other.site(0)
        scenarios.append(
            {
                "scenario": name,
                "label": SCENARIO_LABELS[name],
                "selected": name == knobs.scenario,
                **{
                    k: row[k]
                    for k in ("npv", "irr", "break_even_rent", "break_even_term", "end_year")
                },
            }
        )

    owner = str(_scalar(properties, "owner_class") or "onbekend")
    window = int(inputs.window_years[0])
    notes = []
    if inputs.window_from_scan[0]:
        until = _scalar(properties, "beschikbaar_tot")
        notes.append(
            f"Beschikbaarheid uit de scan: {window} jaar"
            + (f" (tot de start van een woningbouwplan in {int(until)})" if until else "")
            + "."
        )
    else:
        notes.append(
            f"De scan geeft geen beschikbaarheidsvenster: gerekend met de vergunningstermijn "
            f"van {window} jaar."
        )
    if knobs.first_term_years is not None and knobs.first_term_years > window:
        notes.append(
            f"Let op: de gekozen eerste termijn ({knobs.first_term_years} jaar) is langer dan de "
            f"locatie beschikbaar is ({window} jaar)."
        )
    be_term = case.break_even_term[0]
    first_term = int(case.first_term[0])
    if np.isnan(be_term):
        notes.append("Binnen 40 jaar eerste termijn wordt de netto contante waarde niet positief.")
    elif be_term > first_term:
        notes.append(
            f"De businesscase sluit pas bij een eerste termijn van {int(be_term)} jaar; "
            f"gerekend is met {first_term} jaar."
        )
    profile = kf.types.get(opportunity_type)
    if profile is not None:
        notes += profile.notes

    suggestions = []
    if (
        opportunity_type == "tijdelijke_locatie"
        and owner in PUBLIC_OWNERS
        and knobs.land_option != "grondabonnement"
    ):
        alt = business_case(
            inputs.homes,
            inputs.window_years,
            inputs.area_m2,
            knobs=knobs.replace(land_option="grondabonnement"),
        )
        suggestions.append(
            {
                "knob": "land_option",
                "value": "grondabonnement",
                "npv": round(float(alt.npv[0]), 2),
                "text": (
                    f"De grond is van {OWNER_NAMES.get(owner, owner)}: een grondabonnement "
                    "(een jaarlijkse vergoeding in plaats van koop of erfpacht) ligt voor de hand. "
                    f"De netto contante waarde wordt dan {euro(float(alt.npv[0]))} "
                    f"(nu {euro(float(case.npv[0]))})."
                ),
            }
        )
    if (
        knobs.scenario != "restwaarde"
        and not knobs.guarantee
        and opportunity_type == "tijdelijke_locatie"
    ):
        alt = business_case(
            inputs.homes,
            inputs.window_years,
            inputs.area_m2,
            knobs=knobs.replace(guarantee=True),
        )
        suggestions.append(
            {
                "knob": "guarantee",
                "value": True,
                "npv": round(float(alt.npv[0]), 2),
                "text": (
                    "Met de Regeling tegemoetkoming herplaatsing flexwoningen (RTHF) dekken Rijk "
                    "en gemeente 85 % van een tekort bij verkoop; netto contante waarde dan "
                    f"{euro(float(alt.npv[0]))}."
                ),
            }
        )

    return {
        "site_id": _scalar(properties, "site_id"),
        "opportunity_type": opportunity_type,
        "inputs": {
            "capacity_units": _scalar(properties, "capacity_units"),
            "capacity_low": _scalar(properties, "capacity_low"),
            "capacity_high": _scalar(properties, "capacity_high"),
            "homes": int(case.homes[0]),
            "window_years": window,
            "window_source": "beschikbaar_jaren"
            if inputs.window_from_scan[0]
            else "vergunningstermijn",
            "beschikbaar_tot": _scalar(properties, "beschikbaar_tot"),
            "owner_class": owner,
            "public_owner": owner in PUBLIC_OWNERS,
            "area_m2": round(float(inputs.area_m2[0]), 1),
        },
        "knobs": knob_specs(kf, knobs),
        "result": result,
        "rent_check": rent_check(kf, knobs),
        "scenarios": scenarios,
        "suggestions": suggestions,
        "notes": notes,
        "disclaimer": DISCLAIMER,
    }
