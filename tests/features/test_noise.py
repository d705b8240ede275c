"""Mean noise from a 10×10 GeoTIFF written with rasterio (10 m cells)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from pipeline.features.noise import mean_noise, read_noise_grid

from .conftest import X0, Y0, b, frame, p

NODATA = -9999.0


@pytest.fixture
def raster(tmp_path):
    """Cell (row, col) holds 40 + col + 10 × row; row 0 is the top (y 90..100); cell (9, 9) is nodata."""
    rows, cols = np.mgrid[0:10, 0:10]
    values = (40 + cols + 10 * rows).astype("float32")
    values[9, 9] = NODATA
    path = tmp_path / "lden.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="float32",
        crs="EPSG:28992",
        transform=from_origin(X0, Y0 + 100, 10, 10),
        nodata=NODATA,
    ) as dst:
        dst.write(values, 1)
    return path


def test_mean_over_cells_whose_centre_is_inside(raster):
    grid = read_noise_grid(raster)
    objs = frame(
        [
            b(0, 80, 20, 100),  # rows 0-1, cols 0-1: 40, 41, 50, 51
            b(0, 0, 100, 100),  # everything but the nodata cell
            b(90, 0, 100, 10),  # only the nodata cell
        ],
        index=["corner", "all", "nodata"],
    )
    s = mean_noise(objs, grid)
    assert s.name == "noise_db"
    assert s["corner"] == pytest.approx(45.5)
    valid = (40 + np.arange(10)[None, :] + 10 * np.arange(10)[:, None]).astype(float)
    assert s["all"] == pytest.approx((valid.sum() - valid[9, 9]) / 99)
    assert np.isnan(s["nodata"])


def test_small_polygons_and_points_take_the_cell_under_them(raster):
    grid = read_noise_grid(raster)
    objs = frame([b(21, 71, 24, 74), p(35, 15), p(500, 500)], index=["tiny", "pt", "outside"])
    s = mean_noise(objs, grid)
    assert s["tiny"] == 40 + 2 + 10 * 2  # x 21..24 -> col 2, y 71..74 -> row 2
    assert s["pt"] == 40 + 3 + 10 * 8
    assert np.isnan(s["outside"])


def test_window_read_gives_the_same_answer(raster):
    objs = frame([b(30, 30, 60, 50)])
    full = mean_noise(objs, read_noise_grid(raster)).iloc[0]
    windowed = mean_noise(objs, read_noise_grid(raster, bounds=tuple(objs.total_bounds))).iloc[0]
    # rows 5-6 (y 30..50), cols 3-5: mean of 40 + c + 10 r
    assert full == pytest.approx(40 + 4 + 10 * 5.5)
    assert windowed == pytest.approx(full)


def test_large_polygons_use_every_cell_centre(raster, monkeypatch):
    import pipeline.features.noise as noise

    # batches smaller than one polygon: each polygon is then a batch of its own
    monkeypatch.setattr(noise, "SAMPLES_PER_BATCH", 7)
    objs = frame([b(0, 0, 100, 100), b(0, 80, 20, 100), b(30, 30, 60, 50)])
    s = mean_noise(objs, read_noise_grid(raster)).to_numpy()
    valid = (40 + np.arange(10)[None, :] + 10 * np.arange(10)[:, None]).astype(float)
    assert s[0] == pytest.approx((valid.sum() - valid[9, 9]) / 99)
    assert s[1] == pytest.approx(45.5)
    assert s[2] == pytest.approx(40 + 4 + 10 * 5.5)


def test_cell_centres_on_the_boundary_are_not_inside(raster):
    # x 15..35 holds the centres 25 (inside) and 15, 35 (on the edge); rows 0 (y 95 inside)
    s = mean_noise(frame([b(15, 90, 35, 100)]), read_noise_grid(raster)).iloc[0]
    assert s == 40 + 2  # only the cell (row 0, col 2), centre (25, 95)


def test_without_raster_noise_is_nan():
    assert np.isnan(mean_noise(frame([b(0, 0, 1, 1)]), None).iloc[0])


def test_rotating_the_raster_with_the_objects_changes_no_mean():
    """A raster with a rotated geotransform: cell centres are where the transform puts them,
    so rotating polygons and raster together (by any angle) gives the same means."""
    import geopandas as gpd
    import shapely
    from affine import Affine

    from pipeline.features.noise import NoiseGrid, mean_noise

    rng = np.random.default_rng(11)
    values = rng.uniform(40, 75, (40, 40)).astype("float32")
    north_up = Affine(10.0, 0, 0.0, 0, -10.0, 400.0)
    x, y = rng.uniform(0, 350, 200), rng.uniform(0, 350, 200)
    w, h = rng.uniform(3, 60, 200), rng.uniform(3, 60, 200)
    polys = shapely.box(x, y, x + w, y + h)
    # a few smaller than a cell (the cell under the centroid); (an edge exactly through cell
    # centres, as in test_cell_centres_on_the_boundary_are_not_inside, is rounding-dependent once rotated)
    polys[5:10] = shapely.box(x[5:10], y[5:10], x[5:10] + 2, y[5:10] + 2)
    base = mean_noise(gpd.GeoDataFrame(geometry=polys), NoiseGrid(values, north_up)).to_numpy()
    assert np.isfinite(base).all()
    for angle in (23.0, 90.0, 211.0):
        turn = Affine.rotation(angle, pivot=(1_000.0, -500.0))
        rotated = shapely.transform(
            polys, lambda c, t=turn: np.column_stack(t @ (c[:, 0], c[:, 1]))
        )
        got = mean_noise(gpd.GeoDataFrame(geometry=rotated), NoiseGrid(values, turn @ north_up))
        np.testing.assert_allclose(got.to_numpy(), base, rtol=0, atol=1e-4)
