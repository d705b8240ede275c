"""Map styles from one palette (``palette.json`` beside this module).

The palette is the one place the map's colours are set. It is read here, for the QGIS styles
written into the result GeoPackage's ``layer_styles`` table (:mod:`pipeline.styles.qml`) and for the
MapLibre style documents the api serves at ``GET /api/styles/{layer}.json``
(:mod:`pipeline.styles.maplibre`), and it is built into the web map by esbuild
(``webmap/src/modules/style.js`` imports the same file).

This package uses the standard library only, so the api can import it without pulling in a
pipeline stage (no GDAL, pandas or numpy).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PALETTE_PATH = Path(__file__).with_name("palette.json")
PALETTE: dict[str, Any] = json.loads(PALETTE_PATH.read_text(encoding="utf-8"))

#: Tier -> colour (``#rrggbb``), in tier order A–E.
TIER_COLORS: dict[str, str] = dict(PALETTE["tiers"])
TIERS = tuple(TIER_COLORS)
NO_TIER_COLOR: str = PALETTE["no_tier"]
#: Outline colour of each candidate layer's features.
OUTLINE_COLORS: dict[str, str] = dict(PALETTE["outline"])
#: The municipality overview's sequential colours, light to dark.
OVERVIEW_COLORS: tuple[str, ...] = tuple(PALETTE["overview"])
OVERVIEW_FILL_OPACITY: float = float(PALETTE["overview_fill_opacity"])
OVERVIEW_OUTLINE: str = PALETTE["overview_outline"]
#: Default tier thresholds (score ≥ value), as in ``pipeline/scoring/default.yaml``.
DEFAULT_TIER_THRESHOLDS = {"A": 80.0, "B": 65.0, "C": 50.0, "D": 35.0}


def rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` as a tuple of three integers 0–255."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def qgis_color(color: str, opacity: float = 1.0) -> str:
    """A palette colour as QGIS writes colours in a QML file: ``"r,g,b,a"`` (0–255)."""
    r, g, b = rgb(color)
    return f"{r},{g},{b},{round(opacity * 255)}"


def tier_labels(thresholds: dict[str, float] | None = None) -> dict[str, str]:
    """Legend text per tier, e.g. ``"A (score ≥ 80)"``, ``"E (score < 35)"``."""
    t = {**DEFAULT_TIER_THRESHOLDS, **(thresholds or {})}
    return {
        tier: (f"{tier} (score ≥ {t[tier]:g})" if tier in t else f"{tier} (score < {t['D']:g})")
        for tier in TIERS
    }


@dataclass(frozen=True)
class CapacityClass:
    """One class of the municipality overview (homes in tier A and B sites, ``capacity_ab``).

    A municipality falls in the class when ``lower <= capacity_ab <= upper``; the first class that
    holds a value wins, so the classes partition the values (``lower`` of a class is ``upper`` of
    the one before).
    """

    lower: float
    upper: float
    color: str
    label: str


def _number(value: float) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")  # Dutch: 1.234,5


def capacity_classes(values: Iterable[Any], *, max_classes: int = 5) -> list[CapacityClass]:
    """Classes for the overview fitted to the data: none of them empty.

    Rule: take the distinct values (missing counts as 0), sorted; use
    ``k = min(max_classes, number of distinct values)`` classes; split the distinct values into
    ``k`` runs of (nearly) equal length, the longer runs first; class ``i`` ends at the largest
    value of run ``i``. Colours are spread over the palette's overview colours from light to dark
    (one class takes the middle colour). So three municipalities give at most three classes, each
    holding one of them, and an export of one municipality gives one class.
    """
    distinct = sorted(
        {0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values}
    )
    if not distinct:
        return []
    k = max(1, min(max_classes, len(distinct)))
    size, extra = divmod(len(distinct), k)
    uppers, start = [], 0
    for i in range(k):
        start += size + (1 if i < extra else 0)
        uppers.append(distinct[start - 1])
    n_colors = len(OVERVIEW_COLORS)
    colors = (
        [OVERVIEW_COLORS[n_colors // 2]]
        if k == 1
        else [OVERVIEW_COLORS[round(i * (n_colors - 1) / (k - 1))] for i in range(k)]
    )
    integral = all(v.is_integer() for v in distinct)
    classes = []
    for i, upper in enumerate(uppers):
        lower = distinct[0] if i == 0 else uppers[i - 1]
        first = lower if i == 0 else (lower + 1 if integral else lower)
        text = _number(upper) if first == upper else f"{_number(first)} – {_number(upper)}"
        noun = "woning" if first == upper == 1 else "woningen"  # "1 woning", "2 woningen"
        classes.append(CapacityClass(lower, upper, colors[i], f"{text} {noun}"))
    return classes
