"""Reading and writing the match's registry files (docs/contracts.md §G.1).

``aanbod`` (sites on offer) and ``partijen`` (batches of relocatable homes) as GeoPackage,
GeoJSON or CSV. A geometry in any CRS becomes its representative point in RD New (``x``/``y``);
a CSV gives ``x``/``y`` in EPSG:28992. A folder written by ``kansenkaart registers sample`` also
holds ``registers.yaml`` (the reference date and whether the data is synthetic).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
import yaml

from pipeline import _yaml
from pipeline.errors import InputError, Problem
from pipeline.match.registries import Registries, batches_frame, offers_frame

REGISTERS_FILE = "registers.yaml"


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise InputError(
            Problem(
                f"the {what} file does not exist",
                "give the path of an existing file",
                file=str(path),
            )
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = path.read_text(encoding="utf-8-sig")
            lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
            head = lines[0] if lines else ""
            sep = ";" if head.count(";") > head.count(",") else ","
            from io import StringIO

            return pd.read_csv(
                StringIO("\n".join(lines)), sep=sep, dtype=str, keep_default_na=False
            )
        frame = pyogrio.read_dataframe(path, use_arrow=True)
    except (
        OSError,
        UnicodeDecodeError,
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        pd.errors.ParserError,
    ) as exc:
        raise InputError(
            Problem(
                f"cannot read the {what} file: {exc}",
                "give a GeoPackage, GeoJSON or CSV (UTF-8) file",
                file=str(path),
            )
        ) from None
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.notna().any():
        if frame.crs is None:
            raise InputError(
                Problem(
                    f"the {what} file has geometry without a CRS",
                    "save it with its CRS (e.g. EPSG:28992)",
                    file=str(path),
                )
            )
        geom = frame.geometry.to_crs(28992)
        pts = shapely.point_on_surface(geom.to_numpy())
        has = ~shapely.is_empty(pts) & ~pd.isna(pts)
        x = pd.Series(shapely.get_x(pts), index=frame.index).where(has)
        y = pd.Series(shapely.get_y(pts), index=frame.index).where(has)
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        frame["x"] = x if "x" not in frame else frame["x"].where(~has, x)
        frame["y"] = y if "y" not in frame else frame["y"].where(~has, y)
    return pd.DataFrame(frame)


def read_registers(
    *, aanbod: Path | None = None, partijen: Path | None = None, folder: Path | None = None
) -> tuple[Registries, dict[str, Any]]:
    """Read both registries (explicit files, or a folder with ``aanbod.*``, ``partijen.*`` and
    an optional ``registers.yaml``); returns them with the folder's metadata."""
    meta: dict[str, Any] = {}
    if folder is not None:
        folder = Path(folder)
        meta_path = folder / REGISTERS_FILE
        if meta_path.exists():
            try:
                meta = _yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise InputError(
                    Problem(f"not valid YAML: {exc}", "fix or remove the file", file=str(meta_path))
                ) from None

        def find(stem: str) -> Path:
            for ext in (".gpkg", ".geojson", ".csv"):
                if (folder / f"{stem}{ext}").exists():
                    return folder / f"{stem}{ext}"
            raise InputError(
                Problem(
                    f"no {stem}.gpkg, {stem}.geojson or {stem}.csv in the folder",
                    "write the registry there or pass the file itself",
                    file=str(folder),
                )
            )

        aanbod = aanbod or find("aanbod")
        partijen = partijen or find("partijen")
    if aanbod is None or partijen is None:
        raise InputError(
            "give both registries: --aanbod FILE and --partijen FILE, or --registers FOLDER"
        )
    problems: list[Problem] = []
    offers = batches = None
    try:
        offers = offers_frame(_read_table(Path(aanbod), "aanbod"), where=str(aanbod))
    except InputError as exc:
        problems += exc.problems
    try:
        batches = batches_frame(_read_table(Path(partijen), "partijen"), where=str(partijen))
    except InputError as exc:
        problems += exc.problems
    if problems or offers is None or batches is None:
        raise InputError(problems)
    ref = meta.get("reference_date")
    if isinstance(ref, str):
        ref = dt.date.fromisoformat(ref)
    return Registries(offers, batches, ref if isinstance(ref, dt.date) else None), meta


def write_registers(
    folder: Path, offers: gpd.GeoDataFrame, batches: gpd.GeoDataFrame, meta: dict[str, Any]
) -> Path:
    """Write ``aanbod.gpkg``, ``partijen.gpkg`` and ``registers.yaml`` into ``folder``: into a
    temporary folder next to it first, then renamed into place (never half-written)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        note = str(meta.get("description", ""))
        pyogrio.write_dataframe(
            offers, tmp / "aanbod.gpkg", layer="aanbod", layer_options={"DESCRIPTION": note}
        )
        pyogrio.write_dataframe(
            batches, tmp / "partijen.gpkg", layer="partijen", layer_options={"DESCRIPTION": note}
        )
        with open(tmp / REGISTERS_FILE, "w", encoding="utf-8") as fh:
            yaml.safe_dump(meta, fh, sort_keys=False, allow_unicode=True)
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


SITE_COLUMNS = [
    "site_id",
    "gemeentecode",
    "label",
    "capacity_units",
    "score",
    "tier",
    "owner_class",
]
OPTIONAL_SITE_COLUMNS = [
    "beschikbaarheid",
    "beschikbaar_tot",
    "beschikbaar_jaren",
    "capacity_low",
    "capacity_high",
]


def read_result_sites(result: Path) -> tuple[gpd.GeoDataFrame, dt.date | None, bool]:
    """The scan's temporary sites (``tijdelijke_locaties``) of a result GeoPackage, with its
    reference date and whether it is synthetic (``run_metadata``)."""
    result = Path(result)
    if not result.exists():
        raise InputError(
            Problem(
                "the result GeoPackage does not exist",
                "run kansenkaart scan first",
                file=str(result),
            )
        )
    try:
        info = pyogrio.read_info(result, layer="tijdelijke_locaties")
        cols = [c for c in SITE_COLUMNS + OPTIONAL_SITE_COLUMNS if c in set(info["fields"])]
        missing = [c for c in SITE_COLUMNS if c not in cols]
        if missing:
            raise InputError(
                Problem(
                    f"columns {', '.join(missing)} are missing",
                    "use a result of kansenkaart scan",
                    file=str(result),
                    layer="tijdelijke_locaties",
                )
            )
        sites = pyogrio.read_dataframe(
            result, layer="tijdelijke_locaties", columns=cols, use_arrow=True
        )
        meta = pyogrio.read_dataframe(result, layer="run_metadata", read_geometry=False)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(
            Problem(
                f"not a result GeoPackage: {exc}",
                "use a result of kansenkaart scan",
                file=str(result),
            )
        ) from None
    values = dict(zip(meta["key"], meta["value"], strict=False))
    import json

    ref = None
    try:
        ref = dt.date.fromisoformat(str(json.loads(values.get("reference_date", "null")))[:10])
    except (ValueError, TypeError):
        ref = None
    synthetic = str(values.get("synthetic", "false")).lower() in {"true", '"true"'}
    return sites, ref, synthetic
