"""Checks across sources, after each source was read and validated on its own.

:func:`cross_checks` returns the problems that stop a run (vacancy ids that are not BAG units);
:func:`limit_to_selection` limits the coded layers to the ``--gemeente`` selection and warns
about objects that lie outside every municipality.
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


def cross_checks(
    layers: dict[str, pd.DataFrame],
    sources: Sources,
    report: LoadReport,
    selected: list[str] | None,
) -> list[Problem]:
    """Checks across sources: vacancy ids must be BAG units."""
    problems: list[Problem] = []
    v = layers.get("vacancy")
    units = layers.get("units")
    if v is None or len(v) == 0 or units is None or selected:
        return problems
    unknown = vacancy.unknown_vbo_ids(v, units["vbo_id"])
    if len(unknown):
        spec = sources.entries["vacancy"]
        ids = schemas.format_rows(list(unknown["vbo_id"]))
        problems.append(
            Problem(
                f"{len(unknown)} verblijfsobject id(s) are not current units of the BAG source "
                f"({ids})",
                fix="check that the vacancy file belongs to the same BAG extract; correct or "
                "remove these rows",
                file=str(spec.path),
                column="verblijfsobject_id",
                row=schemas.format_rows(list(unknown.index)),
                source="vacancy",
            )
        )
    return problems


def limit_to_selection(
    layers: dict[str, pd.DataFrame], report: LoadReport, selected: list[str] | None
) -> None:
    """Keep only the selected municipalities' parcels, buildings, units (and their vacancy);
    warn about objects outside every municipality."""
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
    if selected and "vacancy" in layers and "units" in layers:
        v = layers["vacancy"]
        layers["vacancy"] = v[
            ~v.index.isin(vacancy.unknown_vbo_ids(v, layers["units"]["vbo_id"]).index)
        ]
