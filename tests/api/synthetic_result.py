"""A small, hand-checkable result GeoPackage that follows docs/contracts.md §C exactly.

Used by the api tests (via ``conftest.py``) and, at a larger size, by ``benchmarks/bench_api.py``
until the real province scan is available. Municipality ``i`` (code ``GM09{01+i}``) is a square of
``size`` metres side by side along x, starting at RD (80000, 440000). Candidates lie in the lower
half of each square, excluded parcels (a grid) and excluded buildings in the upper half, so every
point has a known answer.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

X0, Y0 = 80_000.0, 440_000.0
TYPES = {
    "tijdelijke_locaties": ("tijdelijke_locatie", "TL"),
    "kantoren": ("kantoortransformatie", "KT"),
    "plinten": ("plinttransformatie", "PL"),
}
TIERS = "ABCDE"
CRITERIA = ("eigendom", "bereikbaarheid")


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    x0: float
    y0: float
    size: float

    def box(self) -> shapely.Polygon:
        return shapely.box(self.x0, self.y0, self.x0 + self.size, self.y0 + self.size)


def municipalities(n: int, *, size: float = 4000.0) -> list[Municipality]:
    return [
        Municipality(f"GM09{1 + i:02d}", f"Testgemeente {i + 1}", X0 + i * size, Y0, size)
        for i in range(n)
    ]


def _multi(polygons: object) -> np.ndarray:
    polys = np.atleast_1d(np.asarray(polygons, dtype=object))
    return shapely.multipolygons(polys, indices=np.arange(len(polys)))


def _tier(score: np.ndarray) -> np.ndarray:
    return np.select([score >= 80, score >= 65, score >= 50, score >= 35], list("ABCD"), "E")


def _candidates(
    layer: str, gems: list[Municipality], counts: list[int], rng: np.random.Generator
) -> gpd.GeoDataFrame:
    otype, prefix = TYPES[layer]
    frames = []
    for g, n in zip(gems, counts, strict=True):
        x = rng.uniform(g.x0 + 100, g.x0 + g.size - 300, n)
        y = rng.uniform(g.y0 + 100, g.y0 + g.size / 2 - 300, n)
        score = np.round(rng.uniform(5, 99, n), 1)
        order = np.argsort(-score, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(1, n + 1)
        ids = [f"{prefix}-{g.code}-{i:05d}" for i in range(n)]
        if layer == "plinten":
            geom = shapely.points(x, y)
        else:
            w = (
                rng.uniform(20, 120, n)
                if layer == "tijdelijke_locaties"
                else rng.uniform(15, 40, n)
            )
            geom = _multi(shapely.box(x, y, x + w, y + w * 0.8))
        cap = rng.integers(1, 60, n)
        crit = {c: np.round(rng.uniform(0, 1, n), 3) for c in CRITERIA}
        explanation = [
            json.dumps(
                {
                    "criteria": [
                        {
                            "id": c,
                            "label": c.capitalize(),
                            "weight": 0.5,
                            "raw": float(crit[c][i]),
                            "raw_text": f"{crit[c][i]:.2f}",
                            "subscore": float(crit[c][i]),
                            "reason": f"{c.capitalize()}: waarde {crit[c][i]:.2f}.",
                        }
                        for c in CRITERIA
                    ],
                    "aggregation": "weighted_sum",
                    "notes": [],
                },
                ensure_ascii=False,
            )
            for i in range(n)
        ]
        data = {
            "site_id": ids,
            "opportunity_type": otype,
            "gemeentecode": g.code,
            "gemeentenaam": g.name,
            "score": score,
            "tier": _tier(score),
            "rank": rank,
            "capacity_units": cap,
            "owner_class": rng.choice(
                ["provincie", "gemeente", "rijk", "corporatie", "overig", "onbekend"], n
            ),
            "label": [f"Locatie {i} in {g.name}" for i in range(n)],
            "explanation": explanation,
            "reasons": [
                f"Eigendom: waarde {crit['eigendom'][i]:.2f}.\nBereikbaarheid: waarde {crit['bereikbaarheid'][i]:.2f}."
                for i in range(n)
            ],
        }
        for c in CRITERIA:
            data[f"c_{c}_raw"] = crit[c]
            data[f"c_{c}_score"] = crit[c]
        if layer == "tijdelijke_locaties":
            data |= {
                "parcel_ids": [f"P{g.code}{i}" for i in range(n)],
                "n_parcels": 1,
                "area_m2": np.round(shapely.area(geom), 1),
                "merged": 0,
            }
        elif layer == "kantoren":
            data |= {
                "pand_id": [f"0599100000{i:06d}" for i in range(n)],
                "bouwjaar": rng.integers(1960, 1995, n),
                "office_floor_m2": rng.uniform(500, 5000, n).round(0),
                "vacant_share": rng.uniform(0, 1, n).round(2),
                "vacant_years": rng.uniform(0, 6, n).round(1),
            }
        else:
            data |= {
                "vbo_id": [f"0599010000{i:06d}" for i in range(n)],
                "pand_id": [f"0599100001{i:06d}" for i in range(n)],
                "oppervlakte_m2": rng.uniform(33, 200, n).round(0),
                "straatnaam": "Teststraat",
                "vacant_years": rng.uniform(0, 6, n).round(1),
            }
        frames.append(gpd.GeoDataFrame(data, geometry=geom, crs="EPSG:28992"))
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:28992")


def _grid(g: Municipality, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cell = g.size / k
    half = k // 2
    ii, jj = np.meshgrid(np.arange(k), np.arange(half, k))
    x = g.x0 + ii.ravel() * cell
    y = g.y0 + jj.ravel() * cell
    return x, y, np.full(x.size, cell)


def write_result(
    path: Path,
    *,
    n_gemeenten: int = 3,
    per_layer: int = 30,
    grid: int = 10,
    seed: int = 0,
    size: float = 4000.0,
    weights: list[float] | None = None,
    synthetic: bool = True,
) -> list[Municipality]:
    """Write the fixture result to ``path`` (atomically: temp file, then rename)."""
    rng = np.random.default_rng(seed)
    gems = municipalities(n_gemeenten, size=size)
    w = np.asarray(weights if weights is not None else [1.0] * n_gemeenten, dtype=float)
    counts = [max(1, round(per_layer * wi)) for wi in w / w.mean()]
    grids = [max(2, round(grid * np.sqrt(wi))) for wi in w / w.mean()]
    tmp = path.with_name(path.stem + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    layers = {name: _candidates(name, gems, counts, rng) for name in TYPES}
    for name, gdf in layers.items():
        gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    # the municipality summary
    rows = []
    for g in gems:
        row: dict[str, object] = {"gemeentecode": g.code, "gemeentenaam": g.name}
        cap_ab = 0
        for name, (otype, _p) in TYPES.items():
            sub = layers[name][layers[name]["gemeentecode"] == g.code]
            row[f"n_{otype}"] = len(sub)
            row[f"capacity_{otype}"] = int(sub["capacity_units"].sum())
            for t in TIERS:
                st = sub[sub["tier"] == t]
                row[f"n_{otype}_{t}"] = len(st)
                row[f"capacity_{otype}_{t}"] = int(st["capacity_units"].sum())
                if t in "AB":
                    cap_ab += int(st["capacity_units"].sum())
        row["capacity_ab"] = cap_ab
        rows.append(row)
    gpd.GeoDataFrame(rows, geometry=_multi([g.box() for g in gems]), crs="EPSG:28992").to_file(
        tmp, layer="gemeenten", driver="GPKG", engine="pyogrio"
    )
    # excluded parcels and buildings (upper half of each municipality)
    parcels, panden = [], []
    for g, k in zip(gems, grids, strict=True):
        x, y, cell = _grid(g, k)
        n = x.size
        ids = [f"{g.code}-P{i:07d}" for i in range(n)]
        codes = np.where(np.arange(n) % 2 == 0, "bebouwd", "bebouwd,te_klein")
        parcels.append(
            gpd.GeoDataFrame(
                {
                    "parcel_id": ids,
                    "gemeentecode": g.code,
                    "reason_codes": codes,
                    "reasons": np.where(
                        np.arange(n) % 2 == 0,
                        "Het perceel is voor meer dan 10 % bebouwd.",
                        "Het perceel is voor meer dan 10 % bebouwd.\nHet perceel is kleiner dan 1.500 m².",
                    ),
                },
                geometry=_multi(shapely.box(x, y, x + cell, y + cell)),
                crs="EPSG:28992",
            )
        )
        m = n // 2
        px, py, pc = x[:m] + cell[:m] * 0.25, y[:m] + cell[:m] * 0.25, cell[:m] * 0.5
        panden.append(
            gpd.GeoDataFrame(
                {
                    "pand_id": [f"{g.code[2:]}1000{i:08d}" for i in range(m)],
                    "gemeentecode": g.code,
                    "kantoor_reason_codes": "geen_kantoor",
                    "kantoor_reasons": "Het pand heeft minder dan 50 % kantoorfunctie.",
                    "plint_reason_codes": np.where(np.arange(m) % 3 == 0, "niet_leeg", ""),
                    "plint_reasons": np.where(
                        np.arange(m) % 3 == 0, "De winkelruimte staat niet leeg.", ""
                    ),
                },
                geometry=_multi(shapely.box(px, py, px + pc, py + pc)),
                crs="EPSG:28992",
            )
        )
    pd.concat(parcels, ignore_index=True).pipe(gpd.GeoDataFrame, crs="EPSG:28992").to_file(
        tmp, layer="uitgesloten_percelen", driver="GPKG", engine="pyogrio"
    )
    pd.concat(panden, ignore_index=True).pipe(gpd.GeoDataFrame, crs="EPSG:28992").to_file(
        tmp, layer="uitgesloten_panden", driver="GPKG", engine="pyogrio"
    )
    meta = {
        "run_id": f"test-{seed}",
        "started_at": "2026-11-27T05:00:00Z",
        "finished_at": "2026-11-27T05:00:05Z",
        "software_version": "0.1.0",
        "config_yaml": "types: {}\n",
        "config_sha256": "0" * 64,
        "inputs": [
            {
                "source": "parcels",
                "path": "kadastralekaart.gpkg",
                "format": "brk",
                "size_bytes": 1,
                "sha256": "0" * 64,
                "date": "2026-01-01",
            }
        ],
        "feature_counts": {name: len(gdf) for name, gdf in layers.items()},
        "repaired_geometries": {},
        "gemeenten": [g.code for g in gems],
        "synthetic": synthetic,
        "tiers": {"A": 80, "B": 65, "C": 50, "D": 35},
    }
    gpd.pd.DataFrame({"key": list(meta), "value": [json.dumps(v) for v in meta.values()]}).pipe(
        lambda df: __import__("pyogrio").write_dataframe(
            df, tmp, layer="run_metadata", driver="GPKG"
        )
    )
    con = sqlite3.connect(tmp)
    con.executescript(
        """
        CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
          f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
          styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT,
          owner TEXT(30), ui TEXT(30), update_time DATETIME DEFAULT CURRENT_TIMESTAMP);
        INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('layer_styles', 'attributes', 'layer_styles');
        """
    )
    for name in (*TYPES, "gemeenten"):
        con.execute(
            "INSERT INTO layer_styles (f_table_name, f_geometry_column, styleName, styleQML, useAsDefault) VALUES (?, 'geom', ?, '<qgis/>', 1)",
            (name, name),
        )
    con.commit()
    con.close()
    os.replace(tmp, path)
    return gems
