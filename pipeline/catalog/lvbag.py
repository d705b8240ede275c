"""The BAG: PDOK's BAG GeoPackage, or Kadaster's LVBAG 2.0 extract (GDAL's LVBAG driver).

An LVBAG extract is read through ``/vsizip/`` as delivered — a single XML, a folder of XML
and zips, a zip of XML or a zip of zips — so nothing is unpacked to disk.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from pipeline.catalog.files import (
    BAG_FIX,
    FORMAT_NAMES,
    UNSUPPORTED_FIX,
    ReadContext,
    empty_layer,
    list_layers,
    pick_layer,
    read_error,
    read_vector,
    sniff_xml,
    xml_head,
)
from pipeline.catalog.sources_file import SourceSpec
from pipeline.sources import bag
from pipeline.sources._common import Issues

#: An LVBAG part by its file name: 4-digit area code, object type, 8-digit date (DDMMYYYY),
#: e.g. ``0457PND15102021.zip`` or ``0457VBO15102021-000001.xml``. The sub-extracts
#: ``…Inactief…``, ``…InOnderzoek…`` and ``…NietBag…`` (``IAPND``, ``NBVBO``: inactive objects,
#: objects under investigation, objects outside the BAG) are not current objects and are skipped.
_PART_RE = re.compile(r"^(\d{4})([A-Za-z]{3})\d{8}(?:-\d+)?\.(xml|zip)$", re.I)
#: The object types read, and the GDAL LVBAG layer each holds.
OBJECT_LAYERS = {
    "PND": "Pand",
    "VBO": "Verblijfsobject",
    "NUM": "Nummeraanduiding",
    "OPR": "Openbareruimte",
}
#: Containers inside a delivery (``0457GEM15102021.zip``: the municipality's object-type zips;
#: Kadaster's national ``lvbag-extract-nl.zip`` holds ``9999PND…zip`` directly).
_CONTAINER_TYPES = ("GEM",)
#: How deep zips may nest (Kadaster's municipal delivery: 3 levels).
MAX_ZIP_DEPTH = 5
HEAD_BYTES = 4096


@dataclass
class LvbagPart:
    """One XML file of an extract: its GDAL path, object type and first bytes (format check)."""

    gdal_path: str
    kind: str
    name: str
    head: bytes


def _walk_zip(zf: zipfile.ZipFile, prefix: str, depth: int, out: list[LvbagPart]) -> None:
    """Collect the object XML of a zip (``prefix``: its GDAL path) and of the zips inside it."""
    for member in sorted(zf.namelist()):
        base = Path(member).name
        if not base:
            continue
        m = _PART_RE.match(base)
        kind = m.group(2).upper() if m else None
        lower = base.lower()
        if lower.endswith(".zip"):
            wanted = kind is None or kind in OBJECT_LAYERS or kind in _CONTAINER_TYPES
            if wanted and depth < MAX_ZIP_DEPTH:
                with zf.open(member) as fh, zipfile.ZipFile(fh) as inner:
                    _walk_zip(inner, f"/vsizip/{{{prefix}/{member}}}", depth + 1, out)
        elif (lower.endswith(".xml") and kind in OBJECT_LAYERS) or lower.endswith(".gml"):
            with zf.open(member) as fh:
                head = fh.read(HEAD_BYTES)
            out.append(LvbagPart(f"{prefix}/{member}", kind or "?", base, head))


def lvbag_parts(path: Path) -> list[LvbagPart]:
    """Every pand, verblijfsobject, nummeraanduiding and openbare-ruimte XML of an LVBAG extract.

    Handles a single XML, a folder of XML and zips, a zip of XML, and zips of zips at any depth
    up to :data:`MAX_ZIP_DEPTH` (Kadaster's municipal delivery ``BAGGEM0457L-15102021.zip`` →
    ``0457GEM15102021.zip`` → ``0457PND15102021.zip`` → XML; the national extract), read with
    ``/vsizip/`` so nothing is unpacked to disk.
    """
    out: list[LvbagPart] = []
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    for p in files:
        if p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                _walk_zip(zf, f"/vsizip/{{{p}}}", 1, out)
        elif p.suffix.lower() in (".xml", ".gml"):
            m = _PART_RE.match(p.name)
            kind = m.group(2).upper() if m else None
            if kind in OBJECT_LAYERS or not path.is_dir():
                out.append(LvbagPart(str(p), kind or "?", p.name, xml_head(p)))
    return out


def _unsupported(parts: list[LvbagPart], spec: SourceSpec, issues: Issues) -> bool:
    """Record a problem for a BAG 1.0 extract, a BGT or another XML; ``True`` when one was."""
    for part in parts:
        fmt = sniff_xml(part.head)
        if fmt in (None, "lvbag2"):
            continue
        issues.problem(
            f"{part.name} is {FORMAT_NAMES.get(fmt, fmt)}, not a BAG 2.0 (LVBAG) extract",
            fix=UNSUPPORTED_FIX.get(fmt, BAG_FIX),
            file=f"{spec.path} ({part.name})" if part.gdal_path != str(spec.path) else None,
        )
        return True
    return False


def _concat(parts: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    if not parts:
        return None
    gdf = pd.concat(parts) if len(parts) > 1 else parts[0]
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    return gdf


def _read_lvbag(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, gpd.GeoDataFrame | None]:
    """The LVBAG object tables by type (``PND``, ``VBO``, ``NUM``, ``OPR``; ``None`` if absent)."""
    try:
        parts = lvbag_parts(spec.path)
    except zipfile.BadZipFile as exc:
        read_error(exc, issues)
        return {}
    if _unsupported(parts, spec, issues):
        return {}
    tables: dict[str, list[gpd.GeoDataFrame]] = {k: [] for k in OBJECT_LAYERS}
    for part in parts:
        if part.kind == "?":  # a single XML not named like an extract part: ask GDAL
            try:
                names = list_layers(part.gdal_path, gml=False)
            except Exception as exc:
                read_error(exc, issues)
                continue
            kinds = [k for k, layer in OBJECT_LAYERS.items() if layer in names]
        else:
            kinds = [part.kind]
        for kind in kinds:
            spatial = kind in ("PND", "VBO")
            gdf = read_vector(
                part.gdal_path,
                issues,
                layer=OBJECT_LAYERS[kind],
                crs=spec.crs if spatial else None,
                bbox_rd=bbox if spatial else None,
                keep_columns=_COLUMNS[kind],
                geometry=spatial,
                gml=False,
            )
            if gdf is not None:
                tables[kind].append(gdf)
    if not tables["PND"] and not tables["VBO"] and not issues.problems:
        found = ", ".join(sorted({p.name for p in parts})[:5]) or "no XML or zip of XML"
        issues.problem(
            f"no pand (PND) or verblijfsobject (VBO) XML found in the LVBAG extract (found: "
            f"{found})",
            fix="point `path:` at the extract as Kadaster delivers it (e.g. "
            "BAGGEM0457L-15102021.zip or 0221PND15092020.zip), a folder of its XML or zip files, "
            "or PDOK's bag-light.gpkg",
        )
    return {k: _concat(v) for k, v in tables.items()}


_COLUMNS = {
    "PND": bag.PAND_COLUMNS,
    "VBO": (*bag.VBO_COLUMNS, "hoofdadresNummeraanduidingRef"),
    "NUM": bag.NUM_COLUMNS,
    "OPR": bag.OPR_COLUMNS,
}


def _read_bag_geopackage(
    spec: SourceSpec, issues: Issues, bbox: Any
) -> tuple[dict[str, gpd.GeoDataFrame | None], str, str | None] | None:
    """PDOK's BAG GeoPackage: the pand and (when present) verblijfsobject layers."""
    path = str(spec.path)
    try:
        names = list_layers(path)
    except Exception as exc:
        read_error(exc, issues)
        return None
    issues.layer = "pand"
    pand_layer = pick_layer(path, issues, wanted=spec.layer, defaults=("pand", "panden"))
    if pand_layer is None:
        return None
    issues.layer = pand_layer
    pand = read_vector(
        path, issues, layer=pand_layer, crs=spec.crs, bbox_rd=bbox, keep_columns=bag.PAND_COLUMNS
    )
    vbo_layer = next(
        (n for n in names if n.lower() in ("verblijfsobject", "verblijfsobjecten")), None
    )
    vbo = None
    if vbo_layer is not None:
        vbo = read_vector(
            path, issues, layer=vbo_layer, crs=spec.crs, bbox_rd=bbox, keep_columns=bag.VBO_COLUMNS
        )
    return {"PND": pand, "VBO": vbo}, pand_layer, vbo_layer


def _none_current(spec: SourceSpec, issues: Issues, what: str, n: int, layer: str) -> None:
    issues.problem(
        f"none of the {n:,} {what} record(s) is a current, existing object (all are historic "
        "voorkomens, demolished, withdrawn or never realised): the scan would run without them",
        fix="use a current BAG: Kadaster's BAG 2.0 extract as delivered (it holds every current "
        "object with its history), PDOK's bag-light.gpkg, or `kansenkaart fetch`",
        layer=layer,
    )


def load_bag(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    """Buildings and units from PDOK's BAG GeoPackage or an LVBAG 2.0 extract; units get their
    street name (``straatnaam``, null when unknown) from the extract's nummeraanduidingen and
    openbare ruimten."""
    bbox = ctx.bbox
    path = spec.path
    is_gpkg = path.is_file() and path.suffix.lower() in (".gpkg", ".sqlite", ".geojson", ".fgb")
    if is_gpkg:
        read = _read_bag_geopackage(spec, issues, bbox)
        if read is None:
            return {}
        tables, pand_layer, vbo_layer = read
    else:
        tables = _read_lvbag(spec, issues, bbox)
        pand_layer, vbo_layer = "Pand", "Verblijfsobject"
        if tables.get("VBO") is not None:
            tables["VBO"] = bag.with_street_names(
                tables["VBO"], tables.get("NUM"), tables.get("OPR"), issues
            )
    pand, vbo = tables.get("PND"), tables.get("VBO")
    out: dict[str, pd.DataFrame] = {}
    issues.layer_of.update({"buildings": pand_layer, "units": vbo_layer or "verblijfsobject"})
    if pand is not None:
        issues.layer = pand_layer
        if len(pand) == 0 and bbox is None:
            empty_layer(spec, issues, pand_layer)
        out["buildings"] = bag.buildings_from_bag(pand, issues)
        if len(pand) and not len(out["buildings"]) and not issues.problems:
            _none_current(spec, issues, "pand", len(pand), pand_layer)
    elif not issues.problems:
        issues.problem("no pand layer", fix="the BAG source needs panden (layer 'pand')")
    if vbo is not None:
        issues.layer = vbo_layer
        out["units"] = bag.units_from_bag(vbo, issues)
        if len(vbo) and not len(out["units"]) and not issues.problems:
            _none_current(spec, issues, "verblijfsobject", len(vbo), vbo_layer or "verblijfsobject")
    elif not issues.problems:
        issues.warn(
            f"{path.name} has no verblijfsobject layer: the units layer is empty (kantoor- and "
            "plinttransformatie find nothing)"
        )
    issues.layer = None
    return out
