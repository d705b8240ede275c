"""Proximity features: distance to transit stops and amenities, amenity counts, mixed use.

Distances and counts are measured from the object's representative point (a point inside a
plot or footprint, :func:`shapely.point_on_surface`; a unit's own point), in metres in
EPSG:28992. Both run on grids (distance transform, FFT convolution) rather than STRtree pair
queries: at the province's 2.3 M objects the pair searches took minutes (see benchmarks/).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features._spatial import geometry_array, representative_points


def _xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = representative_points(geoms)
    return shapely.get_x(pts), shapely.get_y(pts)


@dataclass(frozen=True)
class _Grid:
    """A regular grid of ``cell``-metre cells; row/column of points, cell centres."""

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    @classmethod
    def covering(
        cls, xs: list[np.ndarray], ys: list[np.ndarray], *, cell: float, margin: int
    ) -> _Grid:
        x_min = min(float(x.min()) for x in xs if len(x))
        y_min = min(float(y.min()) for y in ys if len(y))
        x_max = max(float(x.max()) for x in xs if len(x))
        y_max = max(float(y.max()) for y in ys if len(y))
        x0 = np.floor(x_min / cell) * cell - margin * cell
        y0 = np.floor(y_min / cell) * cell - margin * cell
        nx = int(np.floor((x_max - x0) / cell)) + margin + 1
        ny = int(np.floor((y_max - y0) / cell)) + margin + 1
        return cls(x0, y0, cell, nx, ny)

    def cells(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = np.clip(((x - self.x0) // self.cell).astype(np.int64), 0, self.nx - 1)
        row = np.clip(((y - self.y0) // self.cell).astype(np.int64), 0, self.ny - 1)
        return row, col


#: Cell size (m) of the grid the nearest-target search runs on.
NEAREST_CELL_M = 50.0
#: Cell size (m) of the grid amenity counts and mixed use are computed on.
COUNT_CELL_M = 50.0


def nearest_distance_xy(
    x: np.ndarray, y: np.ndarray, tx: np.ndarray, ty: np.ndarray, *, cell: float = NEAREST_CELL_M
) -> np.ndarray:
    """Distance from each point (x, y) to the nearest target point (tx, ty).

    Grid search: targets are binned in ``cell``-metre cells (per cell the target nearest the
    cell centre represents it); a Euclidean distance transform
    (:func:`scipy.ndimage.distance_transform_edt`) gives, for every cell, the nearest
    occupied cell; each point then measures the exact distance to the representatives found
    from its own cell and its 8 neighbours and keeps the smallest. The distance returned is
    always a true point-to-target distance; it can exceed the true minimum only when two
    targets share a cell or lie almost equally far (in practice metres, at most about one
    cell). NaN without targets.
    """
    from scipy import ndimage

    out = np.full(len(x), np.nan)
    if len(x) == 0 or len(tx) == 0:
        return out
    g = _Grid.covering([x, tx], [y, ty], cell=cell, margin=2)
    trow, tcol = g.cells(tx, ty)
    tcell = trow * g.nx + tcol
    cx = g.x0 + (tcol + 0.5) * cell
    cy = g.y0 + (trow + 0.5) * cell
    order = np.lexsort((ty, tx, np.hypot(tx - cx, ty - cy), tcell))
    first = order[np.r_[True, tcell[order][1:] != tcell[order][:-1]]]
    rep = np.full(g.nx * g.ny, -1, dtype=np.int64)
    rep[tcell[first]] = first
    empty = (rep < 0).reshape(g.ny, g.nx)
    rows, cols = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
    nearest_cell = (rows.astype(np.int64) * g.nx + cols).ravel()
    prow, pcol = g.cells(x, y)
    best = np.full(len(x), np.inf)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r = np.clip(prow + dr, 0, g.ny - 1)
            c = np.clip(pcol + dc, 0, g.nx - 1)
            t = rep[nearest_cell[r * g.nx + c]]
            best = np.minimum(best, np.hypot(tx[t] - x, ty[t] - y))
    return best


def distance_to_nearest(
    objects: gpd.GeoDataFrame, targets: gpd.GeoDataFrame | gpd.GeoSeries, *, name: str
) -> pd.Series:
    """Distance (m) from each object to the nearest target, both as points.

    ``dist = min_t ‖p(object) − p(t)‖`` where ``p`` is the representative point (a point
    inside a polygon, the point itself for points), found with :func:`nearest_distance_xy`.
    NaN when there are no targets.
    """
    geoms = geometry_array(objects)
    tg = geometry_array(targets)
    dist = np.full(len(geoms), np.nan)
    if len(geoms) and len(tg):
        x, y = _xy(geoms)
        tx, ty = _xy(tg)
        dist = nearest_distance_xy(x, y, tx, ty)
    return pd.Series(dist, index=objects.index, name=name)


def distance_to_stop(
    objects: gpd.GeoDataFrame, stops: gpd.GeoDataFrame, *, kinds: str | tuple[str, ...]
) -> pd.Series:
    """Distance (m) to the nearest transit stop of the given kind(s).

    ``dist_<kind>_m = min_{s: kind(s) ∈ kinds} ‖p(object) − s‖`` (see
    :func:`distance_to_nearest`); NaN when no stop of those kinds exists. Named
    ``dist_<kind>_m`` for one kind; callers rename combinations (``dist_rail_m`` =
    trein/metro/tram, ``dist_hov_m`` = bus/tram/metro, both the minimum of the single kinds).
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    sel = stops[stops["kind"].isin(kinds)]
    return distance_to_nearest(objects, sel, name=f"dist_{'_'.join(kinds)}_m")


def count_within(
    objects: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    radius: float,
    name: str,
    cell: float = COUNT_CELL_M,
) -> pd.Series:
    """Number of targets within ``radius`` metres of each object, on a grid.

    ``n = |{t : ‖c(object) − c(t)‖ ≤ radius}|`` where ``c`` snaps a (representative) point
    to the centre of its ``cell``-metre cell. The target counts per cell are convolved with
    a disk of radius ``radius`` (FFT) and read at the object's cell: exact for points on cell
    centres, otherwise each position is off by at most half a cell diagonal (35 m). An exact
    pair search (STRtree ``dwithin``) enumerates ~10⁸ pairs for the province and took
    minutes; this takes a second.
    """
    geoms = geometry_array(objects)
    tg = geometry_array(targets)
    counts = np.zeros(len(geoms), dtype=np.int64)
    if len(geoms) and len(tg):
        x, y = _xy(geoms)
        tx, ty = _xy(tg)
        counts = np.rint(
            _disk_sum(x, y, tx, ty, [np.ones(len(tx))], radius=radius, cell=cell)[0]
        ).astype(np.int64)
    return pd.Series(counts, index=objects.index, name=name)


def _disk_sum(
    x: np.ndarray,
    y: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    weights: list[np.ndarray],
    *,
    radius: float,
    cell: float,
) -> list[np.ndarray]:
    """For each weight vector, the sum of target weights within ``radius`` (grid, FFT)."""
    k = int(np.floor(radius / cell + 1e-9))
    g = _Grid.covering([x, tx], [y, ty], cell=cell, margin=k + 1)
    trow, tcol = g.cells(tx, ty)
    flat = trow * g.nx + tcol
    dy, dx = np.mgrid[-k : k + 1, -k : k + 1]
    disk = ((dx * cell) ** 2 + (dy * cell) ** 2 <= radius**2 + 1e-6).astype(float)
    prow, pcol = g.cells(x, y)
    out = []
    for w in weights:
        grid = np.bincount(flat, weights=w, minlength=g.nx * g.ny).reshape(g.ny, g.nx)
        conv = _convolve_same(grid, disk)
        out.append(conv[prow, pcol])
    return out


def mixed_use_share(
    objects: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    non_residential: np.ndarray | pd.Series,
    *,
    radius: float = 500.0,
    cell: float = COUNT_CELL_M,
) -> pd.Series:
    """Share of the addresses (units) within ``radius`` of the object that are not homes.

    ``mixed_use_500m = n_nonresidential(r) / n_units(r)`` (NaN where no unit lies within r),
    both counted on the grid of :func:`count_within` (units and the object's representative
    point snapped to ``cell``-metre cell centres).
    """
    name = f"mixed_use_{int(radius)}m"
    geoms = geometry_array(objects)
    out = np.full(len(geoms), np.nan)
    ug = geometry_array(units)
    if len(geoms) and len(ug):
        x, y = _xy(geoms)
        ux, uy = _xy(ug)
        nonres = np.asarray(non_residential, dtype=float)
        total, other = _disk_sum(x, y, ux, uy, [np.ones(len(ux)), nonres], radius=radius, cell=cell)
        t = np.rint(total)
        o = np.rint(other)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(t > 0, o / t, np.nan)
    return pd.Series(out, index=objects.index, name=name)


def _convolve_same(grid: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D convolution with a centred odd-sized kernel, output the shape of ``grid`` (FFT)."""
    from scipy import fft

    ky, kx = kernel.shape
    ny, nx = grid.shape
    fy = fft.next_fast_len(ny + ky - 1, real=True)
    fx = fft.next_fast_len(nx + kx - 1, real=True)
    spec = fft.rfft2(grid, s=(fy, fx), workers=-1) * fft.rfft2(kernel, s=(fy, fx), workers=-1)
    full = fft.irfft2(spec, s=(fy, fx), workers=-1)
    oy, ox = ky // 2, kx // 2
    return full[oy : oy + ny, ox : ox + nx]
