"""QGIS styles (QML) for the result's layers, from the palette (:mod:`pipeline.styles`).

Written into the GeoPackage's ``layer_styles`` table by :mod:`pipeline.export` (and rewritten for
the data of an export by the api), so QGIS opens the layers coloured by tier, and the municipality
overview as a translucent choropleth with an outline that leaves the sites visible.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.styles import (
    NO_TIER_COLOR,
    OUTLINE_COLORS,
    OVERVIEW_COLORS,
    OVERVIEW_FILL_OPACITY,
    OVERVIEW_OUTLINE,
    TIER_COLORS,
    capacity_classes,
    qgis_color,
    tier_labels,
)

#: The oldest QGIS the styles are tested with (tests/qgis); QGIS reads styles of its own version
#: and older without conversion notes.
QGIS_VERSION = "3.22.0-Białowieża"


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def _symbol(
    parent: ET.Element,
    name: str,
    color: str,
    *,
    point: bool,
    outline: str = "35,35,35,255",
    outline_width: str = "0.26",
) -> ET.Element:
    sym = _sub(
        parent,
        "symbol",
        type="marker" if point else "fill",
        name=name,
        alpha="1",
        clip_to_extent="1",
        force_rhr="0",
    )
    layer = ET.SubElement(
        sym,
        "layer",
        {
            "class": "SimpleMarker" if point else "SimpleFill",
            "enabled": "1",
            "pass": "0",
            "locked": "0",
        },
    )
    opts = _sub(layer, "Option", type="Map")
    props = (
        {
            "name": "circle",
            "color": color,
            "outline_color": outline,
            "outline_style": "solid",
            "outline_width": outline_width,
            "outline_width_unit": "MM",
            "size": "2.6",
            "size_unit": "MM",
            "angle": "0",
            "joinstyle": "bevel",
            "scale_method": "diameter",
        }
        if point
        else {
            "color": color,
            "outline_color": outline,
            "outline_style": "solid",
            "outline_width": outline_width,
            "outline_width_unit": "MM",
            "style": "solid",
            "joinstyle": "bevel",
        }
    )
    for k, v in props.items():
        _sub(opts, "Option", type="QString", name=k, value=v)
    return sym


def _root() -> ET.Element:
    return ET.Element(
        "qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology", "labelsEnabled": "0"}
    )


def _renderer(root: ET.Element, kind: str, attr: str, **extra: str) -> ET.Element:
    return _sub(
        root,
        "renderer-v2",
        type=kind,
        attr=attr,
        **extra,
        symbollevels="0",
        enableorderby="0",
        forceraster="0",
        referencescale="-1",
    )


def _text(root: ET.Element) -> str:
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )


def tier_qml(layer: str, *, point: bool, tiers: Mapping[str, float] | None = None) -> str:
    """A categorized renderer on ``tier`` (A–E in the palette's colours) for a candidate layer."""
    labels = tier_labels(dict(tiers) if tiers else None)
    outline = qgis_color(OUTLINE_COLORS.get(layer, "#1b1b1b"))
    width = "0.6" if layer == "kantoren" else ("0.4" if point else "0.26")
    root = _root()
    rend = _renderer(root, "categorizedSymbol", "tier")
    cats = _sub(rend, "categories")
    for i, t in enumerate(TIER_COLORS):
        _sub(
            cats, "category", render="true", symbol=str(i), value=t, label=labels[t], type="string"
        )
    syms = _sub(rend, "symbols")
    for i, color in enumerate(TIER_COLORS.values()):
        _symbol(syms, str(i), qgis_color(color), point=point, outline=outline, outline_width=width)
    src = _sub(rend, "source-symbol")
    _symbol(src, "0", qgis_color(NO_TIER_COLOR), point=point, outline=outline, outline_width=width)
    _sub(rend, "rotation")
    _sub(rend, "sizescale")
    return _text(root)


def capacity_qml(values: Iterable[Any]) -> str:
    """A graduated renderer on ``capacity_ab`` with classes fitted to ``values``
    (:func:`pipeline.styles.capacity_classes`): translucent fills with a dark outline."""
    classes = capacity_classes(values)
    outline = qgis_color(OVERVIEW_OUTLINE)
    root = _root()
    rend = _renderer(root, "graduatedSymbol", "capacity_ab", graduatedMethod="GraduatedColor")
    ranges = _sub(rend, "ranges")
    for i, c in enumerate(classes):
        _sub(
            ranges,
            "range",
            render="true",
            symbol=str(i),
            lower=f"{c.lower:.15f}",
            upper=f"{c.upper:.15f}",
            label=c.label,
        )
    syms = _sub(rend, "symbols")
    for i, c in enumerate(classes):
        _symbol(
            syms,
            str(i),
            qgis_color(c.color, OVERVIEW_FILL_OPACITY),
            point=False,
            outline=outline,
            outline_width="0.5",
        )
    src = _sub(rend, "source-symbol")
    _symbol(
        src,
        "0",
        qgis_color(OVERVIEW_COLORS[-1], OVERVIEW_FILL_OPACITY),
        point=False,
        outline=outline,
        outline_width="0.5",
    )
    ramp = _sub(rend, "colorramp", type="gradient", name="[source]")
    ropts = _sub(ramp, "Option", type="Map")
    _sub(ropts, "Option", type="QString", name="color1", value=qgis_color(OVERVIEW_COLORS[0]))
    _sub(ropts, "Option", type="QString", name="color2", value=qgis_color(OVERVIEW_COLORS[-1]))
    _sub(ropts, "Option", type="QString", name="discrete", value="0")
    _sub(rend, "rotation")
    _sub(rend, "sizescale")
    return _text(root)
