"""Which municipality an object belongs to: the one rule, used by the readers and the scan.

The rule (docs/contracts.md §B): an object belongs to the municipality whose polygon **covers**
its representative point — the point itself for points, :func:`shapely.point_on_surface` for
anything else (a point guaranteed inside, unlike the centroid). A point on a municipality's
boundary is covered by it. Where several municipalities cover the point (on a shared boundary,
or where municipality polygons overlap, which they should not), the **smallest**
``gemeentecode`` wins, so the answer never depends on the order of rows or files. An object
whose point no municipality covers (or without a geometry) gets a missing value.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from pipeline.sources._common import from_arrow, to_arrow

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
        query = geoms.copy()
        query[~present] = None
        mun_idx, cell_idx = tree.query(query, predicate="intersects")
        single = np.bincount(cell_idx, minlength=len(boxes))[cell_idx] == 1
        mun_idx, cell_idx = mun_idx[single], cell_idx[single]
        inside = shapely.contains_properly(geoms[mun_idx], boxes[cell_idx])
        cells = np.full(nx * ny, -1, dtype=np.int64)
        cells[cell_idx[inside]] = mun_idx[inside]
        return cls(geoms, codes, float(x0), float(y0), cells.reshape(nx, ny))

    def from_cells(self, geoms: np.ndarray) -> np.ndarray:
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
    """The ``gemeentecode`` of each feature by the rule of this module (a ``str`` Series named
    ``gemeentecode``, aligned to ``gdf``; missing where no municipality covers the point).

    Vectorised in two steps. Features whose bounding box lies in grid cells entirely inside
    one municipality (that no other municipality touches) take that municipality directly —
    their representative point is in that box, so the answer is the same — which settles
    most features without computing a point. The rest (near borders, large or degenerate):
    ``point_on_surface`` for non-points, then per municipality (prepared, in order of code)
    one ``intersects_xy`` over the points inside its bounding box that no smaller code took.
    ``index`` is :meth:`MunicipalityIndex.build` of ``municipalities``, to build it once for
    several layers.
    """
    if len(gdf) == 0 or len(municipalities) == 0:
        return pd.Series(
            np.full(len(gdf), None, dtype=object), index=gdf.index, dtype="str", name="gemeentecode"
        )
    if index is None:
        index = MunicipalityIndex.build(municipalities)
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    found = index.from_cells(geoms)
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
        by_code = np.argsort(index.codes.astype("str").fillna("").to_numpy(), kind="stable")
        # one vectorised point-in-polygon test per municipality on the points in its bbox;
        # smallest code first, so a point covered by several keeps the smallest code
        for i in by_code:
            x0, y0, x1, y1 = bounds[i]
            lo = np.searchsorted(xs, x0, side="left")
            hi = np.searchsorted(xs, x1, side="right")
            band = order[lo:hi]
            cand = band[todo[band] & (y[band] >= y0) & (y[band] <= y1)]
            if len(cand) == 0:
                continue
            inside = cand[shapely.intersects_xy(mun_geoms[i], x[cand], y[cand])]
            found[rest[inside]] = i
            todo[inside] = False
    codes = to_arrow(index.codes).take(pa.array(found, mask=found < 0))
    return from_arrow(codes, gdf.index).rename("gemeentecode")
