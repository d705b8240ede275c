"""Features from overlaying objects with other polygon layers.

Built-up fraction, zoning main group, owner class, and the overlap with each kind of
exclusion zone (the municipality: :mod:`pipeline.features.municipality`). Each function takes the objects (parcels, buildings or unit points)
first and returns a Series aligned to their index, named after the metric.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features._spatial import (
    geometry_array,
    intersection_areas,
    largest_overlap,
    query_pairs,
    tile_complex,
)

UNKNOWN = "onbekend"


def built_up_fraction(parcels: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> pd.Series:
    """Share of each parcel's area covered by buildings.

    ``built_up_fraction = min(1, Σ_b area(parcel ∩ b) / area(parcel))``

    Buildings found by the STRtree ``contains`` query (fully inside the parcel) add their
    full footprint; only the pairs that cross the parcel boundary (``intersects`` but not
    ``contains``) are intersected. Overlapping buildings are counted twice, hence the cap
    at 1. A parcel with zero area gets 0.
    """
    geoms = geometry_array(parcels)
    i, _, area = intersection_areas(geoms, geometry_array(buildings))
    built = np.bincount(i, weights=area, minlength=len(geoms))
    own = shapely.area(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(own > 0, np.minimum(built / own, 1.0), 0.0)
    return pd.Series(frac, index=parcels.index, name="built_up_fraction")


def built_up(parcels: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> pd.DataFrame:
    """:func:`built_up_fraction` and ``largest_building_m2`` from one overlay.

    ``largest_building_m2 = max_b area(parcel ∩ b)``: the largest footprint of a current
    building on the parcel (0 without one); a plot with a building of some size is in use, not
    braak (PBL 2020), however small its built-up share.
    """
    geoms = geometry_array(parcels)
    i, _, area = intersection_areas(geoms, geometry_array(buildings))
    built = np.bincount(i, weights=area, minlength=len(geoms))
    largest = np.zeros(len(geoms))
    np.maximum.at(largest, i, area)
    own = shapely.area(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(own > 0, np.minimum(built / own, 1.0), 0.0)
    return pd.DataFrame(
        {"built_up_fraction": frac, "largest_building_m2": largest}, index=parcels.index
    )


def zoning_hoofdgroep(
    objects: gpd.GeoDataFrame, zoning: gpd.GeoDataFrame, *, min_share: float = 0.0
) -> pd.Series:
    """The IMRO ``hoofdgroep`` of the zoning plan area that overlaps the object most.

    ``zoning_hoofdgroep = argmax_g Σ_{z: hoofdgroep(z)=g} area(object ∩ z)``; points take
    the group of the plan area they lie in; ``onbekend`` where no plan area overlaps, or
    where the largest group covers less than ``min_share`` of the object.
    Equal overlaps go to the alphabetically first group (independent of row order).
    """
    values, _ = largest_overlap(
        geometry_array(objects),
        geometry_array(zoning),
        zoning["hoofdgroep"].to_numpy(),
        min_share=min_share,
    )
    out = pd.Series(values, index=objects.index, name="zoning_hoofdgroep", dtype=object)
    return out.fillna(UNKNOWN)


def owner_class(
    objects: gpd.GeoDataFrame, ownership: gpd.GeoDataFrame, *, min_share: float = 0.5
) -> pd.Series:
    """The ownership class (provincie, gemeente, rijk, corporatie, overig) covering the object.

    ``owner_class = argmax_c Σ_{o: class(o)=c} area(object ∩ o)`` when that share is at
    least ``min_share`` of the object's area (default 50 %: a sliver of public land along
    a private plot does not make it public), else ``onbekend``. Points take the class of the
    ownership polygon they lie in. Provincial land keeps its own class ``provincie`` (see
    :func:`is_provincial`).
    """
    values, _ = largest_overlap(
        geometry_array(objects),
        geometry_array(ownership),
        ownership["owner_class"].to_numpy(),
        min_share=min_share,
    )
    out = pd.Series(values, index=objects.index, name="owner_class", dtype=object)
    return out.fillna(UNKNOWN)


def owner_key(
    objects: gpd.GeoDataFrame,
    ownership: gpd.GeoDataFrame,
    *,
    min_share: float = 0.5,
    rows: np.ndarray | None = None,
) -> pd.Series:
    """An owner identity for merging parcels: ``class|name`` of the largest-overlap owner.

    Ownership polygons without a name are keyed by their own geometry (WKB hex), so two
    parcels only count as "one owner" when they lie in the same unnamed polygon.
    ``None`` where no owner covers ``min_share`` of the object, and outside ``rows``
    (ascending positions: only those objects are looked up).
    """
    names = (
        ownership["owner_name"]
        if "owner_name" in ownership
        else pd.Series(None, index=ownership.index)
    )
    named = names.notna() & (names.astype(str).str.strip() != "")
    key = ownership["owner_class"].astype(str) + "|" + names.astype(str)
    if (~named).any():
        wkb = shapely.to_wkb(geometry_array(ownership.loc[~named]), hex=True)
        key.loc[~named] = (
            ownership.loc[~named, "owner_class"].astype(str)
            + "|#"
            + pd.Series(wkb, index=ownership.index[~named]).str.slice(0, 64)
        )
    values, _ = largest_overlap(
        geometry_array(objects),
        geometry_array(ownership),
        key.to_numpy(),
        min_share=min_share,
        rows=rows,
    )
    return pd.Series(values, index=objects.index, name="owner_key", dtype=object)


def is_provincial(owner: pd.Series) -> pd.Series:
    """``True`` where the owner class is ``provincie`` (the province can act on its own land)."""
    return (owner == "provincie").rename("is_provincial")


def zone_fractions(
    objects: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, kinds: tuple[str, ...]
) -> pd.DataFrame:
    """``zone_<kind>_frac`` for several kinds in one overlay pass (see :func:`zone_fraction`)."""
    geoms = geometry_array(objects)
    out = {k: np.zeros(len(geoms)) for k in kinds}
    sel = zones[zones["kind"].isin(kinds)] if len(zones) else zones
    if len(geoms) and len(sel):
        zg, source = tile_complex(geometry_array(sel))
        zkind = sel["kind"].to_numpy(dtype=object)[source]
        tree = shapely.STRtree(zg)
        is_point = shapely.get_type_id(geoms) == 0
        poly_idx = np.flatnonzero(~is_point)
        if len(poly_idx):
            polys = geoms if len(poly_idx) == len(geoms) else geoms[poly_idx]
            i, j, area = intersection_areas(polys, zg, tree=tree)
            own = shapely.area(polys)
            for k in kinds:
                m = zkind[j] == k
                inter = np.bincount(i[m], weights=area[m], minlength=len(poly_idx))
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[k][poly_idx] = np.where(own > 0, np.minimum(inter / own, 1.0), 0.0)
        pt_idx = np.flatnonzero(is_point)
        if len(pt_idx):
            i, j = query_pairs(geoms[pt_idx], tree, predicate="intersects")
            for k in kinds:
                m = zkind[j] == k
                out[k][pt_idx[np.unique(i[m])]] = 1.0
    return pd.DataFrame({f"zone_{k}_frac": v for k, v in out.items()}, index=objects.index)


def zone_fraction(objects: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, kind: str) -> pd.Series:
    """Share of the object's area inside zones of one ``kind`` (0–1; 0/1 for points).

    ``zone_<kind>_frac = min(1, Σ_{z: kind(z)=kind} area(object ∩ z) / area(object))``.
    Zones of one kind that overlap each other are counted twice, hence the cap at 1; a point
    is 1 when it lies inside (or on the edge of) any zone of the kind.
    """
    return zone_fractions(objects, zones, kinds=(kind,))[f"zone_{kind}_frac"]


def in_kernwinkelgebied(
    objects: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, min_share: float = 0.5
) -> pd.Series:
    """``True`` where the object lies in the core shopping area (zone kind ``kernwinkelgebied``).

    ``in_kernwinkelgebied = zone_kernwinkelgebied_frac ≥ min_share`` (points: inside or on
    the edge).
    """
    frac = zone_fraction(objects, zones, kind="kernwinkelgebied")
    return (frac >= min_share).rename("in_kernwinkelgebied")
