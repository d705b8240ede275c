"""Parts of the explanation built from table columns: capacity range and availability.

Both return one JSON object text per row (docs/contracts.md §C ``explanation.capacity`` and
``explanation.availability``), built column-wise like the rest of the explanation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.scoring.text import concat, format_values, json_numbers, json_strings, where


def capacity_json(cand: pd.DataFrame) -> pa.Array | None:
    """``{"units", "low", "high", "text"}``: the central estimate and its range, in Dutch."""
    if "capacity_units" not in cand.columns:
        return None
    n = len(cand)
    units = cand["capacity_units"].to_numpy(dtype="float64")
    low = cand["capacity_low"].to_numpy(dtype="float64") if "capacity_low" in cand else units
    high = cand["capacity_high"].to_numpy(dtype="float64") if "capacity_high" in cand else units
    same = (low == units) & (high == units)
    homes = where(units == 1, "1 woning", format_values(units, "woningen"))
    text = where(
        same,
        concat(["Circa ", homes], n),
        concat(
            [
                "Circa ",
                homes,
                " (bandbreedte ",
                format_values(low, "aantal"),
                "–",
                format_values(high, "aantal"),
                ")",
            ],
            n,
        ),
    )
    return concat(
        [
            '{"units": ',
            json_numbers(units, decimals=0),
            ', "low": ',
            json_numbers(low, decimals=0),
            ', "high": ',
            json_numbers(high, decimals=0),
            ', "text": ',
            json_strings(text),
            "}",
        ],
        n,
    )


def availability_json(cand: pd.DataFrame) -> pa.Array | None:
    """``{"case", "until", "years", "text"}`` of a site (docs/contracts.md §E.3), in Dutch.

    ``geen_plan``: no permanent plan known, the full permit term applies; ``tot_ontwikkeling``:
    temporary until the plan starts (its name, status and start year in the text).
    """
    if "beschikbaarheid" not in cand.columns:
        return None
    n = len(cand)
    case = cand["beschikbaarheid"].astype(object).to_numpy()
    until = pd.to_numeric(cand["beschikbaar_tot"], errors="coerce").to_numpy(dtype="float64")
    years = pd.to_numeric(cand["beschikbaar_jaren"], errors="coerce").to_numpy(dtype="float64")
    name = (
        cand["plan_naam"].astype(object)
        if "plan_naam" in cand
        else pd.Series(None, index=cand.index)
    )
    status = (
        cand["plan_status"].astype(object)
        if "plan_status" in cand
        else pd.Series(None, index=cand.index)
    )
    plan = pd.Series(
        np.where(
            name.notna(),
            "woningbouwplan ‘" + name.fillna("").astype(str) + "’",
            "een woningbouwplan",
        ),
        index=cand.index,
    )
    status_text = status.map(
        {"hard": "hard plan", "zacht": "zacht plan, nog niet vastgesteld"}
    ).fillna("status onbekend")
    has_plan = case == "tot_ontwikkeling"
    text = where(
        has_plan,
        concat(
            [
                "Tijdelijk tot ontwikkeling: ",
                pa.array(plan.to_numpy(dtype=object), type=pa.string()),
                " (",
                pa.array(status_text.to_numpy(dtype=object), type=pa.string()),
                ") start in ",
                format_values(until, "bouwjaar"),
                "; de locatie is circa ",
                format_values(years, "jaar"),
                " beschikbaar.",
            ],
            n,
        ),
        concat(
            [
                "Geen permanent woningbouwplan bekend: beschikbaar voor de volle termijn van een "
                "tijdelijke vergunning (",
                format_values(years, "jaar"),
                ").",
            ],
            n,
        ),
    )
    return concat(
        [
            '{"case": ',
            json_strings(pa.array(case, type=pa.string())),
            ', "until": ',
            json_numbers(until, decimals=0),
            ', "years": ',
            json_numbers(years, decimals=0),
            ', "text": ',
            json_strings(text),
            "}",
        ],
        n,
    )
