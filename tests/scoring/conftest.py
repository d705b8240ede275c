"""Tiny feature tables (contracts §E) for the scoring tests: every known column, a candidate by default."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipeline.scoring import ScanConfig, load_config
from pipeline.scoring.config import CAPACITY_COLUMNS, KNOWN_COLUMNS

#: Values that pass every default exclusion of the type (a "plain candidate").
BASE: dict[str, Any] = {
    "gemeentecode": "GM0599",
    "owner_class": "gemeente",
    "is_provincial": False,
    "zoning_hoofdgroep": "gemengd",
    "in_kernwinkelgebied": False,
    "noise_db": 50.0,
    "noise_road_db": 45.0,
    "noise_rail_db": np.nan,
    "noise_industry_db": np.nan,
    "noise_aircraft_db": np.nan,
    "geluid_boven_grenswaarde": "",
    "geluid_boven_standaardwaarde": "",
    "noise_excess": 0.0,
    "area_m2": 4000.0,
    "net_area_m2": 3000.0,
    "fits_min_width": True,
    "hard_zone_frac": 0.0,
    "built_up_fraction": 0.0,
    "largest_building_m2": 0.0,
    "n_parcels": 1,
    "merged": False,
    "zoning_wonen_realised": False,
    "site_readiness": 1.0,
    "mixed_use_500m": 0.4,
    "in_bsd": 1.0,
    "dist_bsd_m": 0.0,
    "plan_id": None,
    "plan_naam": None,
    "plan_status": None,
    "plan_startjaar": np.nan,
    "plan_woningen": np.nan,
    "plan_jaren_tot_start": np.nan,
    "beschikbaarheid": "geen_plan",
    "beschikbaar_tot": np.nan,
    "beschikbaar_jaren": 15.0,
    "bouwjaar": 1975,
    "bouwlagen": 4,
    "floor_area_m2": 3000.0,
    "office_floor_m2": 3000.0,
    "office_share": 1.0,
    "vacant_share": 1.0,
    "vacant_office_floor_m2": 3000.0,
    "vacant_years": 4.0,
    "energielabel": "C",
    "oppervlakte_m2": 80.0,
    "is_ground_floor_shop": True,
    "is_vacant": True,
    "street_shop_units": 5,
    "street_shop_vacancy": 0.2,
    "winkelligging": "aanloopstraat",
    "own_entrance": "eigen_pand",
    "capacity_units": 0,
}
#: Distances a plain candidate has (within every knock-out distance).
DIST = 300.0
POINT_TYPES = {"plinttransformatie"}


def make_table(type_name: str, n: int = 1, **columns: Any) -> gpd.GeoDataFrame:
    """A feature table of ``n`` rows with every known column; keyword args override columns."""
    data: dict[str, Any] = {}
    for col in KNOWN_COLUMNS[type_name]:
        if col in columns:
            data[col] = columns[col]
        elif col in CAPACITY_COLUMNS and col not in BASE:
            continue  # added by scoring from the capacity rule
        elif col.startswith("zone_"):
            data[col] = 0.0
        elif col.startswith("dist_") and col != "dist_bsd_m":
            data[col] = DIST
        elif col.startswith("n_"):
            data[col] = BASE.get(col, 3)
        else:
            data[col] = BASE[col]
    for col, value in columns.items():
        data.setdefault(col, value)
    frame = pd.DataFrame({k: (v if np.ndim(v) else [v] * n) for k, v in data.items()})
    ids = columns.get("ids", [f"id{i:03d}" for i in range(n)])
    frame = frame.drop(columns=["ids"], errors="ignore")
    geoms = [
        Point(i * 10, 0) if type_name in POINT_TYPES else box(i * 10, 0, i * 10 + 5, 5)
        for i in range(n)
    ]
    gdf = gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:28992")
    gdf.index = pd.Index(
        ids,
        name={"tijdelijke_locatie": "parcel_id", "kantoortransformatie": "pand_id"}.get(
            type_name, "vbo_id"
        ),
    )
    return gdf


@pytest.fixture(scope="session")
def config() -> ScanConfig:
    return load_config(None)
