"""The catalog: where each input is (``sources.yaml``), and the only module that opens files.

``read_sources_yaml`` validates ``sources.yaml``; ``load_sources`` reads every source in its
published format (pyogrio with ``use_arrow=True``, rasterio for rasters), hands the raw table to
the format's reader in :mod:`pipeline.sources`, validates the canonical layer
(:func:`pipeline.schemas.validate_layer`), and assigns municipalities. Every problem in every
source is collected first and raised as one :class:`~pipeline.errors.InputError`. After the
municipalities, sources are read by two threads (GDAL, pyarrow and GEOS release the GIL);
results, problems and warnings are merged in a fixed order, so they never depend on timing.

Nothing is ever written next to an input: GML is opened with ``WRITE_GFS=NO``, and the BRK
parcel template lives in a temporary directory.
"""

from __future__ import annotations

import datetime as dt
import difflib
import gc
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline import _yaml, schemas
from pipeline.errors import InputError, Problem
from pipeline.sources import bag, brk, cbs, imro, ownership, raster, stops, vacancy, zones
from pipeline.sources._common import Issues, from_arrow, isin, to_arrow

#: Each sources.yaml key and the one format it is read in.
SOURCE_FORMATS: dict[str, str] = {
    "municipalities": "cbs",
    "parcels": "brk",
    "buildings": "bag",
    "zoning": "imro",
    "vacancy": "vacancy-csv",
    "ownership": "ownership",
    "transit_stops": "stops",
    "noise": "raster",
    "exclusion_zones": "zones",
}
FORMATS = tuple(sorted(set(SOURCE_FORMATS.values())))
#: Sources that may be left out of sources.yaml (or marked ``optional: true``).
OPTIONAL_SOURCES = ("noise", "exclusion_zones")
REQUIRED_SOURCES = tuple(k for k in SOURCE_FORMATS if k not in OPTIONAL_SOURCES)
ENTRY_KEYS = ("path", "format", "layer", "crs", "date", "optional", "kind")
TOP_KEYS = ("sources", "synthetic")
#: Layers in which an empty result is a problem (the scan cannot run without them).
MUST_HAVE_FEATURES = ("municipalities", "parcels", "buildings", "zoning", "transit_stops")
#: Extra margin (m) around the selected municipalities for context layers (stops, zones, …).
CONTEXT_MARGIN_M = 5_000.0

GML_OPEN = {"WRITE_GFS": "NO"}
#: GDAL would otherwise write ``.aux.xml`` sidecars next to some read-only inputs (e.g. a
#: GeoPackage with dataset metadata) — never write next to an input.
NO_SIDECARS = {"GDAL_PAM_ENABLED": "NO"}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of objects are created.

    Shapely geometries and lists are tracked by the collector, and every few hundred new
    objects it scans the young ones again (and ever more often all of them): about half of
    the time of ``from_wkb`` on a province-sized layer. Reference counting still frees
    everything that is not in a cycle; the collector resumes (as it was) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def no_sidecar_files() -> Iterator[None]:
    """Switch GDAL's auxiliary (``.aux.xml``) files off while reading; restore afterwards."""
    previous = {k: pyogrio.get_gdal_config_option(k) for k in NO_SIDECARS}
    pyogrio.set_gdal_config_options(NO_SIDECARS)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(previous)


# ---------------------------------------------------------------------------------------------
# sources.yaml
# ---------------------------------------------------------------------------------------------


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    format: str
    layer: str | None = None
    crs: str | None = None
    date: dt.date | str | None = None
    optional: bool = False
    kind: str | None = None


class _SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    synthetic: bool = False
    sources: dict[str, _Entry]


@dataclass(frozen=True)
class SourceSpec:
    """One validated entry of sources.yaml; ``path`` is absolute."""

    key: str
    path: Path
    format: str
    layer: str | None = None
    crs: str | None = None
    date: str | None = None
    optional: bool = False
    kind: str | None = None
    raw_path: str = ""


@dataclass(frozen=True)
class Sources:
    """Where each input is: the validated ``sources.yaml``."""

    yaml_path: Path
    entries: dict[str, SourceSpec]
    synthetic: bool = False

    @property
    def base_dir(self) -> Path:
        return self.yaml_path.parent

    @property
    def noise(self) -> Path | None:
        """The noise raster, or ``None`` when there is none (or its optional file is missing)."""
        spec = self.entries.get("noise")
        if spec is None or not spec.path.exists():
            return None
        return spec.path

    def __getitem__(self, key: str) -> SourceSpec:
        return self.entries[key]

    def only(self, *keys: str) -> Sources:
        """The same sources limited to ``keys``, e.g. ``load_sources(sources.only("municipalities"))``
        to list the municipalities without reading the whole province."""
        return replace(self, entries={k: v for k, v in self.entries.items() if k in keys})


def _did_you_mean(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" — did you mean '{close[0]}'?" if close else ""


def read_sources_yaml(path: str | Path) -> Sources:
    """Read and validate ``sources.yaml``.

    Parameters
    ----------
    path
        The YAML file. Relative paths inside it are relative to the file's folder.

    Returns
    -------
    Sources

    Raises
    ------
    InputError
        With every problem: a missing or unreadable file, unknown keys or formats (with a
        "did you mean" suggestion), missing required sources, wrong value types.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise InputError(
            Problem(
                "sources.yaml not found",
                fix="pass --sources with the path of your sources.yaml (see "
                "data/raw/sources.example.yaml), or generate one with `kansenkaart sample`",
                file=file,
            )
        )
    try:
        doc = _yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(
            Problem(
                f"not valid YAML: {exc}".replace("\n", " "),
                fix="fix the YAML syntax (indentation, colons)",
                file=file,
            )
        ) from None
    problems: list[Problem] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        raise InputError(
            Problem(
                "expected a mapping with a 'sources:' section",
                fix="see data/raw/sources.example.yaml",
                file=file,
            )
        )
    for key in doc:
        if key not in TOP_KEYS:
            problems.append(
                Problem(
                    f"unknown top-level key '{key}'{_did_you_mean(str(key), TOP_KEYS)}",
                    fix=f"allowed: {', '.join(TOP_KEYS)}",
                    file=file,
                )
            )
    entries: dict[str, SourceSpec] = {}
    for key, value in doc["sources"].items():
        key = str(key)
        if key not in SOURCE_FORMATS:
            problems.append(
                Problem(
                    f"unknown source '{key}'{_did_you_mean(key, tuple(SOURCE_FORMATS))}",
                    fix=f"sources are: {', '.join(SOURCE_FORMATS)}",
                    file=file,
                    source=key,
                )
            )
            continue
        if not isinstance(value, dict):
            problems.append(
                Problem(
                    "expected a mapping like {path: …, format: …}",
                    fix=f"write e.g. `{key}: {{path: file.gpkg, format: {SOURCE_FORMATS[key]}}}`",
                    file=file,
                    source=key,
                )
            )
            continue
        bad_keys = [k for k in value if k not in ENTRY_KEYS]
        for k in bad_keys:
            problems.append(
                Problem(
                    f"unknown option '{k}'{_did_you_mean(str(k), ENTRY_KEYS)}",
                    fix=f"options are: {', '.join(ENTRY_KEYS)}",
                    file=file,
                    source=key,
                )
            )
        if bad_keys:
            continue
        try:
            entry = _Entry.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(x) for x in err["loc"])
                problems.append(
                    Problem(
                        f"option '{loc}': {err['msg']}",
                        fix="see data/raw/sources.example.yaml",
                        file=file,
                        source=key,
                    )
                )
            continue
        fmt = entry.format.strip().lower()
        if fmt not in FORMATS:
            problems.append(
                Problem(
                    f"unknown format '{entry.format}'{_did_you_mean(fmt, FORMATS)}",
                    fix=f"the format of '{key}' is '{SOURCE_FORMATS[key]}'",
                    file=file,
                    source=key,
                )
            )
            continue
        if fmt != SOURCE_FORMATS[key]:
            problems.append(
                Problem(
                    f"format '{fmt}' cannot be used for '{key}'",
                    fix=f"the format of '{key}' is '{SOURCE_FORMATS[key]}'",
                    file=file,
                    source=key,
                )
            )
            continue
        if entry.optional and key not in OPTIONAL_SOURCES:
            problems.append(
                Problem(
                    f"'{key}' cannot be optional",
                    fix=f"only {' and '.join(OPTIONAL_SOURCES)} may be `optional: true`",
                    file=file,
                    source=key,
                )
            )
        if entry.kind is not None and key not in ("transit_stops", "exclusion_zones"):
            problems.append(
                Problem(
                    "option 'kind' only applies to transit_stops and exclusion_zones",
                    fix="remove `kind:` from this source",
                    file=file,
                    source=key,
                )
            )
        if entry.crs is not None:
            try:
                ProjCRS.from_user_input(entry.crs)
            except Exception:
                problems.append(
                    Problem(
                        f"unknown CRS '{entry.crs}'",
                        fix="write an EPSG code such as `crs: EPSG:28992`",
                        file=file,
                        source=key,
                    )
                )
        entries[key] = SourceSpec(
            key=key,
            path=(path.parent / entry.path).resolve(),
            format=fmt,
            layer=entry.layer,
            crs=entry.crs,
            date=str(entry.date) if entry.date is not None else None,
            optional=entry.optional,
            kind=entry.kind.strip().lower() if entry.kind else None,
            raw_path=entry.path,
        )
    listed = {str(k) for k in doc["sources"]}
    for key in REQUIRED_SOURCES:
        if key not in listed:
            problems.append(
                Problem(
                    f"required source '{key}' is missing",
                    fix=f"add `{key}: {{path: …, format: {SOURCE_FORMATS[key]}}}` under `sources:`",
                    file=file,
                    source=key,
                )
            )
    if problems:
        raise InputError(problems, title=f"{len(problems)} problem(s) in {file}")
    return Sources(yaml_path=path.resolve(), entries=entries, synthetic=bool(doc.get("synthetic")))


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


@dataclass
class InputInfo:
    """One input file as it was read (for the run metadata).

    ``sha256`` is computed on first use (:meth:`digest`, ``as_dict``), so ``kansenkaart check``
    and one-municipality runs do not hash gigabytes they never need to; digests are cached in
    ``$XDG_CACHE_HOME/kansenkaart/sha256.json`` keyed by path, size and modification time.
    """

    source: str
    path: str
    format: str
    size_bytes: int
    sha256: str = ""
    date: str | None = None
    layer: str | None = None

    def digest(self) -> str:
        """The file's (or folder's) sha256, computed once."""
        if not self.sha256:
            self.sha256 = _cached_sha256(Path(self.path))
        return self.sha256

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "sha256": self.digest(),
            "date": self.date,
        }


@dataclass
class LoadReport:
    """What was loaded: feature counts and repaired geometries per layer, inputs, warnings."""

    counts: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    inputs: list[InputInfo] = field(default_factory=list)
    synthetic: bool = False
    warnings: list[str] = field(default_factory=list)
    #: layer name -> the sources.yaml key it came from
    layer_sources: dict[str, str] = field(default_factory=dict)
    #: raster inputs (``noise``) -> their metadata (pixels are never loaded here)
    rasters: dict[str, raster.RasterInfo] = field(default_factory=dict)


def _files_of(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in _files_of(path))


def _sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    for p in _files_of(path):
        if path.is_dir():
            digest.update(str(p.relative_to(path)).encode())
        with p.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kansenkaart" / "sha256.json"


def _cached_sha256(path: Path) -> str:
    """:func:`_sha256`, remembered across runs by path, size and mtime (never in the input)."""
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _files_of(path)]
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return str(cache[key])
    value = _sha256(path)
    cache[key] = value
    try:  # best effort: a read-only home only costs the next run a re-hash
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        tmp.replace(cache_path)
    except OSError:
        pass
    return value


# ---------------------------------------------------------------------------------------------
# Low-level readers (the only code that opens files)
# ---------------------------------------------------------------------------------------------


def _is_gml(path: str) -> bool:
    return path.lower().endswith((".gml", ".gml.gz"))


def list_layers(path: str) -> list[str]:
    """Layer names of a vector dataset (GML is opened with ``WRITE_GFS=NO``)."""
    with no_sidecar_files():
        if not _is_gml(path):
            return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
        names: list[str] = []
        while True:  # pyogrio.list_layers takes no open options: walk the layers by index
            try:
                info = pyogrio.read_info(path, layer=len(names), **GML_OPEN)
            except Exception:
                break
            names.append(str(info["layer_name"]))
        return names


def _read_error(exc: Exception, issues: Issues, *, file: str | None = None) -> None:
    text = str(exc).split("\n")[0].split("; It might help")[0].rstrip(".;")
    issues.problem(
        f"cannot be read: {text}",
        fix="the file may be truncated or damaged, or not in the stated format: download or "
        "export it again and check `format:` in sources.yaml",
        file=file,
    )


def _bbox_for(crs: Any, bbox_rd: tuple[float, float, float, float] | None) -> Any:
    if bbox_rd is None or crs is None:
        return None
    src = ProjCRS.from_user_input(crs)
    if src.equals(ProjCRS.from_user_input(schemas.CRS)):
        return bbox_rd
    return Transformer.from_crs(schemas.CRS, src, always_xy=True).transform_bounds(*bbox_rd)


def _read_dataframe_arrow(path: str, **kwargs: Any) -> pd.DataFrame:
    """``pyogrio.read_dataframe(path, use_arrow=True, **kwargs)``, faster: the WKB column goes
    from Arrow straight to ``shapely.from_wkb`` instead of through a pandas object column
    (which ``read_dataframe`` then pops, copying the frame). Same columns, dtypes and values;
    layers with datetime or JSON fields (which pyogrio post-processes) take pyogrio's path."""
    meta, table = pyogrio.read_arrow(path, datetime_as_string=True, **kwargs)
    special = any(
        d is not None and d.startswith("datetime") and d != "datetime64[D]" for d in meta["dtypes"]
    ) or any(s == "OFSTJSON" for s in meta["ogr_subtypes"])
    geometry_name = meta["geometry_name"] or "wkb_geometry"
    if special or geometry_name not in table.column_names:
        del table
        return pyogrio.read_dataframe(path, use_arrow=True, **kwargs)
    wkb = table.column(geometry_name)
    table = table.drop_columns([geometry_name])
    df = table.to_pandas(self_destruct=True)
    del table
    if isinstance(wkb.type, pa.BaseExtensionType):
        wkb = pa.chunked_array([c.storage for c in wkb.chunks], type=wkb.type.storage_type)
    df["geometry"] = shapely.from_wkb(wkb.to_numpy())
    del wkb
    return gpd.GeoDataFrame(df, geometry="geometry", crs=meta["crs"])


def read_vector(
    path: str,
    issues: Issues,
    *,
    layer: str | None = None,
    crs: str | None = None,
    assume_rd: bool = False,
    bbox_rd: tuple[float, float, float, float] | None = None,
    declared_crs: str | None = None,
    missing_layer_ok: bool = False,
    keep_columns: tuple[str, ...] | None = None,
    **open_options: str,
) -> gpd.GeoDataFrame | None:
    """Read one layer with pyogrio (``use_arrow=True``; curves are linearised on a fallback).

    The index becomes the 1-based feature number, so messages can name rows. A file without a
    CRS takes ``crs`` (from sources.yaml); failing that, ``assume_rd`` assumes EPSG:28992 with
    a warning, otherwise it is a problem. Returns ``None`` after recording a problem (or,
    with ``missing_layer_ok``, silently when the layer does not exist).
    """
    if _is_gml(path):
        open_options = {**GML_OPEN, **open_options}
    file_crs: Any = declared_crs
    bbox = None
    if bbox_rd is not None:
        try:
            with no_sidecar_files():
                file_crs = file_crs or pyogrio.read_info(path, layer=layer, **open_options)["crs"]
        except Exception as exc:
            _read_error(exc, issues)
            return None
        bbox = _bbox_for(crs or file_crs or (schemas.CRS if assume_rd else None), bbox_rd)
    kwargs: dict[str, Any] = {"layer": layer, "bbox": bbox, **open_options}
    if keep_columns is not None:  # read only the fields a reader can use (much less to convert)
        try:
            with no_sidecar_files():
                fields = pyogrio.read_info(path, layer=layer, **open_options)["fields"]
        except Exception as exc:
            _read_error(exc, issues)
            return None
        wanted = {c.lower() for c in keep_columns}
        kwargs["columns"] = [str(f) for f in fields if str(f).lower() in wanted]
    try:
        with no_sidecar_files():
            try:
                gdf = _read_dataframe_arrow(path, **kwargs)
            except NotImplementedError:  # curved geometries (IMRO arcs): GDAL linearises them
                gdf = pyogrio.read_dataframe(path, use_arrow=False, **kwargs)
    except Exception as exc:
        if missing_layer_ok and "could not be opened" in str(exc) and layer is not None:
            return None
        _read_error(exc, issues)
        return None
    if not isinstance(gdf, gpd.GeoDataFrame):
        gdf = gpd.GeoDataFrame(gdf)
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    if declared_crs is not None and gdf.crs is None:
        gdf = gdf.set_crs(declared_crs)
    if crs is not None:
        if gdf.crs is not None and not gdf.crs.equals(ProjCRS.from_user_input(crs)):
            issues.warn(f"file declares {gdf.crs.to_string()}; `crs: {crs}` from sources.yaml used")
        gdf = gdf.set_crs(crs, allow_override=True)
    elif gdf.crs is None and "geometry" in gdf.columns:
        if assume_rd:
            issues.warn(
                f"{Path(path).name} declares no CRS; assumed EPSG:28992 (RD New). Set "
                "`crs:` on this source in sources.yaml to silence this"
            )
            gdf = gdf.set_crs(schemas.CRS)
        else:
            issues.problem(
                "the file declares no CRS (coordinate reference system)",
                fix="set `crs: EPSG:28992` (or the right code) on this source in sources.yaml",
            )
            return None
    return gdf


def pick_layer(
    path: str, issues: Issues, *, wanted: str | None, defaults: tuple[str, ...]
) -> str | None:
    """Choose the layer to read: the one named in sources.yaml, a format default, or the only one."""
    try:
        names = list_layers(path)
    except Exception as exc:
        _read_error(exc, issues)
        return None
    if not names:
        issues.problem("the file has no layers", fix="export the data again")
        return None
    if wanted is not None:
        if wanted in names:
            return wanted
        issues.problem(
            f"layer '{wanted}' not found{_did_you_mean(wanted, names)} (layers: {', '.join(names)})",
            fix="set `layer:` in sources.yaml to one of the file's layers",
            layer=wanted,
        )
        return None
    lower = {n.lower(): n for n in names}
    for d in defaults:
        if d.lower() in lower:
            return lower[d.lower()]
    if len(names) == 1:
        return names[0]
    matches = [n for n in names if any(d.lower() in n.lower() for d in defaults)]
    if len(matches) == 1:
        return matches[0]
    issues.problem(
        f"the file has several layers ({', '.join(names)}) and none is the expected "
        f"'{defaults[0] if defaults else ''}'",
        fix="set `layer:` on this source in sources.yaml",
    )
    return None


def read_text_table(path: Path, issues: Issues) -> pd.DataFrame | None:
    """Read a delimited text file as strings; index = line numbers in the file.

    UTF-8 only (a BOM is fine); ``#`` comment lines and blank lines are skipped; the delimiter
    (``;``, ``,`` or tab) is sniffed from the header line.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        issues.problem(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; probably "
            "saved as Windows-1252/Latin-1)",
            fix="re-save the file as UTF-8 (Excel: 'CSV UTF-8 (comma delimited)'; LibreOffice: "
            "character set 'Unicode (UTF-8)')",
            row=line,
        )
        return None
    numbered = [
        (no, line)
        for no, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        issues.problem("the file has no header line and no rows", fix="add a header line")
        return None
    header = numbered[0][1]
    delimiter = max([";", ",", "\t", "|"], key=header.count)
    body = "\n".join(line for _, line in numbered)
    try:
        table = pd.read_csv(
            io.StringIO(body),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        issues.problem(
            f"cannot be parsed as a '{delimiter}'-separated table: {str(exc).strip()}",
            fix="every row needs as many fields as the header line",
        )
        return None
    table.columns = [str(c).strip() for c in table.columns]
    if len(table) == len(numbered) - 1:
        table.index = pd.Index([no for no, _ in numbered[1:]])
    return table


def read_raster_meta(path: Path, issues: Issues) -> dict[str, object] | None:
    """Open a GeoTIFF with rasterio and return its metadata (no pixels are read)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.Env(**NO_SIDECARS), rasterio.open(path) as ds:
            return {
                "path": str(path),
                "crs": ds.crs.to_string() if ds.crs else None,
                "width": ds.width,
                "height": ds.height,
                "count": ds.count,
                "dtype": ds.dtypes[0] if ds.count else "",
                "nodata": ds.nodata,
                "bounds": tuple(ds.bounds),
                "res": tuple(ds.res),
                "description": ds.tags().get("TIFFTAG_IMAGEDESCRIPTION") or ds.descriptions[0]
                if ds.count
                else None,
            }
    except RasterioIOError as exc:
        _read_error(exc, issues)
        return None


_SRS_RE = re.compile(rb'srsName="([^"]+)"')


def _gml_declared_crs(path: Path) -> str | None:
    """The CRS a GML file declares in its first ``srsName`` (a bare ``28992`` does not count)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return None
    match = _SRS_RE.search(head)
    if not match:
        return None
    value = match.group(1).decode("ascii", "replace")
    if value.isdigit():
        return None
    try:
        return ProjCRS.from_user_input(value).to_string()
    except Exception:
        return None


@contextmanager
def _perceel_template() -> Iterator[str]:
    """A temporary ``.gfs`` that makes GDAL read ``begrenzingPerceel`` polygons."""
    with tempfile.TemporaryDirectory(prefix="kansenkaart-gfs-") as tmp:
        gfs = Path(tmp) / "perceel.gfs"
        gfs.write_text(brk.PERCEEL_GFS_TEMPLATE, encoding="utf-8")
        yield str(gfs)


# ---------------------------------------------------------------------------------------------
# One loader per format: read from disk, then hand to the pure reader in pipeline.sources
# ---------------------------------------------------------------------------------------------


def _empty(schema: schemas.LayerSchema) -> pd.DataFrame:
    cols = {c.name: pd.Series([], dtype="object") for c in schema.columns if c.required}
    if schema.geometry is None:
        return pd.DataFrame(cols)
    return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=schemas.CRS), crs=schemas.CRS)


def _load_vector_layer(
    spec: SourceSpec, issues: Issues, defaults: tuple[str, ...], bbox: Any, **kw: Any
) -> gpd.GeoDataFrame | None:
    path = str(spec.path)
    layer = pick_layer(path, issues, wanted=spec.layer, defaults=defaults)
    if layer is None:
        return None
    issues.layer = layer
    gdf = read_vector(path, issues, layer=layer, crs=spec.crs, bbox_rd=bbox, **kw)
    if gdf is not None and len(gdf) == 0 and bbox is None:
        _empty_layer(spec, issues, layer)
    return gdf


def _empty_layer(spec: SourceSpec, issues: Issues, layer: str | None) -> None:
    if spec.key in MUST_HAVE_FEATURES or spec.key == "buildings":
        issues.problem(
            "the layer has no features",
            fix="check that you exported the right layer and that the export finished",
            layer=layer,
        )
    else:
        issues.warn(f"layer '{layer}' of {spec.path.name} has no features")


def _load_cbs(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    raw = _load_vector_layer(spec, issues, ("gemeenten", "gemeente_gegeneraliseerd"), None)
    if raw is None:
        return {}
    return {"municipalities": cbs.municipalities_from_cbs(raw, issues)}


def _gml_files(path: Path, pattern: str) -> list[str]:
    """GML files of a source: the file itself, a folder's ``*.gml`` or a zip's members."""
    if path.is_dir():
        return [str(p) for p in sorted(path.glob("*.gml")) if re.search(pattern, p.name, re.I)]
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".gml")]
        return [f"/vsizip/{path}/{n}" for n in sorted(names) if re.search(pattern, n, re.I)]
    return [str(path)]


def _load_brk(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    path = spec.path
    if path.is_dir() or path.suffix.lower() in (".gml", ".xml", ".zip"):
        try:
            files = _gml_files(path, r"perceel")
        except zipfile.BadZipFile as exc:
            _read_error(exc, issues)
            return {}
        if not files:
            issues.problem(
                "no perceel GML file found", fix="point `path:` at kadastralekaart_perceel.gml"
            )
            return {}
        parts = []
        with _perceel_template() as gfs:
            for f in files:
                declared = None if f.startswith("/vsi") else _gml_declared_crs(Path(f))
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
            _empty_layer(spec, issues, "Perceel")
    else:
        raw = _load_vector_layer(
            spec,
            issues,
            ("perceel", "percelen", "kadastraal_perceel"),
            bbox,
            keep_columns=brk.PERCEEL_COLUMNS,
        )
        if raw is None:
            return {}
    return {"parcels": brk.parcels_from_brk(raw, issues)}


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
        _read_error(exc, issues)
        return None, None
    panden: list[gpd.GeoDataFrame] = []
    vbos: list[gpd.GeoDataFrame] = []
    for gdal_path, _kind in files:
        try:
            layers = list_layers(gdal_path)
        except Exception as exc:
            _read_error(exc, issues)
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


def _load_bag(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    path = spec.path
    is_gpkg = path.is_file() and path.suffix.lower() in (".gpkg", ".sqlite", ".geojson", ".fgb")
    if is_gpkg:
        try:
            names = list_layers(str(path))
        except Exception as exc:
            _read_error(exc, issues)
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
            _empty_layer(spec, issues, pand_layer)
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


def _load_imro(
    spec: SourceSpec, issues: Issues, bbox: Any, *, skip_codes: frozenset[str] = frozenset()
) -> dict[str, pd.DataFrame]:
    """Read ``Enkelbestemming`` from each GML (one GDAL open per file: GML has no index and
    every open parses the whole file). With a municipality filter, plan files named
    ``NL.IMRO.<code>.…`` of other municipalities (``skip_codes``) are not opened at all."""
    try:
        files = _gml_files(spec.path, r".")
    except zipfile.BadZipFile as exc:
        _read_error(exc, issues)
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
        declared = None if f.startswith("/vsi") else _gml_declared_crs(Path(f))
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
                _read_error(exc, sub)
                names = []
            if names:
                without.append((f, names))
            elif not sub.problems:
                _read_error(ValueError("no layers (not GML?)"), sub)
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
    return {"zoning": imro.unique_zoning_ids(zoning)}


def _load_vacancy(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    table = read_text_table(spec.path, issues)
    if table is None:
        return {}
    if len(table) == 0:
        issues.warn(f"{spec.path.name} has no rows: no vacancy is known")
    return {"vacancy": vacancy.vacancy_from_csv(table, issues)}


def _load_ownership(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    raw = _load_vector_layer(spec, issues, ("eigendom", "ownership", "eigenaren"), bbox)
    if raw is None:
        return {}
    return {"ownership": ownership.ownership_from_polygons(raw, issues)}


def _load_zones(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    raw = _load_vector_layer(spec, issues, ("zones", "uitsluitingen", "zone"), bbox)
    if raw is None:
        return {}
    return {"exclusion_zones": zones.zones_from_polygons(raw, issues, default_kind=spec.kind)}


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


def _load_stops(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, pd.DataFrame]:
    path = spec.path
    suffix = path.suffix.lower()
    if suffix in (".txt", ".csv", ".zip") or path.is_dir():
        try:
            extra = _gtfs_tables(path)
        except (zipfile.BadZipFile, ValueError, KeyError) as exc:
            _read_error(exc, issues)
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
        return {"transit_stops": out}
    raw = _load_vector_layer(spec, issues, ("haltes", "stops", "ov_haltes", "stations"), bbox)
    if raw is None:
        return {}
    return {"transit_stops": stops.stops_from_points(raw, issues, default_kind=spec.kind)}


def _load_raster(spec: SourceSpec, issues: Issues, bbox: Any) -> dict[str, Any]:
    meta = read_raster_meta(spec.path, issues)
    if meta is None:
        return {}
    info = raster.noise_from_geotiff(meta, issues)
    return {"__raster__": info} if info is not None else {}


_LOADERS = {
    "cbs": _load_cbs,
    "brk": _load_brk,
    "bag": _load_bag,
    "imro": _load_imro,
    "vacancy-csv": _load_vacancy,
    "ownership": _load_ownership,
    "stops": _load_stops,
    "raster": _load_raster,
    "zones": _load_zones,
}
#: Reading order: municipalities first (the gemeenten filter needs them), BAG before vacancy.
LOAD_ORDER = (
    "municipalities",
    "parcels",
    "buildings",
    "zoning",
    "vacancy",
    "ownership",
    "transit_stops",
    "noise",
    "exclusion_zones",
)


# ---------------------------------------------------------------------------------------------
# Municipalities
# ---------------------------------------------------------------------------------------------


#: Cell size (m) of the grid of municipality interiors used by :func:`assign_gemeentecode`.
GRID_CELL_M = 500.0
#: Grid cells are tested grown by this margin, so rounding in the cell lookup never matters.
GRID_MARGIN_M = 1.0


@dataclass(frozen=True)
class MunicipalityIndex:
    """The municipalities prepared for :func:`assign_gemeentecode` (build once, use per layer).

    ``cells[i, j]`` is the row of the only municipality whose interior contains grid cell
    ``(i, j)`` (grown by :data:`GRID_MARGIN_M`) while no other municipality touches it, else -1.
    """

    geoms: np.ndarray
    codes: pd.Series
    x0: float = 0.0
    y0: float = 0.0
    cells: np.ndarray | None = None

    @classmethod
    def build(cls, municipalities: gpd.GeoDataFrame) -> MunicipalityIndex:
        geoms = np.asarray(municipalities.geometry.array, dtype=object)
        shapely.prepare(geoms)
        codes = municipalities["gemeentecode"].reset_index(drop=True)
        present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        if not present.any():
            return cls(geoms, codes)
        x0, y0, x1, y1 = shapely.total_bounds(geoms[present])
        cell, margin = GRID_CELL_M, GRID_MARGIN_M
        nx = int(np.ceil((x1 - x0) / cell)) + 1
        ny = int(np.ceil((y1 - y0) / cell)) + 1
        if nx * ny > 4_000_000:  # absurd extent (a wrong CRS is reported elsewhere): no grid
            return cls(geoms, codes)
        ii, jj = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij"))
        boxes = shapely.box(
            x0 + ii * cell - margin,
            y0 + jj * cell - margin,
            x0 + (ii + 1) * cell + margin,
            y0 + (jj + 1) * cell + margin,
        )
        tree = shapely.STRtree(boxes)
        mun_idx, cell_idx = tree.query(np.where(present, geoms, None), predicate="intersects")
        single = np.bincount(cell_idx, minlength=len(boxes))[cell_idx] == 1
        mun_idx, cell_idx = mun_idx[single], cell_idx[single]
        inside = shapely.contains_properly(geoms[mun_idx], boxes[cell_idx])
        cells = np.full(nx * ny, -1, dtype=np.int64)
        cells[cell_idx[inside]] = mun_idx[inside]
        return cls(geoms, codes, float(x0), float(y0), cells.reshape(nx, ny))

    def _from_cells(self, geoms: np.ndarray) -> np.ndarray:
        """Municipality row per feature whose bounding box lies within 2×2 grid cells that are
        all inside the same (single) municipality; -1 for the others."""
        found = np.full(len(geoms), -1, dtype=np.int64)
        if self.cells is None:
            return found
        types = shapely.get_type_id(geoms)
        polygonal = (types == 3) | (types == 6)
        usable = types == 0
        if polygonal.any():
            # a polygon's representative point lies in its bounding box (degenerate polygons
            # without area take the exact path)
            usable[polygonal] = shapely.area(geoms[polygonal]) > 0
        idx = np.flatnonzero(usable)
        b = shapely.bounds(geoms[idx])
        nx, ny = self.cells.shape
        with np.errstate(invalid="ignore"):
            i0 = np.floor((b[:, 0] - self.x0) / GRID_CELL_M)
            j0 = np.floor((b[:, 1] - self.y0) / GRID_CELL_M)
            i1 = np.floor((b[:, 2] - self.x0) / GRID_CELL_M)
            j1 = np.floor((b[:, 3] - self.y0) / GRID_CELL_M)
            fits = (i0 >= 0) & (j0 >= 0) & (i1 < nx) & (j1 < ny) & (i1 - i0 <= 1) & (j1 - j0 <= 1)
        idx = idx[fits]
        i0, j0, i1, j1 = (a[fits].astype(np.int64) for a in (i0, j0, i1, j1))
        m = self.cells[i0, j0]
        same = (
            (m >= 0)
            & (self.cells[i1, j0] == m)
            & (self.cells[i0, j1] == m)
            & (self.cells[i1, j1] == m)
        )
        found[idx[same]] = m[same]
        return found


def assign_gemeentecode(
    gdf: gpd.GeoDataFrame,
    municipalities: gpd.GeoDataFrame,
    *,
    index: MunicipalityIndex | None = None,
) -> pd.Series:
    """The municipality code of each feature: the one containing its representative point.

    Vectorised in two steps. Features whose bounding box lies in grid cells entirely inside
    one municipality (that no other municipality touches) take that municipality directly —
    their representative point is in that box, so the answer is the same — which settles
    most features without computing a point. The rest (near borders, large or degenerate):
    ``point_on_surface`` for polygons, then per municipality (prepared) one ``contains_xy``
    over the points inside its bounding box. Points outside every municipality (or, where
    municipalities overlap, inside several: the first in file order wins) get a missing value
    resp. the first one. ``index`` is :meth:`MunicipalityIndex.build` of ``municipalities``,
    to build it once for several layers.
    """
    if len(gdf) == 0 or len(municipalities) == 0:
        return pd.Series(np.full(len(gdf), None, dtype=object), index=gdf.index, dtype="str")
    if index is None:
        index = MunicipalityIndex.build(municipalities)
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    found = index._from_cells(geoms)
    rest = np.flatnonzero(found < 0)
    if len(rest):
        sub = geoms[rest]
        is_point = shapely.get_type_id(sub) == 0
        points = sub.copy()
        if not is_point.all():
            points[~is_point] = shapely.point_on_surface(sub[~is_point])
        x, y = shapely.get_x(points), shapely.get_y(points)
        mun_geoms = index.geoms
        bounds = shapely.bounds(mun_geoms)
        todo = ~np.isnan(x)
        order = np.argsort(x, kind="stable")
        xs = x[order]
        # one vectorised point-in-polygon test per municipality on the points in its bbox
        for i in range(len(mun_geoms)):
            x0, y0, x1, y1 = bounds[i]
            lo = np.searchsorted(xs, x0, side="left")
            hi = np.searchsorted(xs, x1, side="right")
            band = order[lo:hi]
            cand = band[todo[band] & (y[band] >= y0) & (y[band] <= y1)]
            if len(cand) == 0:
                continue
            inside = cand[shapely.contains_xy(mun_geoms[i], x[cand], y[cand])]
            found[rest[inside]] = i
            todo[inside] = False
    codes = to_arrow(index.codes).take(pa.array(found, mask=found < 0))
    return from_arrow(codes, gdf.index)


# ---------------------------------------------------------------------------------------------
# load_sources
# ---------------------------------------------------------------------------------------------


def _new_progress(console: Console | None = None) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )


#: Sources read at the same time (threads: GDAL, pyarrow and shapely release the GIL).
READ_THREADS = 2
#: The largest sources are started first, so the threads finish at about the same time.
READ_FIRST = ("buildings", "parcels", "zoning", "ownership")


@dataclass
class _Loaded:
    """What one source gave: its canonical layers (validated), repaired counts and messages."""

    issues: Issues
    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    raster: raster.RasterInfo | None = None


def _load_source(
    spec: SourceSpec,
    bbox: tuple[float, float, float, float] | None,
    skip_codes: frozenset[str],
    municipalities: gpd.GeoDataFrame | None,
) -> _Loaded:
    """Read, normalise and validate one source; with ``municipalities`` (and no problems so
    far) also assign the gemeentecode of its parcels, buildings and units."""
    issues = Issues(file=str(spec.path), source=spec.key, layer=spec.layer)
    result = _Loaded(issues)
    loaded: dict[str, Any]
    if spec.format == "imro":
        loaded = _load_imro(spec, issues, bbox, skip_codes=skip_codes)
    else:
        loaded = _LOADERS[spec.format](spec, issues, bbox)
    for name in list(loaded):
        raw = loaded.pop(name)  # (frees each raw table once it is validated)
        if isinstance(raw, raster.RasterInfo):
            result.raster = raw
            continue
        if issues.problems and len(raw) == 0:
            continue  # the reader already said what is wrong
        schema = schemas.LAYERS[name]
        if "gemeentecode" in schema.column_names and "gemeentecode" not in raw.columns:
            raw = raw.assign(gemeentecode=pd.Series(pd.NA, index=raw.index, dtype="str"))
        layer_name = issues.layer_of.get(name, issues.layer)
        gdf, layer_problems, repaired = schemas.validate_layer(
            raw, schema, file=str(spec.path), source=spec.key, layer=layer_name
        )
        del raw
        issues.problems += layer_problems
        result.layers[name] = gdf
        if repaired:
            result.repaired[name] = repaired
            issues.warn(
                f"{repaired} invalid geometr{'y' if repaired == 1 else 'ies'} in "
                f"{name} repaired (make_valid)"
            )
    coded = [n for n in ("parcels", "buildings", "units") if n in result.layers]
    if municipalities is not None and coded and not issues.problems:
        # a private copy: prepared geometries must not be shared between threads
        own = municipalities.set_geometry(
            shapely.from_wkb(shapely.to_wkb(np.asarray(municipalities.geometry.array)))
        )
        index = MunicipalityIndex.build(own)
        for name in coded:
            gdf = result.layers[name]
            gdf["gemeentecode"] = assign_gemeentecode(gdf, own, index=index)
    return result


def load_sources(
    sources: Sources,
    *,
    gemeenten: list[str] | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, pd.DataFrame], LoadReport]:
    """Read, validate and normalise every source to the canonical layers (EPSG:28992).

    Parameters
    ----------
    sources
        From :func:`read_sources_yaml`.
    gemeenten
        Only these municipality codes (``GM0599``): parcels, buildings and units are limited to
        them, and every file is read with a bounding-box filter so one municipality reads fast.
        Context layers (stops, zones, zoning, ownership) keep a 5 km margin.
    progress
        A rich ``Progress`` to report on (one step per source); one is created when ``None``.

    Returns
    -------
    (layers, report)
        ``layers`` has one entry per name in :data:`pipeline.schemas.LAYERS` (optional layers
        that were not given are empty); ``report`` counts features and repaired geometries per
        layer and lists the inputs and warnings. The noise raster's path is ``sources.noise``.

    Raises
    ------
    InputError
        With every problem found in every source.

    Notes
    -----
    The municipalities are read first (the ``gemeenten`` filter and the gemeentecode need
    them); the other sources are then read by :data:`READ_THREADS` threads. Results, problems
    and warnings are merged in :data:`LOAD_ORDER`, so they do not depend on timing.
    """
    report = LoadReport(synthetic=sources.synthetic)
    problems: list[Problem] = []
    layers: dict[str, pd.DataFrame] = {}
    selected = [g.strip().upper() for g in gemeenten] if gemeenten else None
    bbox: tuple[float, float, float, float] | None = None
    context_bbox: tuple[float, float, float, float] | None = None
    skip_codes: frozenset[str] = frozenset()
    prog = progress if progress is not None else _new_progress()
    keys = [k for k in LOAD_ORDER if k in sources.entries]
    present = {k for k in keys if sources.entries[k].path.exists()}
    with (
        gc_paused(),
        no_sidecar_files(),
        prog if progress is None else nullcontext(),
        ThreadPoolExecutor(READ_THREADS, thread_name_prefix="kansenkaart-read") as pool,
    ):
        task = prog.add_task("reading inputs", total=len(keys))
        running: list[str] = []

        def start(key: str) -> Any:
            running.append(key)
            prog.update(task, description=f"reading {', '.join(running)}")

        def done(key: str) -> None:
            running.remove(key)
            prog.update(task, description=f"reading {', '.join(running) or '…'}", advance=1)

        def load(key: str, use_bbox: Any, mun: gpd.GeoDataFrame | None) -> _Loaded:
            start(key)
            try:
                return _load_source(sources.entries[key], use_bbox, skip_codes, mun)
            finally:
                done(key)

        results: dict[str, _Loaded | Future[_Loaded]] = {}
        mun_ok: gpd.GeoDataFrame | None = None
        if "municipalities" in present:
            first = results["municipalities"] = load("municipalities", None, None)
            mun = first.layers.get("municipalities")
            if mun is not None and selected:
                issues = first.issues
                unknown = sorted(set(selected) - set(mun["gemeentecode"]))
                for code in unknown:
                    issues.problem(
                        f"municipality '{code}' is not in the municipalities file"
                        f"{_did_you_mean(code, list(mun['gemeentecode']))}",
                        fix="pass codes like GM0599 that exist in the municipalities source",
                    )
                skip_codes = frozenset(
                    str(c)[2:] for c in mun["gemeentecode"] if str(c) not in selected
                )
                mun = mun[mun["gemeentecode"].isin(selected)]
                first.layers["municipalities"] = mun
                if len(mun):
                    x0, y0, x1, y1 = mun.total_bounds
                    bbox = (x0, y0, x1, y1)
                    m = CONTEXT_MARGIN_M
                    context_bbox = (x0 - m, y0 - m, x1 + m, y1 + m)
            if mun is not None and not first.issues.problems:
                mun_ok = mun
        rest = [k for k in keys if k in present and k != "municipalities"]
        rest.sort(key=lambda k: READ_FIRST.index(k) if k in READ_FIRST else len(READ_FIRST))
        for key in rest:
            use_bbox = bbox if key in ("parcels", "buildings") else context_bbox
            results[key] = pool.submit(load, key, use_bbox, mun_ok)
        for key in keys:  # merge in LOAD_ORDER, whatever finished first
            spec = sources.entries[key]
            if key not in present:
                issues = Issues(file=str(spec.path), source=key, layer=spec.layer)
                if spec.optional:
                    report.warnings.append(f"[{key}] optional file {spec.path} not found; skipped")
                else:
                    siblings = (
                        [p.name for p in spec.path.parent.iterdir()]
                        if spec.path.parent.is_dir()
                        else []
                    )
                    issues.problem(
                        f"file not found{_did_you_mean(spec.path.name, siblings)}",
                        fix=f"correct `path:` of '{key}' in {sources.yaml_path.name} (paths are "
                        "relative to the YAML file)",
                    )
                problems += issues.problems
                prog.advance(task)
                continue
            report.inputs.append(
                InputInfo(
                    key, str(spec.path), spec.format, _size(spec.path), "", spec.date, spec.layer
                )
            )
            result = results[key]
            if isinstance(result, Future):
                try:
                    result = result.result()
                except BaseException:  # e.g. Ctrl-C: do not start the sources still waiting
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
            if result.raster is not None:
                report.rasters[key] = result.raster
            for name, gdf in result.layers.items():
                layers[name] = gdf
                report.layer_sources[name] = key
                if name in result.repaired:
                    report.repaired[name] = result.repaired[name]
            problems += result.issues.problems
            report.warnings += result.issues.warnings
        prog.update(task, description="checking cross-references")
        problems += _cross_checks(layers, sources, report, selected)
    if problems:
        raise InputError(
            problems, title=f"{len(problems)} problem(s) in the inputs of {sources.yaml_path}"
        )
    mun_layer = layers.get("municipalities")
    for name in ("parcels", "buildings", "units"):
        if name in layers and mun_layer is not None:
            gdf = layers[name]
            if mun_ok is None:  # pragma: no cover - municipalities without problems are mun_ok
                gdf["gemeentecode"] = assign_gemeentecode(gdf, mun_layer)
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
    for name, schema in schemas.LAYERS.items():
        if name not in layers:
            layers[name] = _empty(schema)
        layers[name] = layers[name].reset_index(drop=True)
        report.counts[name] = len(layers[name])
    return layers, report


def _cross_checks(
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


# ---------------------------------------------------------------------------------------------
# kansenkaart check
# ---------------------------------------------------------------------------------------------


def run_check_command(sources_path: Path, *, console: Console) -> None:
    """``kansenkaart check``: load everything, print a table per layer; raise on problems."""
    sources = read_sources_yaml(sources_path)
    with _new_progress(console) as progress:
        _layers, report = load_sources(sources, progress=progress)
    table = Table(title=f"Inputs of {sources_path}" + (" (synthetic)" if report.synthetic else ""))
    table.add_column("layer", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("features", justify="right", no_wrap=True)
    table.add_column("repaired", justify="right")
    table.add_column("warnings", justify="right")
    for name in schemas.LAYERS:
        key = report.layer_sources.get(name)
        if key is None:
            continue
        spec = sources.entries[key]
        n_warn = sum(1 for w in report.warnings if w.startswith(f"[{key}]"))
        table.add_row(
            name,
            escape(spec.raw_path),
            f"{report.counts.get(name, 0):,}",
            str(report.repaired.get(name, 0)),
            str(n_warn),
        )
    for key, info in report.rasters.items():
        n_warn = sum(1 for w in report.warnings if w.startswith(f"[{key}]"))
        table.add_row(
            key,
            escape(sources.entries[key].raw_path),
            f"{info.width}×{info.height} cells",
            "0",
            str(n_warn),
        )
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    console.print(
        f"[green]ok:[/] {sum(report.counts.values()):,} features in {len(report.inputs)} inputs "
        "are valid",
        highlight=False,
    )
