"""The low-level readers: the only code that opens files (pyogrio with Arrow, rasterio, CSV).

Nothing is ever written next to an input: GML is opened with ``WRITE_GFS=NO``, GDAL's
``.aux.xml`` sidecars are switched off while reading, and the BRK parcel template lives in a
temporary directory.
"""

from __future__ import annotations

import gc
import gzip
import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer

from pipeline import schemas
from pipeline.catalog.registry import SOURCE_KINDS
from pipeline.catalog.sources_file import SourceSpec, did_you_mean
from pipeline.sources import brk
from pipeline.sources._common import Issues

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


def _is_gml(path: str) -> bool:
    """GML, or XML that GDAL may open as GML (an IMRO plan saved as ``.xml``, BAG 1.0): both
    get ``WRITE_GFS=NO``. (LVBAG XML is read with ``gml=False``: its driver has no options.)"""
    return path.lower().endswith((".gml", ".gml.gz", ".xml", ".xml.gz"))


def xml_head(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a file (gzip-compressed files decompressed); empty on error."""
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


#: What :func:`sniff_xml` recognises, named for messages.
FORMAT_NAMES = {
    "lvbag2": "a BAG 2.0 (LVBAG) extract",
    "bag1": "a BAG 1.0 extract (the XML format Kadaster delivered until 2021)",
    "bgt": "a BGT file (IMGeo/CityGML: large-scale topography, not the BAG or the BRK)",
    "imro2006": "an IMRO2006 plan (the format before the Wro of 2008)",
    "imro": "an IMRO2008/IMRO2012 plan",
    "brk": "a Kadastrale kaart (BRK) file",
    "ogr": "a GML written by GDAL/OGR (ogr2ogr)",
}
BAG_FIX = (
    "use a BAG 2.0 extract as Kadaster delivers it (e.g. BAGGEM0599L-….zip), PDOK's "
    "bag-light.gpkg (layers pand and verblijfsobject), or `kansenkaart fetch`"
)
UNSUPPORTED_FIX = {
    "bag1": "BAG 1.0 is not supported: " + BAG_FIX,
    "bgt": "the BGT has no construction years, statuses or uses: " + BAG_FIX,
    "imro2006": "IMRO2006 is not supported: use the municipality's current bestemmingsplan "
    "(IMRO2008/IMRO2012, from ruimtelijkeplannen.nl) or leave this file out",
}
_SNIFF = (  # (format, byte patterns of its root element or namespaces), first match wins
    ("lvbag2", (b"lvbag/extract-deelbestand", b"sl-bag-extract", b"schemas/lvbag/")),
    ("bag1", (b"BAG-Extract-Deelbestand-LVC", b"imbag/lvc/v2009", b"bag_LVC:")),
    ("bgt", (b"geostandaarden.nl/imgeo", b"geostandaarden.nl/bgt")),
    ("imro2006", (b"geonovum.nl/imro/2006", b"IMRO2006")),
    ("imro", (b"geonovum.nl/imro/20",)),
    ("brk", (b"schemas/brkkadastralekaart", b"begrenzingPerceel")),
    ("ogr", (b"ogr.maptools.org",)),
)


def sniff_xml(head: bytes) -> str | None:
    """Which (Dutch) XML/GML format a file is, from its first bytes; ``None`` when unknown."""
    for fmt, patterns in _SNIFF:
        if any(p in head for p in patterns):
            return fmt
    return None


def list_layers(path: str, *, gml: bool | None = None) -> list[str]:
    """Layer names of a vector dataset (GML is opened with ``WRITE_GFS=NO``; ``gml`` overrides
    the choice by file name)."""
    with no_sidecar_files():
        if not (_is_gml(path) if gml is None else gml):
            return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
        names: list[str] = []
        while True:  # pyogrio.list_layers takes no open options: walk the layers by index
            try:
                info = pyogrio.read_info(path, layer=len(names), **GML_OPEN)
            except Exception:
                break
            names.append(str(info["layer_name"]))
        return names


def read_error(exc: Exception, issues: Issues, *, file: str | None = None) -> None:
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
    geometry: bool = True,
    gml: bool | None = None,
    **open_options: str,
) -> gpd.GeoDataFrame | None:
    """Read one layer with pyogrio (``use_arrow=True``; curves are linearised on a fallback).

    ``geometry=False`` reads a table without geometry (LVBAG addresses and streets): no CRS
    is needed then.

    The index becomes the 1-based feature number, so messages can name rows. A file without a
    CRS takes ``crs`` (from sources.yaml); failing that, ``assume_rd`` assumes EPSG:28992 with
    a warning, otherwise it is a problem. Returns ``None`` after recording a problem (or,
    with ``missing_layer_ok``, silently when the layer does not exist). ``gml`` says whether
    GML open options apply (default: by file name).
    """
    if _is_gml(path) if gml is None else gml:
        open_options = {**GML_OPEN, **open_options}
    file_crs: Any = declared_crs
    bbox = None
    if bbox_rd is not None:
        try:
            with no_sidecar_files():
                file_crs = file_crs or pyogrio.read_info(path, layer=layer, **open_options)["crs"]
        except Exception as exc:
            read_error(exc, issues)
            return None
        bbox = _bbox_for(crs or file_crs or (schemas.CRS if assume_rd else None), bbox_rd)
    kwargs: dict[str, Any] = {"layer": layer, "bbox": bbox, **open_options}
    if not geometry:
        kwargs["read_geometry"] = False
    if keep_columns is not None:  # read only the fields a reader can use (much less to convert)
        try:
            with no_sidecar_files():
                fields = pyogrio.read_info(path, layer=layer, **open_options)["fields"]
        except Exception as exc:
            read_error(exc, issues)
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
        read_error(exc, issues)
        return None
    if not geometry:
        table = pd.DataFrame(gdf)
        table.index = pd.RangeIndex(1, len(table) + 1)
        return table  # type: ignore[return-value]
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
        read_error(exc, issues)
        return None
    if not names:
        issues.problem("the file has no layers", fix="export the data again")
        return None
    if wanted is not None:
        if wanted in names:
            return wanted
        issues.problem(
            f"layer '{wanted}' not found{did_you_mean(wanted, names)} (layers: {', '.join(names)})",
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
        read_error(exc, issues)
        return None


_SRS_RE = re.compile(rb'srsName="([^"]+)"')


def gml_declared_crs(path: Path) -> str | None:
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
def perceel_template() -> Iterator[str]:
    """A temporary ``.gfs`` that makes GDAL read ``begrenzingPerceel`` polygons."""
    with tempfile.TemporaryDirectory(prefix="kansenkaart-gfs-") as tmp:
        gfs = Path(tmp) / "perceel.gfs"
        gfs.write_text(brk.PERCEEL_GFS_TEMPLATE, encoding="utf-8")
        yield str(gfs)


@dataclass(frozen=True)
class ReadContext:
    """What a format's reader is told besides its sources.yaml entry.

    ``bbox``: read only features intersecting this box (EPSG:28992; ``None`` = everything).
    ``skip_codes``: 4-digit municipality codes whose files need not be opened at all (IMRO
    plans named ``NL.IMRO.<code>.…`` outside the selected municipalities).
    """

    bbox: tuple[float, float, float, float] | None = None
    skip_codes: frozenset[str] = frozenset()


def load_vector_layer(
    spec: SourceSpec, issues: Issues, defaults: tuple[str, ...], bbox: Any, **kw: Any
) -> gpd.GeoDataFrame | None:
    path = str(spec.path)
    layer = pick_layer(path, issues, wanted=spec.layer, defaults=defaults)
    if layer is None:
        return None
    issues.layer = layer
    gdf = read_vector(path, issues, layer=layer, crs=spec.crs, bbox_rd=bbox, **kw)
    if gdf is not None and len(gdf) == 0 and bbox is None:
        empty_layer(spec, issues, layer)
    return gdf


def empty_layer(spec: SourceSpec, issues: Issues, layer: str | None) -> None:
    kind = SOURCE_KINDS[spec.key]
    if kind.empty == "problem":
        issues.problem(
            "the layer has no features",
            fix=kind.empty_fix
            or "check that you exported the right layer and that the export finished",
            layer=layer,
        )
    else:
        issues.warn(f"layer '{layer}' of {spec.path.name} has no features")


@dataclass(frozen=True)
class GmlFile:
    """One GML/XML file of a source: its GDAL path, name and first bytes (:func:`sniff_xml`)."""

    path: str
    name: str
    head: bytes

    @property
    def format(self) -> str | None:
        return sniff_xml(self.head)


_GML_SUFFIXES = (".gml", ".xml", ".gml.gz", ".xml.gz")


def gml_files(path: Path, pattern: str) -> list[GmlFile]:
    """GML files of a source: the file itself, a folder's ``*.gml``/``*.xml`` or a zip's members
    (names matching ``pattern``), each with its first bytes."""
    if path.is_dir():
        return [
            GmlFile(str(p), p.name, xml_head(p))
            for p in sorted(path.iterdir())
            if p.is_file()
            and p.name.lower().endswith(_GML_SUFFIXES)
            and re.search(pattern, p.name, re.I)
        ]
    if path.suffix.lower() == ".zip":
        out = []
        with zipfile.ZipFile(path) as zf:
            for n in sorted(zf.namelist()):
                base = Path(n).name
                if base.lower().endswith(_GML_SUFFIXES[:2]) and re.search(pattern, base, re.I):
                    with zf.open(n) as fh:
                        out.append(GmlFile(f"/vsizip/{{{path}}}/{n}", base, fh.read(4096)))
        return out
    return [GmlFile(str(path), path.name, xml_head(path))]
