"""The scan does not depend on the orientation of the data nor on the vertices of a shape.

The demo preset is scanned three times: as generated, with every input rotated by 23° about
a point of the province (the noise raster too, through its geotransform), and with extra
vertices on every edge (``shapely.segmentize``: the same shapes). Every exclusion, merge,
distance, tier and score must be the same beyond rounding (docs/contracts.md §E.0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from pipeline.catalog import load_sources, read_sources_yaml
from pipeline.sample import generate_sample
from pipeline.scan import ScanResult, run_scan
from pipeline.scoring import load_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("invariance")]

ANGLE = 23.0
PIVOT = (95_000.0, 446_000.0)
#: Densified: a vertex at least every this many metres along every edge.
SEGMENT_M = 2.5
REF = "2025-01-01"


def _turn() -> Affine:
    return Affine.rotation(ANGLE, pivot=PIVOT)


def _rotate(geoms: np.ndarray) -> np.ndarray:
    t = _turn()
    return shapely.transform(geoms, lambda c: np.column_stack(t @ (c[:, 0], c[:, 1])))


def _densify(geoms: np.ndarray) -> np.ndarray:
    return shapely.segmentize(geoms, SEGMENT_M)


def _transformed(layers: dict[str, pd.DataFrame], fn) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in layers.items():
        if df is not None and "geometry" in getattr(df, "columns", ()):
            df = df.copy()
            geoms = np.asarray(df.geometry.array, dtype=object)
            df["geometry"] = fn(geoms)
        out[name] = df
    return out


def _rotated_raster(src_path: Path, out: Path) -> Path:
    with rasterio.open(src_path) as src:
        profile = src.profile
        data = src.read()
        profile.update(transform=_turn() @ src.transform)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
    return out


class Runs:
    def __init__(self, folder: Path) -> None:
        sources = read_sources_yaml(generate_sample(folder / "demo", preset="demo", seed=42))
        layers, _ = load_sources(sources)
        config = load_config(None)
        noise = sources.noise
        assert noise is not None

        def scan(lays: dict[str, pd.DataFrame], noise_path: Path) -> ScanResult:
            return run_scan(lays, noise_path=noise_path, config=config, reference_date=REF)

        self.base = scan(layers, noise)
        self.rotated = scan(
            _transformed(layers, _rotate), _rotated_raster(noise, folder / "noise_rotated.tif")
        )
        self.dense = scan(_transformed(layers, _densify), noise)


# Session scope: the worker keeps the three scans when its other tests run in between (a
# module fixture would be rebuilt whenever the tests of this module are not consecutive).
@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("invariance"))


#: Columns compared with a tolerance (everything else must be equal).
TOLERANCES = {
    "score": 0.1 + 1e-9,  # stored rounded to 0.1: a hair across a rounding boundary
    "area_m2": 1e-6,
    "built_up_fraction": 1e-6,
    "site_readiness": 1e-4,
    "mixed_use_500m": 1e-9,
    "noise_db": 1e-4,
    # a GEOS overlay (site minus crossing hard zones) eroded by a negative buffer: extra
    # vertices move it by up to 0.015 m² on the demo (one site; the rest by < 1e-5 m²)
    "net_area_m2": 0.05,
}
#: Everything measured in metres from a reference point, and shares of areas.
DEFAULT_FLOAT_TOL = 1e-6


def _compare(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.index) == list(b.index), f"{what}: other rows"
    for col in a.columns:
        if col == "geometry" or col not in b.columns:
            continue
        x, y = a[col], b[col]
        if pd.api.types.is_float_dtype(x.dtype) and pd.api.types.is_float_dtype(y.dtype):
            tol = TOLERANCES.get(col, DEFAULT_FLOAT_TOL)
            if col.startswith("c_") and col.endswith("_score"):
                tol = 1e-3
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            same_nan = np.isnan(xv) == np.isnan(yv)
            assert same_nan.all(), f"{what}.{col}: missing in one run only"
            diff = np.abs(np.nan_to_num(xv) - np.nan_to_num(yv))
            worst = int(np.argmax(diff)) if len(diff) else 0
            assert (diff <= tol).all(), (
                f"{what}.{col}: differs by {diff.max():.3g} at {a.index[worst]}"
            )
        elif col in ("explanation", "reasons"):
            continue  # texts with rounded numbers in them: covered by the columns they quote
        else:
            xs = np.where(x.isna().to_numpy(), "<missing>", x.astype(str).to_numpy())
            ys = np.where(y.isna().to_numpy(), "<missing>", y.astype(str).to_numpy())
            unequal = xs != ys
            assert not unequal.any(), (
                f"{what}.{col}: {int(unequal.sum())} rows differ, e.g. {a.index[unequal][:3]}"
            )


def _check(base: ScanResult, other: ScanResult, label: str) -> None:
    assert base.counts == other.counts, label
    keys = {
        "tijdelijke_locaties": "site_id",
        "kantoren": "site_id",
        "plinten": "site_id",
        "gemeenten": "gemeentecode",
        "uitgesloten_percelen": "parcel_id",
        "uitgesloten_panden": "pand_id",
    }
    for name, frame in base.layers.items():
        if name in keys:
            a = pd.DataFrame(frame).set_index(keys[name]).sort_index()
            b = pd.DataFrame(other.layers[name]).set_index(keys[name]).sort_index()
        else:
            # the search index and orientation layers (zoekindex, orientatie_*): rows without a
            # single key, compared as the same set of rows (their points are moved with the input)
            cols = [c for c in frame.columns if c != "geometry"]
            a, b = (
                pd.DataFrame(f[cols]).astype(str).sort_values(cols).reset_index(drop=True)
                for f in (frame, other.layers[name])
            )
        _compare(a, b, f"{label}:{name}")
    for name, frame in base.features.items():
        a = pd.DataFrame(frame).sort_index()
        b = pd.DataFrame(other.features[name]).sort_index()
        _compare(a, b, f"{label}:features.{name}")


def test_rotating_every_input_changes_no_result(runs: Runs) -> None:
    assert runs.base.counts["tijdelijke_locatie_candidates"] > 500
    _check(runs.base, runs.rotated, "rotated")


def test_extra_vertices_on_the_edges_change_no_result(runs: Runs) -> None:
    _check(runs.base, runs.dense, "densified")


def test_the_demo_has_merged_sites_and_every_exclusion_kind(runs: Runs) -> None:
    """What the comparison covers: merges and the main exclusion reasons occur."""
    assert runs.base.counts["merged_sites"] > 0
    codes = set(
        ",".join(runs.base.layers["uitgesloten_percelen"]["reason_codes"].astype(str)).split(",")
    )
    assert {"bebouwd", "te_klein", "natura2000"} <= codes
