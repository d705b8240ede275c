"""The BAG: PDOK's BAG GeoPackage, or Kadaster's LVBAG 2.0 extract (GDAL's LVBAG driver).

An LVBAG extract is read through ``/vsizip/`` as delivered — a single XML, a folder of XML
and zips, a zip of XML or a zip of zips — so nothing is unpacked to disk.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from pipeline.catalog.files import (
    ReadContext,
    empty_layer,
    list_layers,
    pick_layer,
    read_error,
    read_vector,
)
from pipeline.catalog.sources_file import SourceSpec
from pipeline.sources import bag
from pipeline.sources._common import Issues

_LVBAG_NAME = re.compile(r"(PND|VBO)\d{8}", re.I)


def _lvbag_files(path: Path) -> list[tuple[str, str]]:
    """(GDAL path, object type) for every pand/verblijfsobject XML of an LVBAG extract.

    Handles a single XML, a folder of XML (and zips), a zip of XML and a zip of zips
    (Kadaster's national extract), using /vsizip/ so nothing is unpacked to disk.
    """

    def kind(name: str) -> str | None:
        m = _LVBAG_NAME.search(Path(name).name)
        return m.group(1).upper() if m else None

    out: list[tuple[str, str]] = []

    def from_zip(zpath: str, names: list[str]) -> None:
        for n in sorted(names):
            k = kind(n)
            if k is None:
                continue
            if n.lower().endswith(".xml"):
                out.append((f"/vsizip/{{{zpath}}}/{n}", k))
            elif n.lower().endswith(".zip"):
                inner = f"/vsizip/{{{zpath}}}/{n}"
                out.append((f"/vsizip/{{{inner}}}", k))

    if path.is_dir():
        for p in sorted(path.iterdir()):
            k = kind(p.name)
            if k and p.suffix.lower() == ".xml":
                out.append((str(p), k))
            elif p.suffix.lower() == ".zip":
                with zipfile.ZipFile(p) as zf:
                    names = zf.namelist()
                if k and all(n.lower().endswith(".xml") for n in names):
                    out.append((f"/vsizip/{{{p}}}", k))
                else:
                    from_zip(str(p), names)
    elif path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        k = kind(path.name)
        if k and all(n.lower().endswith(".xml") for n in names):
            out.append((f"/vsizip/{{{path}}}", k))
        else:
            from_zip(str(path), names)
    else:
        out.append((str(path), kind(path.name) or "?"))
    return out


def _read_lvbag(
    spec: SourceSpec, issues: Issues, bbox: Any
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    try:
        files = _lvbag_files(spec.path)
    except zipfile.BadZipFile as exc:
        read_error(exc, issues)
        return None, None
    panden: list[gpd.GeoDataFrame] = []
    vbos: list[gpd.GeoDataFrame] = []
    for gdal_path, _kind in files:
        try:
            layers = list_layers(gdal_path)
        except Exception as exc:
            read_error(exc, issues)
            continue
        for name in layers:
            if name not in ("Pand", "Verblijfsobject"):
                continue
            gdf = read_vector(gdal_path, issues, layer=name, crs=spec.crs, bbox_rd=bbox)
            if gdf is not None:
                (panden if name == "Pand" else vbos).append(gdf)

    def concat(parts: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
        if not parts:
            return None
        gdf = pd.concat(parts) if len(parts) > 1 else parts[0]
        gdf.index = pd.RangeIndex(1, len(gdf) + 1)
        return gdf

    if not panden and not vbos and not issues.problems:
        issues.problem(
            "no Pand or Verblijfsobject XML found in the LVBAG extract",
            fix="point `path:` at the extract zip (e.g. 0221PND15092020.zip), a folder of its XML "
            "files, or PDOK's bag-light.gpkg",
        )
    return concat(panden), concat(vbos)


def load_bag(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    bbox = ctx.bbox
    path = spec.path
    is_gpkg = path.is_file() and path.suffix.lower() in (".gpkg", ".sqlite", ".geojson", ".fgb")
    if is_gpkg:
        try:
            names = list_layers(str(path))
        except Exception as exc:
            read_error(exc, issues)
            return {}
        issues.layer = "pand"
        pand_layer = pick_layer(str(path), issues, wanted=spec.layer, defaults=("pand", "panden"))
        if pand_layer is None:
            return {}
        issues.layer = pand_layer
        pand = read_vector(
            str(path),
            issues,
            layer=pand_layer,
            crs=spec.crs,
            bbox_rd=bbox,
            keep_columns=bag.PAND_COLUMNS,
        )
        vbo_layer = next(
            (n for n in names if n.lower() in ("verblijfsobject", "verblijfsobjecten")), None
        )
        vbo = None
        if vbo_layer is not None:
            vbo = read_vector(
                str(path),
                issues,
                layer=vbo_layer,
                crs=spec.crs,
                bbox_rd=bbox,
                keep_columns=bag.VBO_COLUMNS,
            )
    else:
        pand, vbo = _read_lvbag(spec, issues, bbox)
        pand_layer, vbo_layer = "Pand", "Verblijfsobject"
    out: dict[str, pd.DataFrame] = {}
    issues.layer_of.update({"buildings": pand_layer, "units": vbo_layer or "verblijfsobject"})
    if pand is not None:
        issues.layer = pand_layer
        if len(pand) == 0 and bbox is None:
            empty_layer(spec, issues, pand_layer)
        out["buildings"] = bag.buildings_from_bag(pand, issues)
    elif not issues.problems:
        issues.problem("no pand layer", fix="the BAG source needs panden (layer 'pand')")
    if vbo is not None:
        issues.layer = vbo_layer
        out["units"] = bag.units_from_bag(vbo, issues)
    else:
        issues.warn(
            f"{path.name} has no verblijfsobject layer: the units layer is empty (kantoor- and "
            "plinttransformatie find nothing)"
        )
    issues.layer = None
    return out
