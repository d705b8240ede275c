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
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.catalog.files import (
    ReadContext,
    empty_layer,
    gml_declared_crs,
    gml_files,
    list_layers,
    load_vector_layer,
    perceel_template,
    read_error,
    read_raster_meta,
    read_text_table,
    read_vector,
)
from pipeline.catalog.lvbag import load_bag
from pipeline.catalog.sources_file import SourceSpec
from pipeline.sources import brk, cbs, imro, ownership, raster, stops, vacancy, zones
from pipeline.sources._common import Issues

FormatReader = Callable[[SourceSpec, Issues, ReadContext], dict[str, Any]]


def _load_cbs(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    raw = load_vector_layer(spec, issues, ("gemeenten", "gemeente_gegeneraliseerd"), None)
    if raw is None:
        return {}
    return {"main": cbs.municipalities_from_cbs(raw, issues)}


def _load_brk(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    bbox = ctx.bbox
    path = spec.path
    if path.is_dir() or path.suffix.lower() in (".gml", ".xml", ".zip"):
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
                declared = None if f.startswith("/vsi") else gml_declared_crs(Path(f))
                issues.layer = "Perceel"
                gdf = read_vector(
                    f,
                    issues,
                    crs=spec.crs,
                    assume_rd=True,
                    bbox_rd=bbox,
                    declared_crs=declared,
                    GFS_TEMPLATE=gfs,
                )
                if gdf is not None:
                    parts.append(gdf)
        if not parts:
            return {}
        raw = pd.concat(parts) if len(parts) > 1 else parts[0]
        if len(parts) > 1:
            raw.index = pd.RangeIndex(1, len(raw) + 1)
        if len(raw) == 0 and bbox is None:
            empty_layer(spec, issues, "Perceel")
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
    stem = Path(path).name.removesuffix(".gml")
    if path.startswith("/vsi"):
        return stem
    with open(path, "rb") as fh:
        match = _PLAN_AREA_RE.search(fh.read())
    return match.group(1).decode("utf-8", "replace") if match else stem


def _load_imro(spec: SourceSpec, issues: Issues, ctx: ReadContext) -> dict[str, pd.DataFrame]:
    """Read ``Enkelbestemming`` from each GML (one GDAL open per file: GML has no index and
    every open parses the whole file). With a municipality filter, plan files named
    ``NL.IMRO.<code>.…`` of other municipalities (``skip_codes``) are not opened at all."""
    bbox, skip_codes = ctx.bbox, ctx.skip_codes
    try:
        files = gml_files(spec.path, r".")
    except zipfile.BadZipFile as exc:
        read_error(exc, issues)
        return {}
    if not files:
        issues.problem("no .gml files found in the folder", fix="point `path:` at IMRO GML files")
        return {}
    if skip_codes:
        files = [
            f
            for f in files
            if not ((m := _IMRO_CODE_RE.match(Path(f).name)) and m.group(1) in skip_codes)
        ]
    parts = []
    without: list[tuple[str, list[str]]] = []
    for f in files:
        sub = Issues(file=f, source=spec.key, layer=imro.ZONING_LAYER)
        declared = None if f.startswith("/vsi") else gml_declared_crs(Path(f))
        raw = read_vector(
            f,
            sub,
            layer=imro.ZONING_LAYER,
            crs=spec.crs,
            bbox_rd=bbox,
            declared_crs=declared,
            missing_layer_ok=True,
        )
        if raw is None and not sub.problems:
            try:
                names = list_layers(f)  # only to say what the file holds instead
            except Exception as exc:
                read_error(exc, sub)
                names = []
            if names:
                without.append((f, names))
            elif not sub.problems:
                read_error(ValueError("no layers (not GML?)"), sub)
        elif raw is not None:
            raw.index = Path(f).name + "#" + raw.index.astype(str)
            parts.append(imro.zoning_from_imro(raw, sub, plan_id=_imro_plan_id(f)))
        issues.problems += sub.problems
        issues.warnings += sub.warnings
    for f, names in without:
        message = (
            f"{Path(f).name} has no Enkelbestemming layer (layers: {', '.join(names)}); it is "
            "probably a besluit or beheersverordening, not a bestemmingsplan"
        )
        if parts or issues.problems:
            issues.warn(message + "; skipped")
        else:
            issues.problem(
                message,
                fix="point the zoning source at bestemmingsplan GML files (with Enkelbestemming)",
                file=f,
                layer=imro.ZONING_LAYER,
            )
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
}
