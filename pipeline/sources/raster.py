"""Raster reader (noise in dB Lden): checks a GeoTIFF's metadata, never loads its pixels."""

from __future__ import annotations

from dataclasses import dataclass

from pyproj import CRS as ProjCRS
from pyproj import Transformer

from pipeline.schemas import CRS, NL_BOUNDS_RD
from pipeline.sources._common import Issues


@dataclass(frozen=True)
class RasterInfo:
    """What the scan needs to know about a raster input (it reads the pixels itself)."""

    path: str
    crs: str | None
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    bounds_rd: tuple[float, float, float, float]
    res: tuple[float, float]
    description: str | None = None


def noise_from_geotiff(meta: dict[str, object], issues: Issues) -> RasterInfo | None:
    """Validate GeoTIFF metadata (from :func:`pipeline.catalog.read_raster_meta`).

    Problems: no CRS, no bands, bounds far from the Netherlands. Warnings: no nodata value,
    more than one band (band 1 is used), a CRS other than EPSG:28992.
    """
    crs_text = meta.get("crs")
    if not crs_text:
        issues.problem(
            "the raster has no CRS (coordinate reference system)",
            fix="assign one on a copy, e.g. `gdal_edit.py -a_srs EPSG:28992 copy.tif`, and point "
            "sources.yaml at the copy",
        )
        return None
    count = int(meta["count"])  # type: ignore[call-overload]
    if count < 1:
        issues.problem(
            "the raster has no bands", fix="export the noise map as a single-band GeoTIFF"
        )
        return None
    if count > 1:
        issues.warn(f"raster has {count} bands; band 1 is used")
    if meta.get("nodata") is None:
        issues.warn("raster has no nodata value; every cell is taken as a noise level")
    bounds: tuple[float, float, float, float] = meta["bounds"]  # type: ignore[assignment]
    left, bottom, right, top = bounds
    src = ProjCRS.from_user_input(crs_text)
    if not src.equals(ProjCRS.from_user_input(CRS)):
        issues.warn(f"raster is in {crs_text}, not {CRS}; the scan reprojects on the fly")
        left, bottom, right, top = Transformer.from_crs(src, CRS, always_xy=True).transform_bounds(
            left, bottom, right, top
        )
    x0, y0, x1, y1 = NL_BOUNDS_RD
    if not (left < x1 and right > x0 and bottom < y1 and top > y0):
        issues.problem(
            f"the raster lies far outside the Netherlands (bounds {left:.0f}, {bottom:.0f}, "
            f"{right:.0f}, {top:.0f} in EPSG:28992)",
            fix="check the raster's CRS; it is probably declared wrongly",
        )
        return None
    return RasterInfo(
        path=str(meta["path"]),
        crs=str(crs_text),
        width=int(meta["width"]),  # type: ignore[call-overload]
        height=int(meta["height"]),  # type: ignore[call-overload]
        count=count,
        dtype=str(meta["dtype"]),
        nodata=meta.get("nodata"),  # type: ignore[arg-type]
        bounds_rd=(float(left), float(bottom), float(right), float(top)),
        res=tuple(meta["res"]),  # type: ignore[arg-type]
        description=meta.get("description"),  # type: ignore[arg-type]
    )
