"""The two registries the match plans with, as validated tables (pure; no file access).

*Sites on offer* (``aanbod``) and *batches of relocatable homes* (``partijen``): the file and
database columns are Dutch (docs/contracts.md §G.1), the frames the planner takes use the
English names of :data:`OFFER_COLUMNS` and :data:`BATCH_COLUMNS`. :func:`offers_frame` and
:func:`batches_frame` turn rows with the Dutch names into those frames, collecting every
problem (which row, which column, how to fix it) into one :class:`~pipeline.errors.InputError`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.errors import InputError, ProblemCollector

#: Dutch column (files, database, api) → English column of the planner's frame.
OFFER_COLUMNS: dict[str, str] = {
    "aanbod_id": "offer_id",
    "site_id": "site_id",
    "gemeentecode": "gemeentecode",
    "naam": "label",
    "beschikbaar_van": "available_from",
    "beschikbaar_tot": "available_to",
    "capaciteit": "capacity",
    "doelgroepen": "target_groups",
    "aangeboden_door": "offered_by",
    "x": "x",
    "y": "y",
}
BATCH_COLUMNS: dict[str, str] = {
    "partij_id": "batch_id",
    "eigenaar": "owner",
    "aantal": "units",
    "woningtype": "unit_type",
    "doelgroep": "target_group",
    "gemeentecode": "gemeentecode",
    "locatie": "location",
    "vrij_vanaf": "free_from",
    "restlevensduur_jaren": "life_left_years",
    "verhuiskosten_per_woning": "relocation_eur_per_home",
    "x": "x",
    "y": "y",
}
#: Columns that may be empty (everything else is required).
OFFER_OPTIONAL = {"site_id", "naam", "doelgroepen", "aangeboden_door"}
BATCH_OPTIONAL = {"eigenaar", "woningtype", "doelgroep", "locatie"}

_GM = re.compile(r"^GM\d{4}$")
_YM = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-\d{1,2})?$")
#: Plausible coordinates in RD New (EPSG:28992): the Netherlands with a margin.
RD_X = (-10_000.0, 300_000.0)
RD_Y = (280_000.0, 640_000.0)


@dataclass(frozen=True)
class Registries:
    """Both registries, validated, with the date they describe.

    Attributes
    ----------
    offers
        One row per site on offer: :data:`OFFER_COLUMNS` values, ``x``/``y`` in RD New (the
        site's representative point), ``available_from``/``available_to`` as ``YYYY-MM``
        (both months included), ``capacity`` in homes, ``target_groups`` comma-separated
        (empty: any).
    batches
        One row per batch: :data:`BATCH_COLUMNS` values; ``x``/``y`` of its current site,
        ``free_from`` the first month it may move (``YYYY-MM``), ``life_left_years`` its
        technical life left on ``reference_date``.
    reference_date
        The date the registries describe (the start of the horizon unless the config says
        otherwise); ``None`` = not given.
    """

    offers: pd.DataFrame
    batches: pd.DataFrame
    reference_date: dt.date | None = None


def parse_year_month(value: Any, *, end: bool = False) -> tuple[int, int] | None:
    """``"2027-03"`` / ``"2027-03-01"`` / ``2027`` → ``(2027, 3)``; a bare year is its first
    month, or its last with ``end=True``. ``None`` when the value is not a year-month."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.date):
        return value.year, value.month
    if isinstance(value, int | float) and float(value).is_integer():
        value = str(int(value))
    m = _YM.match(str(value).strip())
    if not m:
        return None
    year = int(m.group(1))
    if m.group(2) is None:
        return (year, 12 if end else 1)
    month = int(m.group(2))
    if not 1 <= month <= 12 or not 1900 <= year <= 2200:
        return None
    return year, month


def format_year_month(ym: tuple[int, int]) -> str:
    return f"{ym[0]:04d}-{ym[1]:02d}"


def _blank(v: Any) -> bool:
    return (
        v is None
        or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and not v.strip())
    )


def _rows(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        frame = rows.astype(object).where(rows.notna(), None)
        return [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]
    return [dict(r) for r in rows]


def _check_columns(
    rows: list[dict[str, Any]], columns: Mapping[str, str], where: str, problems: ProblemCollector
) -> bool:
    present = set().union(*(r.keys() for r in rows)) if rows else set(columns)
    missing = [c for c in columns if c not in present]
    for col in missing:
        problems.add(
            f"column '{col}' is missing",
            f"add a column '{col}' (the columns are: {', '.join(columns)})",
            file=where,
            column=col,
        )
    return not missing


def _number(
    v: Any,
    *,
    col: str,
    row: int,
    where: str,
    problems: ProblemCollector,
    integer: bool,
    minimum: float,
    label: str,
) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        x = math.nan
    if math.isnan(x) or (integer and not x.is_integer()) or x < minimum:
        kind = "a whole number" if integer else "a number"
        problems.add(
            f"{label} must be {kind} of at least {minimum:g}, got {v!r}",
            f"write {kind} ≥ {minimum:g} in '{col}'",
            file=where,
            column=col,
            row=row,
        )
        return None
    return x


def _gemeentecode(v: Any, *, row: int, where: str, problems: ProblemCollector) -> str | None:
    code = str(v).strip().upper() if not _blank(v) else ""
    if not _GM.match(code):
        problems.add(
            f"'{v}' is not a CBS municipality code",
            "write the code as GM followed by four digits, e.g. GM0599",
            file=where,
            column="gemeentecode",
            row=row,
        )
        return None
    return code


def _coords(
    r: dict[str, Any], *, row: int, where: str, problems: ProblemCollector
) -> tuple[float, float] | None:
    try:
        x, y = float(r["x"]), float(r["y"])
    except (TypeError, ValueError):
        x = y = math.nan
    if not (RD_X[0] <= x <= RD_X[1] and RD_Y[0] <= y <= RD_Y[1]):
        problems.add(
            f"location ({r.get('x')!r}, {r.get('y')!r}) is not a point in the Netherlands in RD New",
            "give the site's geometry (any CRS, it is reprojected) or x/y in EPSG:28992 metres",
            file=where,
            column="x",
            row=row,
        )
        return None
    return x, y


def offers_frame(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], *, where: str = "aanbod"
) -> pd.DataFrame:
    """Validate sites on offer given with the Dutch columns; return the planner's frame.

    Raises
    ------
    InputError
        Every problem at once: missing columns, duplicate ids, bad municipality codes,
        months or capacities, a window that ends before it starts, a location outside the
        Netherlands.
    """
    records = _rows(rows)
    problems = ProblemCollector()
    out: list[dict[str, Any]] = []
    if _check_columns(
        records,
        {k: v for k, v in OFFER_COLUMNS.items() if k not in OFFER_OPTIONAL},
        where,
        problems,
    ):
        seen: dict[str, int] = {}
        for i, r in enumerate(records, start=1):
            oid = "" if _blank(r.get("aanbod_id")) else str(r["aanbod_id"]).strip()
            if not oid:
                problems.add(
                    "aanbod_id is empty",
                    "give every site on offer an id",
                    file=where,
                    column="aanbod_id",
                    row=i,
                )
            elif oid in seen:
                problems.add(
                    f"aanbod_id '{oid}' also on row {seen[oid]}",
                    "make every aanbod_id unique",
                    file=where,
                    column="aanbod_id",
                    row=i,
                )
            seen.setdefault(oid, i)
            code = _gemeentecode(r.get("gemeentecode"), row=i, where=where, problems=problems)
            van = parse_year_month(r.get("beschikbaar_van"))
            tot = parse_year_month(r.get("beschikbaar_tot"), end=True)
            for col, val in (("beschikbaar_van", van), ("beschikbaar_tot", tot)):
                if val is None:
                    problems.add(
                        f"{col} {r.get(col)!r} is not a year and month",
                        "write the month as YYYY-MM, e.g. 2027-03",
                        file=where,
                        column=col,
                        row=i,
                    )
            if van is not None and tot is not None and tot < van:
                problems.add(
                    f"beschikbaar_tot {format_year_month(tot)} is before beschikbaar_van {format_year_month(van)}",
                    "swap the months or correct the window",
                    file=where,
                    column="beschikbaar_tot",
                    row=i,
                )
            cap = _number(
                r.get("capaciteit"),
                col="capaciteit",
                row=i,
                where=where,
                problems=problems,
                integer=True,
                minimum=1,
                label="capaciteit (homes)",
            )
            xy = _coords(r, row=i, where=where, problems=problems)
            if code is None or van is None or tot is None or cap is None or xy is None or not oid:
                continue
            groups = (
                ""
                if _blank(r.get("doelgroepen"))
                else ",".join(
                    g.strip().lower() for g in str(r["doelgroepen"]).split(",") if g.strip()
                )
            )
            out.append(
                {
                    "offer_id": oid,
                    "site_id": None if _blank(r.get("site_id")) else str(r["site_id"]).strip(),
                    "gemeentecode": code,
                    "label": "" if _blank(r.get("naam")) else str(r["naam"]).strip(),
                    "x": xy[0],
                    "y": xy[1],
                    "available_from": format_year_month(van),
                    "available_to": format_year_month(tot),
                    "capacity": int(cap),
                    "target_groups": groups,
                    "offered_by": ""
                    if _blank(r.get("aangeboden_door"))
                    else str(r["aangeboden_door"]).strip(),
                }
            )
    problems.raise_if_any(
        title=f"{len(problems.problems)} problem(s) in the sites on offer ({where})"
    )
    frame = pd.DataFrame(out, columns=list(OFFER_COLUMNS.values()))
    return frame.astype({"capacity": "int64", "x": "float64", "y": "float64"})


def batches_frame(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], *, where: str = "partijen"
) -> pd.DataFrame:
    """Validate batches of relocatable homes given with the Dutch columns; return the planner's
    frame (same error rules as :func:`offers_frame`)."""
    records = _rows(rows)
    problems = ProblemCollector()
    out: list[dict[str, Any]] = []
    if _check_columns(
        records,
        {k: v for k, v in BATCH_COLUMNS.items() if k not in BATCH_OPTIONAL},
        where,
        problems,
    ):
        seen: dict[str, int] = {}
        for i, r in enumerate(records, start=1):
            bid = "" if _blank(r.get("partij_id")) else str(r["partij_id"]).strip()
            if not bid:
                problems.add(
                    "partij_id is empty",
                    "give every batch an id",
                    file=where,
                    column="partij_id",
                    row=i,
                )
            elif bid in seen:
                problems.add(
                    f"partij_id '{bid}' also on row {seen[bid]}",
                    "make every partij_id unique",
                    file=where,
                    column="partij_id",
                    row=i,
                )
            seen.setdefault(bid, i)
            code = _gemeentecode(r.get("gemeentecode"), row=i, where=where, problems=problems)
            free = parse_year_month(r.get("vrij_vanaf"))
            if free is None:
                problems.add(
                    f"vrij_vanaf {r.get('vrij_vanaf')!r} is not a year and month",
                    "write the first month the homes may move as YYYY-MM (the month after the term ends)",
                    file=where,
                    column="vrij_vanaf",
                    row=i,
                )
            units = _number(
                r.get("aantal"),
                col="aantal",
                row=i,
                where=where,
                problems=problems,
                integer=True,
                minimum=1,
                label="aantal (homes)",
            )
            life = _number(
                r.get("restlevensduur_jaren"),
                col="restlevensduur_jaren",
                row=i,
                where=where,
                problems=problems,
                integer=False,
                minimum=0,
                label="restlevensduur_jaren",
            )
            cost = _number(
                r.get("verhuiskosten_per_woning"),
                col="verhuiskosten_per_woning",
                row=i,
                where=where,
                problems=problems,
                integer=False,
                minimum=0,
                label="verhuiskosten_per_woning (euro)",
            )
            xy = _coords(r, row=i, where=where, problems=problems)
            if (
                code is None
                or free is None
                or units is None
                or life is None
                or cost is None
                or xy is None
                or not bid
            ):
                continue
            out.append(
                {
                    "batch_id": bid,
                    "owner": "" if _blank(r.get("eigenaar")) else str(r["eigenaar"]).strip(),
                    "units": int(units),
                    "unit_type": ""
                    if _blank(r.get("woningtype"))
                    else str(r["woningtype"]).strip(),
                    "target_group": ""
                    if _blank(r.get("doelgroep"))
                    else str(r["doelgroep"]).strip().lower(),
                    "gemeentecode": code,
                    "location": "" if _blank(r.get("locatie")) else str(r["locatie"]).strip(),
                    "free_from": format_year_month(free),
                    "life_left_years": float(life),
                    "relocation_eur_per_home": float(cost),
                    "x": xy[0],
                    "y": xy[1],
                }
            )
    problems.raise_if_any(title=f"{len(problems.problems)} problem(s) in the batches ({where})")
    frame = pd.DataFrame(out, columns=list(BATCH_COLUMNS.values()))
    return frame.astype(
        {
            "units": "int64",
            "x": "float64",
            "y": "float64",
            "life_left_years": "float64",
            "relocation_eur_per_home": "float64",
        }
    )


def to_dutch(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """The planner's frame with the Dutch column names again (for files, the database, the api)."""
    inverse = {v: k for k, v in columns.items()}
    return frame.rename(columns=inverse)[[c for c in columns if inverse.get(columns[c]) == c]]


__all__ = [
    "BATCH_COLUMNS",
    "OFFER_COLUMNS",
    "InputError",
    "Registries",
    "batches_frame",
    "format_year_month",
    "offers_frame",
    "parse_year_month",
    "to_dutch",
]
