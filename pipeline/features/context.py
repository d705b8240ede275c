"""The layers of one scan: scoped to the selected municipalities, sorted, and the shared context.

:func:`prepare` sorts every canonical layer by its key (results never depend on row order),
keeps the objects of the selected municipalities, clips the context layers (zoning, ownership,
zones, stops, amenities) to the area around them, reads the noise raster's window, and flags
the units' uses and vacancy once for every feature table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from pipeline.features import bag as fbag
from pipeline.features._parallel import concurrently
from pipeline.features._spatial import (
    canonical_outlines,
    chunks,
    geometry_array,
    tile_complex,
)
from pipeline.features.amenities import amenity_points
from pipeline.features.noise import NoiseGrid, read_noise_grid
from pipeline.schemas import CRS, GEBRUIKSDOELEN, NOISE_SOURCES
from pipeline.scoring.config import FeatureParams, NoiseSource

#: How far around the scanned objects context layers (stops, amenities) are kept (m).
CONTEXT_MARGIN_M = 5_000.0


def sorted_layer(
    layers: Mapping[str, pd.DataFrame], name: str, *, key: str | None
) -> gpd.GeoDataFrame:
    """A canonical layer as a GeoDataFrame sorted by its key (row-order independence)."""
    df = layers.get(name)
    if df is None:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    if not isinstance(df, gpd.GeoDataFrame):
        df = gpd.GeoDataFrame(df, geometry=df["geometry"], crs=CRS) if "geometry" in df else df
    if key is not None and key in df.columns:
        keys = _key_strings(df[key])
        if len(keys) > 1 and not pc.all(pc.greater_equal(keys[1:], keys[:-1])).as_py():
            order = pc.sort_indices(keys).to_numpy()  # a stable sort
            df, keys = df.iloc[order], keys.take(order)
        # Already sorted (the readers' usual order): no copy of the layer (copy-on-write).
        df = df.drop(columns=[key])
        df.index = pd.Index(keys.to_numpy(zero_copy_only=False), dtype=object, name=key)
    elif isinstance(df, gpd.GeoDataFrame) and len(df):
        # No key: sort by the attribute values and the geometry (bounds and area; the WKB
        # itself only for rows that tie on all of those).
        geoms = geometry_array(df)
        cols = [c for c in df.columns if c != df.geometry.name]
        keys = df[cols].astype(str).reset_index(drop=True)
        bounds = shapely.bounds(geoms)
        geo = ["__x0", "__y0", "__x1", "__y1", "__area"]
        for k, name in enumerate(geo[:4]):
            keys[name] = bounds[:, k]
        keys["__area"] = shapely.area(geoms)
        tied = keys.duplicated(keep=False).to_numpy()
        keys["__wkb"] = ""
        if tied.any():
            keys.loc[tied, "__wkb"] = shapely.to_wkb(geoms[tied], hex=True)
        order = keys.sort_values([*cols, *geo, "__wkb"], kind="mergesort").index.to_numpy()
        df = df.iloc[order].reset_index(drop=True)
    return df


def _key_strings(values: pd.Series) -> pa.Array:
    """A key column as Arrow text, each value as ``str`` gives it (a missing key is "None");
    a column of Arrow text is taken as it is (no Python strings made)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        arr = pa.array(values.array)
    else:
        arr = pa.array(values.to_numpy(dtype=object, na_value=None).astype(str))  # type: ignore[call-overload]
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr, "None")


#: ``DataFrame.attrs`` key marking a layer whose outlines are canonical already.
OUTLINES_ATTR = "kansenkaart_outlines"


def outlined(gdf: pd.DataFrame) -> pd.DataFrame:
    """The layer on its canonical outlines (:func:`canonical_outlines`, contracts §E.0).

    Done once: the result is marked in ``attrs`` (kept by sorting and selecting rows), so
    :func:`prepare` does not repeat what :func:`pipeline.scan_command.run_scan_command` did
    on the reading thread (where the delivered outlines can be let go at once).
    """
    return outlined_layers([gdf], whole=True)[0]


#: :func:`outlined_layers` cuts layers into parts of this many rows.
OUTLINE_PART_ROWS = 250_000


def outlined_layers(frames: list[pd.DataFrame], *, whole: bool = False) -> list[pd.DataFrame]:
    """:func:`outlined` of each layer, in parts of :data:`OUTLINE_PART_ROWS` rows that the two
    threads take in turn (the parcels' outlines take three times the buildings': one task per
    layer left a thread idle); ``whole``: each layer in one piece. An outline
    depends on its own geometry only, so the parts give what the whole layer would."""
    todo = [
        k
        for k, gdf in enumerate(frames)
        if len(gdf) and not gdf.attrs.get(OUTLINES_ATTR) and "geometry" in gdf.columns
    ]
    geoms = {k: np.asarray(frames[k]["geometry"].array, dtype=object) for k in todo}
    pieces = [
        (k, sl)
        for k in todo
        for sl in ([slice(0, len(geoms[k]))] if whole else chunks(len(geoms[k]), OUTLINE_PART_ROWS))
    ]
    canon = concurrently(*(partial(canonical_outlines, geoms[k][sl]) for k, sl in pieces))
    out = list(frames)
    for k in todo:
        gdf = frames[k]
        outlines = np.concatenate([c for (kk, _), c in zip(pieces, canon, strict=True) if kk == k])
        copy = gdf.copy(deep=False)
        copy["geometry"] = (
            gpd.GeoSeries(outlines, index=gdf.index, crs=CRS)
            if isinstance(gdf, gpd.GeoDataFrame)
            else outlines
        )
        copy.attrs[OUTLINES_ATTR] = True
        out[k] = copy
    return out


def tiled(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer with complex polygons cut into tiles (attributes repeated per tile)."""
    if len(gdf) == 0:
        return gdf
    pieces, source = tile_complex(geometry_array(gdf))
    if pieces is geometry_array(gdf) or (
        len(source) == len(gdf) and (source == np.arange(len(gdf))).all()
    ):
        return gdf
    out = gdf.iloc[source].copy()
    return out.set_geometry(gpd.GeoSeries(pieces, index=out.index, crs=gdf.crs))


@dataclass
class Context:
    """Everything the common features need, prepared once."""

    municipalities: gpd.GeoDataFrame
    names: dict[str, str]
    zoning: gpd.GeoDataFrame
    ownership: gpd.GeoDataFrame
    stops: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    amenities: dict[str, gpd.GeoDataFrame]
    all_units: gpd.GeoDataFrame
    non_residential: np.ndarray
    #: Noise rasters by the column they fill (``noise_db``, ``noise_road_db``, …).
    noise_grids: dict[str, NoiseGrid] = field(default_factory=dict)
    #: The config's noise sources (standard and limit values).
    noise_sources: dict[str, NoiseSource] = field(default_factory=dict)
    #: The BSD polygons (tiled) and the permanent housing plans.
    bsd: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    plans: gpd.GeoDataFrame = field(default_factory=lambda: gpd.GeoDataFrame(geometry=[], crs=CRS))
    #: The year plan windows are counted from (the reference date's).
    reference_year: int = 2025
    #: The numbers the features are computed with (the config's ``features`` block).
    params: FeatureParams = field(default_factory=FeatureParams)

    @property
    def noise(self) -> NoiseGrid | None:
        """The combined noise raster (``noise_db``), or ``None``."""
        return self.noise_grids.get("noise_db")

    def zone_geoms(self, kinds: list[str] | tuple[str, ...]) -> np.ndarray:
        """The (tiled) zone polygons of the given kinds."""
        if len(self.zones) == 0:
            return np.zeros(0, dtype=object)
        mask = self.zones["kind"].isin(list(kinds)).to_numpy(dtype=bool)
        return geometry_array(self.zones)[mask]


def context_bounds(objs: list[gpd.GeoDataFrame]) -> tuple[float, float, float, float] | None:
    """The bounding box of the non-empty layers (``None`` when all are empty)."""
    bounds = [o.total_bounds for o in objs if len(o)]
    if not bounds:
        return None
    b = np.vstack(bounds)
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def clip_bbox(
    gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None, margin: float
) -> gpd.GeoDataFrame:
    """The features whose bounds reach within ``margin`` of ``bbox`` (all when ``bbox`` is None)."""
    if bbox is None or len(gdf) == 0:
        return gdf
    b = shapely.bounds(geometry_array(gdf))
    x0, y0, x1, y1 = bbox
    keep = (
        (b[:, 2] >= x0 - margin)
        & (b[:, 0] <= x1 + margin)
        & (b[:, 3] >= y0 - margin)
        & (b[:, 1] <= y1 + margin)
    )
    return gdf if keep.all() else gdf.loc[keep]


@dataclass
class Prepared:
    """The layers of one scan, sorted and scoped, and the shared context (stage "prepare")."""

    ctx: Context
    municipalities: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    context_buildings: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    flags: pd.DataFrame
    unit_years: pd.Series
    unit_vacant: pd.Series


def prepare(
    layers: Mapping[str, pd.DataFrame],
    *,
    noise_path: Path | None,
    gemeenten: list[str] | None,
    ref: dt.date,
    params: FeatureParams | None = None,
    rasters: Mapping[str, Path] | None = None,
    noise_sources: Mapping[str, NoiseSource] | None = None,
) -> Prepared:
    """Sort and scope the canonical layers and build the shared context of one scan.

    Parameters
    ----------
    layers
        Canonical layers (:data:`pipeline.schemas.LAYERS` names).
    noise_path
        The combined noise GeoTIFF, or ``None``.
    gemeenten
        Only objects in these municipality codes (context layers are clipped around them).
    ref
        The reference date vacancy is measured against.
    params
        The config's ``features`` block (default: the shipped defaults).
    rasters
        The per-source noise rasters by sources.yaml key (``noise_road`` …).
    noise_sources
        The config's ``noise`` block (standard and limit values per source).
    """
    sel = set(gemeenten) if gemeenten else None

    def scoped(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return df if sel is None else df[df["gemeentecode"].isin(sel)]

    # Independent steps run on two threads (sorting, tiling and flagging release the GIL
    # for much of their time); each works on its own layers.
    parcels, units, buildings = concurrently(
        lambda: outlined(scoped(sorted_layer(layers, "parcels", key="parcel_id"))),
        lambda: sorted_layer(layers, "units", key="vbo_id"),
        lambda: outlined(sorted_layer(layers, "buildings", key="pand_id")),
    )
    scoped_b, scoped_u = scoped(buildings), scoped(units)
    vacancy = layers.get("vacancy")
    vacancy = vacancy if vacancy is not None else pd.DataFrame({"vbo_id": [], "vacant_since": []})
    bbox = context_bounds([parcels, scoped_b, scoped_u])

    def municipalities() -> gpd.GeoDataFrame:
        mun = sorted_layer(layers, "municipalities", key=None)
        if "gemeentecode" in mun.columns:
            mun = mun.sort_values("gemeentecode", kind="mergesort").reset_index(drop=True)
        return mun

    def noise_grids() -> dict[str, NoiseGrid]:
        paths = {"noise_db": noise_path}
        paths.update(
            {NOISE_SOURCES[k]: v for k, v in (rasters or {}).items() if k in NOISE_SOURCES}
        )
        return {
            col: read_noise_grid(Path(path), bounds=bbox)
            for col, path in paths.items()
            if path is not None and bbox is not None and Path(path).exists()
        }

    def polygons(name: str, key: str | None) -> gpd.GeoDataFrame:
        """A context polygon layer near the objects, on its outlines, cut into tiles."""
        return tiled(outlined(clip_bbox(sorted_layer(layers, name, key=key), bbox, 0)))

    # Each context layer is a task of its own: the two threads take them in turn, costliest
    # first (one task for all of them left a thread idle for half the stage; the noise
    # rasters, read last, left one idle for a second).
    context_tasks: dict[str, Callable[[], Any]] = {
        "noise": noise_grids,
        "zoning": lambda: polygons("zoning", "zoning_id"),
        "ownership": lambda: polygons("ownership", None),
        "zones": lambda: polygons("exclusion_zones", None),
        "bsd": lambda: geometry_array(polygons("bsd", None)),
        "plans": lambda: _plans(
            outlined(clip_bbox(sorted_layer(layers, "housing_plans", key="plan_id"), bbox, 0))
        ),
        "mun": municipalities,
        "stops": lambda: clip_bbox(
            sorted_layer(layers, "transit_stops", key="stop_id"), bbox, CONTEXT_MARGIN_M
        ),
        "context_buildings": lambda: clip_bbox(buildings, context_bounds([parcels]), 0),
    }

    def unit_layers() -> dict[str, Any]:
        all_units = clip_bbox(units, bbox, CONTEXT_MARGIN_M)
        since = fbag.vacant_since(scoped_u, vacancy, reference_date=ref)
        # The whole area: the scoped units are the context units, flag them once.
        whole = scoped_u is all_units
        all_flags = fbag.use_flags(all_units, GEBRUIKSDOELEN)
        all_vacant = (
            (
                since.notna()
                if whole
                else fbag.unit_is_vacant(all_units, vacancy, reference_date=ref)
            ).to_numpy(bool)
            if params is None or params.amenities_exclude_vacant
            else np.zeros(len(all_units), dtype=bool)
        )
        flags = all_flags if whole else fbag.use_flags(scoped_u, GEBRUIKSDOELEN)
        positions = fbag.building_positions(scoped_b, scoped_u)
        return {
            "all_units": all_units,
            "all_flags": all_flags,
            "all_vacant": all_vacant,
            "flags": flags,
            "positions": positions,
            "unit_years": fbag.vacant_years(since, reference_date=ref),
            "unit_vacant": since.notna().rename("is_vacant"),
        }

    u, *found = concurrently(unit_layers, *context_tasks.values())
    c = dict(zip(context_tasks, found, strict=True))
    mun = c["mun"]
    all_units, all_flags = u["all_units"], u["all_flags"]
    # A vacant shop (school, practice) is no amenity (features.amenities_exclude_vacant).
    amenities = amenity_points(all_units, all_flags, exclude=u["all_vacant"])
    names = (
        dict(zip(mun["gemeentecode"].astype(str), mun["gemeentenaam"].astype(str), strict=False))
        if "gemeentenaam" in mun.columns
        else {}
    )
    ctx = Context(
        municipalities=mun,
        names=names,
        zoning=c["zoning"],
        ownership=c["ownership"],
        stops=c["stops"],
        zones=c["zones"],
        amenities=amenities,
        all_units=all_units,
        non_residential=~all_flags["woonfunctie"].to_numpy(bool),
        noise_grids=c["noise"],
        noise_sources=dict(noise_sources or {}),
        bsd=c["bsd"],
        plans=c["plans"],
        reference_year=ref.year,
        params=params if params is not None else FeatureParams(),
    )
    return Prepared(
        ctx=ctx,
        municipalities=mun,
        parcels=parcels,
        context_buildings=c["context_buildings"],
        buildings=scoped_b,
        units=scoped_u.assign(**{fbag.POS_COLUMN: u["positions"]}),
        flags=u["flags"],
        unit_years=u["unit_years"],
        unit_vacant=u["unit_vacant"],
    )


def _plans(plans: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The housing plans with ``plan_id`` as a column (sorted by it), empty columns if absent."""
    if plans.index.name == "plan_id":
        plans = plans.reset_index()
    for col in ("plan_id", "plan_name", "homes", "start_year", "status"):
        if col not in plans.columns:
            plans[col] = pd.Series(dtype=object)
    return plans
