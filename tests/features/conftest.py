"""Tiny geometry helpers for the feature tests: boxes on a grid in EPSG:28992."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Point, box

X0, Y0 = 80_000.0, 440_000.0
CRS = "EPSG:28992"


def b(x0: float, y0: float, x1: float, y1: float):
    """A box in local metres (offset into Zuid-Holland)."""
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def p(x: float, y: float) -> Point:
    return Point(X0 + x, Y0 + y)


def frame(geoms, index=None, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=list(geoms), index=index, crs=CRS)
