"""One reader per published format: read from disk, then hand to the pure reader in
:mod:`pipeline.sources`. :data:`FORMAT_READERS` is the registry the loader looks formats up in.

A reader takes the source's entry, an :class:`~pipeline.sources._common.Issues` to record
problems and warnings in, and a :class:`~pipeline.catalog.files.ReadContext`; it returns its
tables by role (``"main"`` for a format with one table; see
:class:`~pipeline.catalog.registry.SourceKind`), or nothing after recording a problem.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from pipeline.catalog.files import (
    FORMAT_NAMES,
    UNSUPPORTED_FIX,
    GmlFile,
    ReadContext,
    empty_layer,
    gml_declared_crs,
    gml_files,
    list_layers,
    load_vector_layer,
    perceel_template,
    pick_layer,
    read_error,
    read_raster_meta,
    read_text_table,
    read_vector,
)
from pipeline.catalog.lvbag import load_bag
from pipeline.catalog.sources_file import SourceSpec
from pipeline.features._parallel import concurrently
from pipeline.sources import brk, cbs, imro, ownership, plans, raster, stops, vacancy, zones
from pipeline.sources._common import Issues

FormatReader = Callable[[SourceSpec, Issues, ReadContext], dict[str, Any]]


def _load_cbs(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    raw = load_vector_layer(spec, issues, ("gemeenten", "gemeente_gegeneraliseerd"), None)
    if raw is None:
        return {}
    return {"main": cbs.municipalities_from_cbs(raw, issues)}


def _read_perceel_gml(
    spec: SourceSpec, f: GmlFile, issues: Issues, bbox: Any, gfs: str
) -> gpd.GeoDataFrame | None:
    """One perceel GML: Kadaster's (with ``begrenzingPerceel``: read with the template, so
    GDAL takes the polygon, not the label point) or a flattened export (ogr2ogr, QGIS: read
    as it is, its only geometry being the parcel polygon)."""
    fmt = f.format
    if fmt not in (None, "brk", "ogr"):
        issues.problem(
            f"{f.name} is {FORMAT_NAMES[fmt]}, not a Kadastrale kaart perceel file",
            fix="point `path:` at the perceel GML of the Kadastrale kaart (e.g. "
            "kadastralekaart_perceel.gml), a GeoPackage with layer perceel, or use "
            "`kansenkaart fetch`",
            file=f.path,
        )
        return None
    declared = None if f.path.startswith("/vsi") else gml_declared_crs(Path(f.path))
    issues.layer = "Perceel"
    if fmt == "brk" or (fmt is None and b"begrenzingPerceel" in f.head):
        return read_vector(
            f.path,
            issues,
            crs=spec.crs,
            assume_rd=True,
            bbox_rd=bbox,
            declared_crs=declared,
            GFS_TEMPLATE=gfs,
        )
    layer = pick_layer(
        f.path, issues, wanted=spec.layer, defaults=("perceel", "percelen", "kadastraal_perceel")
    )
    if layer is None:
        return None
    issues.layer = layer
    gdf = read_vector(
        f.path,
        issues,
        layer=layer,
        crs=spec.crs,
        assume_rd=True,
        bbox_rd=bbox,
        declared_crs=declared,
    )
    if gdf is not None and len(gdf) and (shapely.get_type_id(gdf.geometry.values) == 0).all():
        issues.problem(
            f"{f.name} holds points, not parcel polygons: an export of the perceel GML that "
            "kept the label point (plaatscoordinaten) instead of the boundary "
            "(begrenzingPerceel)",
            fix="point `path:` at Kadaster's original perceel GML (it is read with the "
            "boundary), or export again with the begrenzingPerceel geometry",
            layer=layer,
        )
        return None
    return gdf


def _load_brk(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    bbox = ctx.bbox
    path = spec.path
    if path.is_dir() or path.name.lower().endswith((".gml", ".xml", ".zip", ".gml.gz", ".xml.gz")):
        try:
            files = gml_files(path, r"perceel")
        except zipfile.BadZipFile as exc:
            read_error(exc, issues)
            return {}
        if not files:
            issues.problem(
                "no perceel GML file found", fix="point `path:` at kadastralekaart_perceel.gml"
            )
            return {}
        parts = []
        with perceel_template() as gfs:
            for f in files:
                gdf = _read_perceel_gml(spec, f, issues, bbox, gfs)
                if gdf is not None:
                    parts.append(gdf)
        if not parts:
            return {}
        raw = pd.concat(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1:
            raw.index = pd.RangeIndex(1, len(raw) + 1)
        if len(raw) == 0 and bbox is None:
            empty_layer(spec, issues, issues.layer)
    else:
        raw = load_vector_layer(
            spec,
            issues,
            ("perceel", "percelen", "kadastraal_perceel"),
            bbox,
            keep_columns=brk.PERCEEL_COLUMNS,
        )
        if raw is None:
            return {}
    return {"main": brk.parcels_from_brk(raw, issues)}


_PLAN_AREA_RE = re.compile(rb"<(?:\w+:)?Bestemmingsplangebied\b[^>]*?gml:id=\"([^\"]+)\"")
_IMRO_CODE_RE = re.compile(r"^NL\.IMRO\.(\d{4})\.", re.I)


def _imro_plan_id(path: str) -> str:
    """The plan id: the ``gml:id`` of the file's Bestemmingsplangebied, else the file name."""
    stem = re.sub(r"\.(gml|xml)(\.gz)?$", "", Path(path).name, flags=re.I)
    if path.startswith("/vsi"):
        return stem
    with open(path, "rb") as fh:
        match = _PLAN_AREA_RE.search(fh.read())
    return match.group(1).decode("utf-8", "replace") if match else stem


def _imro_skip_reason(f: GmlFile) -> tuple[str, str] | None:
    """Why a zoning file is not read (message, fix), or ``None`` to read it."""
    fmt = f.format
    if fmt == "imro2006":
        return (
            f"{f.name} is {FORMAT_NAMES[fmt]}, which is not supported",
            UNSUPPORTED_FIX[fmt],
        )
    if fmt is not None and fmt not in ("imro", "ogr"):
        return (
            f"{f.name} is {FORMAT_NAMES[fmt]}, not an IMRO bestemmingsplan",
            "point the zoning source at bestemmingsplan GML files (IMRO2008/IMRO2012)",
        )
    return None


def _read_plan(
    f: GmlFile, spec: SourceSpec, bbox: tuple[float, float, float, float] | None
) -> tuple[pd.DataFrame | None, Issues, tuple[str, str, str] | None]:
    """One zoning file of an ``imro`` source: its zoning (or ``None``), the issues found in
    it, and why it is skipped ((file, message, fix), or ``None`` when it was read)."""
    reason = _imro_skip_reason(f)
    sub = Issues(file=f.path, source=spec.key, layer=imro.ZONING_LAYER)
    if reason is not None:
        return None, sub, (f.path, *reason)
    declared = None if f.path.startswith("/vsi") else gml_declared_crs(Path(f.path))
    raw = read_vector(
        f.path,
        sub,
        layer=imro.ZONING_LAYER,
        crs=spec.crs,
        bbox_rd=bbox,
        declared_crs=declared,
        missing_layer_ok=True,
    )
    if raw is not None:
        raw.index = f.name + "#" + raw.index.astype(str)
        return imro.zoning_from_imro(raw, sub, plan_id=_imro_plan_id(f.path)), sub, None
    if sub.problems:
        return None, sub, None
    try:
        names = list_layers(f.path)  # only to say what the file holds instead
    except Exception as exc:
        read_error(exc, sub)
        names = []
    if names:
        skip = (
            f.path,
            f"{f.name} has no Enkelbestemming layer (layers: {', '.join(names)}); it "
            "is probably a besluit or beheersverordening, not a bestemmingsplan",
            "point the zoning source at bestemmingsplan GML files (with Enkelbestemming)",
        )
        return None, sub, skip
    if not sub.problems:
        read_error(ValueError("no layers (not GML?)"), sub)
    return None, sub, None


def _load_imro(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    """Read ``Enkelbestemming`` from each GML (one GDAL open per file: GML has no index and
    every open parses the whole file). With a municipality filter, plan files named
    ``NL.IMRO.<code>.…`` of other municipalities (``skip_codes``) are not opened at all.

    A file that is not a bestemmingsplan (a besluit, an IMRO2006 plan, another format) is
    skipped with a warning when the source has other plans, and is a problem when it is the
    only one.
    """
    bbox, skip_codes = ctx.bbox, ctx.skip_codes
    try:
        files = gml_files(spec.path, r".")
    except zipfile.BadZipFile as exc:
        read_error(exc, issues)
        return {}
    if not files:
        issues.problem(
            "no .gml (or .xml) files found in the folder", fix="point `path:` at IMRO GML files"
        )
        return {}
    if skip_codes:
        files = [
            f
            for f in files
            if not ((m := _IMRO_CODE_RE.match(f.name)) and m.group(1) in skip_codes)
        ]
    # Plan files are independent and GDAL parses GML without holding the GIL: two at a time
    # (a province's 49 plans: 3.3 s read one by one, 1.8 s two at a time). Their results are
    # merged in the order of the files, so parts, warnings and problems do not depend on
    # which file finished first.
    parts = []
    skipped: list[tuple[str, str, str]] = []  # (file, message, fix)
    for part, sub, skip in concurrently(*(partial(_read_plan, f, spec, bbox) for f in files)):
        if skip is not None:
            skipped.append(skip)
        if part is not None:
            parts.append(part)
        issues.problems += sub.problems
        issues.warnings += sub.warnings
    for path, message, fix in skipped:
        if parts or issues.problems:
            issues.warn(message + "; skipped")
        else:
            issues.problem(message, fix=fix, file=path, layer=imro.ZONING_LAYER)
    if not parts:
        return {}
    zoning = pd.concat(parts)
    return {"main": imro.unique_zoning_ids(zoning)}


def _load_vacancy(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    table = read_text_table(spec.path, issues)
    if table is None:
        return {}
    if len(table) == 0:
        issues.warn(f"{spec.path.name} has no rows: no vacancy is known")
    return {"main": vacancy.vacancy_from_csv(table, issues)}


def _load_ownership(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    bbox = ctx.bbox
    raw = load_vector_layer(spec, issues, ("eigendom", "ownership", "eigenaren"), bbox)
    if raw is None:
        return {}
    return {"main": ownership.ownership_from_polygons(raw, issues)}


def _load_zones(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    bbox = ctx.bbox
    raw = load_vector_layer(spec, issues, ("zones", "uitsluitingen", "zone"), bbox)
    if raw is None:
        return {}
    return {"main": zones.zones_from_polygons(raw, issues, default_kind=spec.kind)}


def _load_plans(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    raw = load_vector_layer(
        spec, issues, ("woningbouwplannen", "plancapaciteit", "plannen"), ctx.bbox
    )
    if raw is None:
        return {}
    return {"main": plans.housing_plans_from_polygons(raw, issues)}


def _load_bsd(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    raw = load_vector_layer(spec, issues, ("bsd", "bestaand_stads_en_dorpsgebied"), ctx.bbox)
    if raw is None:
        return {}
    return {"main": plans.bsd_from_polygons(raw, issues)}


def _gtfs_tables(path: Path) -> dict[str, Any]:
    """``stops.txt`` location and, when present, routes/trips/stop_times of a GTFS feed."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = {Path(n).name: n for n in zf.namelist()}
            out: dict[str, Any] = {"stops": ("zip", names.get("stops.txt"))}
            for t, cols in (
                ("routes", ["route_id", "route_type"]),
                ("trips", ["trip_id", "route_id"]),
                ("stop_times", ["trip_id", "stop_id"]),
            ):
                if f"{t}.txt" in names:
                    with zf.open(names[f"{t}.txt"]) as fh:
                        out[t] = pd.read_csv(fh, usecols=cols, dtype=str, engine="pyarrow")
            if names.get("stops.txt"):
                out["stops_bytes"] = zf.read(names["stops.txt"])
            return out
    folder = path if path.is_dir() else path.parent
    out = {}
    for t, cols in (
        ("routes", ["route_id", "route_type"]),
        ("trips", ["trip_id", "route_id"]),
        ("stop_times", ["trip_id", "stop_id"]),
    ):
        p = folder / f"{t}.txt"
        if p.is_file() and (path.is_dir() or path.name == "stops.txt"):
            out[t] = pd.read_csv(p, usecols=cols, dtype=str, engine="pyarrow")
    return out


def _load_stops(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    bbox = ctx.bbox
    path = spec.path
    suffix = path.suffix.lower()
    if suffix in (".txt", ".csv", ".zip") or path.is_dir():
        try:
            extra = _gtfs_tables(path)
        except (zipfile.BadZipFile, ValueError, KeyError) as exc:
            read_error(exc, issues)
            return {}
        if suffix == ".zip":
            if "stops_bytes" not in extra:
                issues.problem("the zip has no stops.txt", fix="point `path:` at a GTFS zip")
                return {}
            with tempfile.TemporaryDirectory(prefix="kansenkaart-gtfs-") as tmp:
                p = Path(tmp) / "stops.txt"
                p.write_bytes(extra["stops_bytes"])
                table = read_text_table(p, issues)  # problems name the zip
        else:
            stops_path = path / "stops.txt" if path.is_dir() else path
            if not stops_path.is_file():
                issues.problem("no stops.txt found", fix="point `path:` at a GTFS stops.txt")
                return {}
            table = read_text_table(stops_path, issues)
        if table is None:
            return {}
        out = stops.stops_from_table(
            table,
            issues,
            routes=extra.get("routes"),
            trips=extra.get("trips"),
            stop_times=extra.get("stop_times"),
            default_kind=spec.kind,
        )
        return {"main": out}
    raw = load_vector_layer(spec, issues, ("haltes", "stops", "ov_haltes", "stations"), bbox)
    if raw is None:
        return {}
    return {"main": stops.stops_from_points(raw, issues, default_kind=spec.kind)}


def _load_raster(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, Any]:
    meta = read_raster_meta(spec.path, issues)
    if meta is None:
        return {}
    info = raster.noise_from_geotiff(meta, issues)
    return {"raster": info} if info is not None else {}


#: Each format and its reader (a new format: write ``_load_<format>`` and add it here).
FORMAT_READERS: dict[str, FormatReader] = {
    "cbs": _load_cbs,
    "brk": _load_brk,
    "bag": load_bag,
    "imro": _load_imro,
    "vacancy-csv": _load_vacancy,
    "ownership": _load_ownership,
    "stops": _load_stops,
    "raster": _load_raster,
    "zones": _load_zones,
    "plancapaciteit": _load_plans,
    "bsd": _load_bsd,
}
