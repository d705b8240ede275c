"""Checks across sources, after each source was read and validated on its own.

:func:`cross_checks` records the problems that stop a run and the warnings a user needs to
trust a result: vacancy ids that are not units of the BAG (stale ids are a counted warning and
are ignored; a vacancy file none of whose ids is in the BAG is a problem), the municipalities
that the parcels or the BAG do not cover, a scan without exclusion zones. It also limits the
coded layers to the ``--gemeente`` selection. The same checks run for a full scan, ``check``
and ``scan --gemeente``.
"""

from __future__ import annotations

import pandas as pd

from pipeline import schemas
from pipeline.catalog.report import LoadReport
from pipeline.catalog.sources_file import Sources
from pipeline.errors import Problem
from pipeline.sources import vacancy
from pipeline.sources._common import isin

#: Canonical layers that carry a ``gemeentecode``.
CODED_LAYERS = ("parcels", "buildings", "units")
#: What a municipality without parcels resp. buildings misses (for the warnings).
_COVERAGE = {
    "parcels": "no tijdelijke locaties are scanned there",
    "buildings": "no offices or shops are scanned there",
}


def cross_checks(
    layers: dict[str, pd.DataFrame],
    sources: Sources,
    report: LoadReport,
    selected: list[str] | None,
    *,
    failed: set[str] | frozenset[str] = frozenset(),
) -> list[Problem]:
    """Limit the coded layers to the selection, then check vacancy and coverage.

    Returns the problems (the caller raises them with the others); warnings go to ``report``.
    ``failed``: the sources.yaml keys that had problems of their own; checks that need them
    are skipped (their problems are reported already).
    """
    problems: list[Problem] = []
    if "municipalities" in failed:
        return problems
    limit_to_selection(layers, report, selected)
    if not failed & {"buildings", "vacancy"}:
        problems += _vacancy_ids(layers, sources, report, selected)
    if not failed & {"parcels", "buildings"}:
        problems += _coverage(layers, sources, report, selected)
    if "exclusion_zones" not in sources.entries:
        report.warnings.append(
            "[exclusion_zones] no exclusion zones in sources.yaml: no site is excluded for lying "
            "in Natura 2000, NNN, an external-safety or a high-voltage zone"
        )
    return problems


def limit_to_selection(
    layers: dict[str, pd.DataFrame], report: LoadReport, selected: list[str] | None
) -> None:
    """Keep only the selected municipalities' parcels, buildings and units; warn about
    objects outside every municipality."""
    if layers.get("municipalities") is None:
        return
    for name in CODED_LAYERS:
        if name not in layers:
            continue
        gdf = layers[name]
        if selected:
            gdf = gdf[isin(gdf["gemeentecode"], selected)]
        outside = int(gdf["gemeentecode"].isna().sum())
        if outside:
            report.warnings.append(
                f"[{report.layer_sources.get(name, name)}] {outside} {name} lie outside every "
                "municipality (gemeentecode empty)"
            )
        layers[name] = gdf


def _vacancy_ids(
    layers: dict[str, pd.DataFrame],
    sources: Sources,
    report: LoadReport,
    selected: list[str] | None,
) -> list[Problem]:
    """Vacancy rows must name current BAG units.

    Stale ids (a unit withdrawn or merged in a newer BAG than the vacancy register) are counted
    in a warning and left out. When none of the rows names a unit, the file does not belong to
    this BAG: a problem. Under ``--gemeente`` only the units of the selected municipalities are
    read, so a row counts as stale only when its id was issued by a selected municipality (its
    first four digits, e.g. ``0599…`` for GM0599); other rows lie outside the selection and are
    left out silently.
    """
    v = layers.get("vacancy")
    units = layers.get("units")
    if v is None or len(v) == 0 or units is None:
        return []
    unknown = vacancy.unknown_vbo_ids(v, units["vbo_id"])
    known = len(v) - len(unknown)
    layers["vacancy"] = v[~v.index.isin(unknown.index)]
    if selected:
        digits = [c[2:] for c in selected]
        unknown = unknown[unknown["vbo_id"].str.slice(0, 4).isin(digits)]
    checked = known + len(unknown)
    if not len(unknown):
        return []
    spec = sources.entries["vacancy"]
    ids = schemas.format_rows(list(unknown["vbo_id"]))
    rows = schemas.format_rows(list(unknown.index))
    if len(unknown) == checked:
        return [
            Problem(
                f"none of the {checked} verblijfsobject id(s) is a current unit of the BAG source "
                f"({ids})",
                fix="check that the vacancy file belongs to the same area and BAG extract "
                "(ids are the 16-digit verblijfsobject identificatie)",
                file=str(spec.path),
                column="verblijfsobject_id",
                row=rows,
                source="vacancy",
            )
        ]
    report.warnings.append(
        f"[vacancy] {len(unknown)} of {checked} verblijfsobject id(s) are not current units of "
        f"the BAG source (withdrawn or merged since the vacancy register was made?); these rows "
        f"are ignored: {ids} (row {rows} of {spec.path.name})"
    )
    return []


def _coverage(
    layers: dict[str, pd.DataFrame],
    sources: Sources,
    report: LoadReport,
    selected: list[str] | None,
) -> list[Problem]:
    """Warn about municipalities without parcels or buildings; a selection that no source
    covers at all is a problem (there is nothing to scan)."""
    mun = layers.get("municipalities")
    if mun is None or len(mun) == 0:
        return []
    names = dict(zip(mun["gemeentecode"], mun["gemeentenaam"], strict=False))
    codes = sorted(names)
    empty: dict[str, list[str]] = {}
    for layer in ("parcels", "buildings"):
        gdf = layers.get(layer)
        if gdf is None or layer not in report.layer_sources:
            continue
        present = set(gdf["gemeentecode"].dropna().unique())
        empty[layer] = [c for c in codes if c not in present]
        if not empty[layer]:
            continue
        listed = ", ".join(f"{c} {names[c]}" for c in empty[layer][:5])
        more = f" and {len(empty[layer]) - 5} more" if len(empty[layer]) > 5 else ""
        key = report.layer_sources[layer]
        report.warnings.append(
            f"[{key}] {len(empty[layer])} of {len(codes)} "
            f"municipalit{'y' if len(codes) == 1 else 'ies'} "
            f"ha{'s' if len(empty[layer]) == 1 else 've'} no {layer}: {listed}{more}; "
            f"{sources.entries[key].path.name} does not cover "
            f"{'it' if len(empty[layer]) == 1 else 'them'}, so {_COVERAGE[layer]}"
        )
    uncovered = [c for c in codes if all(c in e for e in empty.values())]
    if selected and empty and uncovered == codes:
        return [
            Problem(
                f"nothing to scan in {', '.join(f'{c} {names[c]}' for c in codes)}: neither the "
                "parcels nor the BAG source has any object there",
                fix="point parcels and buildings in sources.yaml at data that covers this "
                "municipality (e.g. `kansenkaart fetch --gemeente "
                f"{codes[0]} --out DIR`), or choose another --gemeente",
                file=str(sources.yaml_path),
                source="parcels",
            )
        ]
    return []
