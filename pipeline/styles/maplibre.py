"""MapLibre / Mapbox GL style documents (style specification version 8) for the vector tiles, from
the palette (:mod:`pipeline.styles`); served by the api at ``GET /api/styles/{layer}.json``.

Written for QGIS as much as for MapLibre: QGIS 3.22's converter (``QgsMapBoxGlStyleConverter``)
reads neither ``step`` nor data-driven ``match`` colours, so every tier (and every overview class)
is a style layer of its own with a constant colour and a filter. QGIS turns each into one rule of
its vector tile renderer, named after the style layer, which also makes a readable legend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.styles import (
    NO_TIER_COLOR,
    OUTLINE_COLORS,
    OVERVIEW_FILL_OPACITY,
    OVERVIEW_OUTLINE,
    TIER_COLORS,
    CapacityClass,
    tier_labels,
)

POINT_LAYERS = ("plinten",)


def site_layers(
    layer: str, *, thresholds: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """Style layers for a candidate layer: one per tier (filter on ``tier``), then the outline."""
    common = {"source": layer, "source-layer": layer}
    labels = tier_labels(dict(thresholds) if thresholds else None)
    outline = OUTLINE_COLORS.get(layer, NO_TIER_COLOR)
    out: list[dict[str, Any]] = []
    for tier, color in TIER_COLORS.items():
        meta = {"kansenkaart:legend": f"Klasse {labels[tier]}"}
        select = ["==", ["get", "tier"], tier]
        if layer in POINT_LAYERS:
            paint: dict[str, Any] = {
                "circle-color": color,
                "circle-radius": 5,
                "circle-stroke-color": outline,
                "circle-stroke-width": 1.5,
            }
            kind = "circle"
        else:
            paint = {"fill-color": color, "fill-opacity": 0.85 if layer == "kantoren" else 0.7}
            kind = "fill"
        out.append(
            {
                "id": f"{layer} klasse {tier}",
                "type": kind,
                **common,
                "filter": select,
                "paint": paint,
                "metadata": meta,
            }
        )
    if layer not in POINT_LAYERS:
        out.append(
            {
                "id": f"{layer} rand",
                "type": "line",
                **common,
                "paint": {"line-color": outline, "line-width": 2.5 if layer == "kantoren" else 1},
            }
        )
    return out


def overview_layers(classes: Sequence[CapacityClass]) -> list[dict[str, Any]]:
    """Style layers for ``gemeenten``: a translucent fill per capacity class, then the outline.

    Class ``i`` holds ``lower < capacity_ab <= upper`` (the first also ``capacity_ab <= upper``,
    the last also everything above ``lower``), the same partition as the QGIS style's ranges.
    """
    common = {"source": "gemeenten", "source-layer": "gemeenten"}
    capacity = ["get", "capacity_ab"]
    out: list[dict[str, Any]] = []
    for i, c in enumerate(classes):
        parts = []
        if i > 0:
            parts.append([">", capacity, c.lower])
        if i < len(classes) - 1:
            parts.append(["<=", capacity, c.upper])
        layer: dict[str, Any] = {
            "id": f"gemeenten {c.label}",
            "type": "fill",
            **common,
            "paint": {"fill-color": c.color, "fill-opacity": OVERVIEW_FILL_OPACITY},
            "metadata": {"kansenkaart:legend": c.label},
        }
        if parts:
            layer["filter"] = parts[0] if len(parts) == 1 else ["all", *parts]
        out.append(layer)
    out.append(
        {
            "id": "gemeenten rand",
            "type": "line",
            **common,
            "paint": {"line-color": OVERVIEW_OUTLINE, "line-width": 1.5},
        }
    )
    return out


def style_document(
    layer: str,
    *,
    name: str,
    tiles: str,
    minzoom: int,
    maxzoom: int,
    bounds: Sequence[float] | None = None,
    classes: Sequence[CapacityClass] = (),
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The style of one tiled layer: its vector source (``tiles``, an absolute URL template with
    ``{z}/{x}/{y}``) and its style layers (tiers, or the overview ``classes`` for ``gemeenten``)."""
    source: dict[str, Any] = {
        "type": "vector",
        "tiles": [tiles],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
    }
    if bounds is not None:
        source["bounds"] = [round(b, 6) for b in bounds]
    layers = (
        overview_layers(classes)
        if layer == "gemeenten"
        else site_layers(layer, thresholds=thresholds)
    )
    return {
        "version": 8,
        "name": name,
        "metadata": {"kansenkaart:palette": "pipeline/styles/palette.json"},
        "sources": {layer: source},
        "layers": layers,
    }
