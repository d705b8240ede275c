"""Amenities: which BAG units count as a shop, a school or a GP, and the counts around objects."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.schemas import CRS

#: Amenity kinds: feature name -> BAG gebruiksdoel.
AMENITIES = {
    "winkel": "winkelfunctie",
    "onderwijs": "onderwijsfunctie",
    "gezondheidszorg": "gezondheidszorgfunctie",
}
#: Amenity counts: column -> (amenity, radius in m).
AMENITY_COUNTS = {
    "n_winkel_500m": ("winkel", 500.0),
    "n_onderwijs_2km": ("onderwijs", 2000.0),
    "n_gezondheidszorg_2km": ("gezondheidszorg", 2000.0),
}


def amenity_points(
    units: gpd.GeoDataFrame, flags: pd.DataFrame, *, exclude: np.ndarray | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """The amenity points of each kind of :data:`AMENITIES`: the units with that use, except
    those in ``exclude`` (the units vacant on the reference date: they serve no one)."""
    keep = np.ones(len(units), dtype=bool) if exclude is None else ~np.asarray(exclude, bool)
    return {
        kind: gpd.GeoDataFrame(
            geometry=units.geometry[flags[use].to_numpy(bool) & keep].to_numpy(), crs=CRS
        )
        for kind, use in AMENITIES.items()
    }
