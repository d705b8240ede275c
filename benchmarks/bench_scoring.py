"""Time pipeline.scoring.score_table on province-sized feature tables.

Random tables: ``.venv/bin/python benchmarks/bench_scoring.py [--rows 1200000]
[--candidate-share 0.15]``. Prints wall time and rows/s per opportunity type and the peak RSS;
the explanation text of every candidate is built, so the candidate share drives the cost.

Real feature tables (what the scan scores): ``--tables /tmp/scoring`` reads
``parcels.pkl``/``buildings.pkl``/``units.pkl`` from that folder; with ``--sources
benchmarks/out/province/sources.yaml`` they are first built with
``pipeline.scan.build_feature_tables`` (~70 s, ~5 GB) and pickled there. Prints, per type, the
mask-only exclusion pass the scan runs (``evaluate_exclusions(texts=False)``), ``score_table``,
and ``group_reasons`` over the excluded shop units, as the scan calls them.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import pyogrio
import shapely

from pipeline.schemas import HOOFDGROEPEN, OWNER_CLASSES
from pipeline.scoring import evaluate_exclusions, group_reasons, load_config, score_table
from pipeline.scoring.config import KNOWN_COLUMNS, TYPE_NAMES


def random_table(type_name: str, n: int, share: float, rng: np.random.Generator) -> pd.DataFrame:
    cand = rng.random(n) < share  # rows that pass every default exclusion
    data: dict[str, object] = {}
    for col in KNOWN_COLUMNS[type_name]:
        if col == "gemeentecode":
            data[col] = rng.choice([f"GM{i:04d}" for i in range(500, 550)], n)
        elif col == "owner_class":
            data[col] = rng.choice([*OWNER_CLASSES, "onbekend"], n)
        elif col == "zoning_hoofdgroep":
            data[col] = rng.choice([*HOOFDGROEPEN, "onbekend"], n)
        elif col == "energielabel":
            data[col] = rng.choice([*"ABCDEFG", "onbekend"], n)
        elif col.startswith("zone_"):
            data[col] = np.where(cand, 0.0, rng.random(n) * (rng.random(n) < 0.05))
        elif col.startswith("dist_"):
            data[col] = rng.uniform(0, 6000, n).round(1)
        elif col == "noise_db":
            data[col] = np.where(cand, rng.uniform(40, 69, n), rng.uniform(40, 80, n))
        elif col in ("is_provincial", "merged", "zoning_wonen_realised", "in_kernwinkelgebied"):
            data[col] = np.zeros(n, bool)
        elif col in ("is_ground_floor_shop", "is_vacant", "secondary_street", "own_entrance"):
            data[col] = cand | (rng.random(n) < 0.5)
        elif col == "bouwjaar":
            data[col] = rng.integers(1900, 2024, n)
        elif col in ("bouwlagen", "n_parcels", "street_shop_units") or col.startswith("n_"):
            data[col] = rng.integers(1, 20, n)
        else:
            data[col] = rng.random(n)
    if type_name == "tijdelijke_locatie":
        data["built_up_fraction"] = np.where(cand, 0.0, rng.random(n))
        data["area_m2"] = np.where(cand, rng.uniform(1500, 40000, n), rng.uniform(50, 3000, n))
    if type_name == "kantoortransformatie":
        data["office_share"] = np.where(cand, 1.0, rng.random(n) * 0.6)
        data["office_floor_m2"] = np.where(cand, rng.uniform(500, 20000, n), rng.uniform(0, 800, n))
        data["vacant_years"] = rng.uniform(0, 10, n)
    if type_name == "plinttransformatie":
        data["oppervlakte_m2"] = rng.uniform(20, 400, n)
        data["vacant_years"] = rng.uniform(0, 10, n)
    frame = pd.DataFrame(data, index=pd.Index([f"id{i:08d}" for i in range(n)], name="id"))
    x = rng.uniform(43_000, 131_000, n)
    y = rng.uniform(406_000, 480_000, n)
    geom = (
        shapely.points(x, y)
        if type_name == "plinttransformatie"
        else shapely.box(x, y, x + 40, y + 40)
    )
    return gpd.GeoDataFrame(frame, geometry=geom, crs="EPSG:28992")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_200_000)
    ap.add_argument("--candidate-share", type=float, default=0.15)
    ap.add_argument("--write", type=Path, help="also write the result GeoPackage here and time it")
    ap.add_argument("--tables", type=Path, help="folder of pickled real feature tables")
    ap.add_argument("--sources", type=Path, help="build the --tables from this sources.yaml")
    args = ap.parse_args()
    config = load_config(None)
    if args.tables:
        real_tables(args.tables, args.sources, config)
        return
    rng = np.random.default_rng(1)
    proc = psutil.Process()
    sizes = {
        "tijdelijke_locatie": args.rows,
        "kantoortransformatie": args.rows,
        "plinttransformatie": args.rows // 10,
    }
    total = total_cpu = 0.0
    candidates, excluded = {}, {}
    for type_name in TYPE_NAMES:
        table = random_table(type_name, sizes[type_name], args.candidate_share, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        cand, excl = score_table(table, config.types[type_name], type_name=type_name)
        candidates[type_name], excluded[type_name] = cand, excl
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        total += dt
        total_cpu += dc
        print(
            f"{type_name:22s} rows {len(table):>9,}  candidates {len(cand):>8,}  excluded {len(excl):>9,}  "
            f"wall {dt:6.2f} s  cpu {dc:6.2f} s  ({len(table) / dc:,.0f} rows/cpu-s)"
        )
    print(
        f"total scoring: wall {total:.2f} s, cpu {total_cpu:.2f} s (the machine may be shared: "
        f"cpu time is the steadier figure); RSS after run {proc.memory_info().rss / 2**30:.2f} GiB"
    )

    if args.write:
        write(candidates, excluded, args.write, config)


TABLES = {
    "tijdelijke_locatie": "parcels",
    "kantoortransformatie": "buildings",
    "plinttransformatie": "units",
}


def load_tables(folder: Path, sources: Path | None, config: object) -> dict[str, pd.DataFrame]:
    """The feature tables pickled in ``folder``; built from ``sources`` first when given."""
    if sources is not None:
        from pipeline.catalog import load_sources, read_sources_yaml
        from pipeline.scan import _vacancy_date, build_feature_tables

        src = read_sources_yaml(sources)
        layers, report = load_sources(src)
        built = build_feature_tables(
            layers, noise_path=src.noise, config=config, reference_date=_vacancy_date(report)
        )
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in built.items():
            with open(folder / f"{name}.pkl", "wb") as f:
                pickle.dump(table, f, protocol=5)
        return dict(built)
    out = {}
    for name in TABLES.values():
        with open(folder / f"{name}.pkl", "rb") as f:
            out[name] = pickle.load(f)
    return out


def real_tables(folder: Path, sources: Path | None, config: object) -> None:
    """Time the scan's scoring calls on real feature tables."""
    tables = load_tables(folder, sources, config)
    proc = psutil.Process()
    wall = cpu = 0.0
    excluded_units = None
    for type_name, name in TABLES.items():
        table, type_config = tables[name], config.types[type_name]
        t0, c0 = time.perf_counter(), time.process_time()
        evaluate_exclusions(table, type_config.exclusions, texts=False)
        t1, c1 = time.perf_counter(), time.process_time()
        cand, excl = score_table(table, type_config, type_name=type_name)
        t2, c2 = time.perf_counter(), time.process_time()
        wall += t2 - t0
        cpu += c2 - c0
        if name == "units":
            excluded_units = excl
        print(
            f"{type_name:22s} rows {len(table):>9,}  candidates {len(cand):>8,}  "
            f"excluded {len(excl):>9,}  exclusion mask wall {t1 - t0:5.2f} s cpu {c1 - c0:5.2f} s"
            f"  score_table wall {t2 - t1:5.2f} s cpu {c2 - c1:5.2f} s"
        )
    if excluded_units is not None and len(excluded_units):
        pe = excluded_units.copy()
        if "pand_id" not in pe.columns:
            pe["pand_id"] = tables["units"]["pand_id"].reindex(pe.index).to_numpy()
        pe = pe[pe["pand_id"].notna()]
        t0, c0 = time.perf_counter(), time.process_time()
        grouped = group_reasons(
            pd.DataFrame(pe[["pand_id", "reason_codes", "reasons"]]), by="pand_id"
        )
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        wall += dt
        cpu += dc
        print(
            f"group_reasons          {len(pe):,} units -> {len(grouped):,} buildings  wall {dt:5.2f} s cpu {dc:5.2f} s"
        )
    print(
        f"total scoring (mask + score_table + group_reasons): wall {wall:.2f} s, cpu {cpu:.2f} s "
        f"(the machine may be shared: cpu time is the steadier figure); "
        f"RSS {proc.memory_info().rss / 2**30:.2f} GiB"
    )


def write(candidates: dict, excluded: dict, out: Path, config: object) -> None:
    """Time write_result against a bare pyogrio write of the same layers (the write floor)."""
    from pipeline.catalog import LoadReport
    from pipeline.export import GEOMETRY_TYPES, LAYER_ORDER, result_layers, write_result
    from pipeline.scan import ScanResult

    tl = candidates["tijdelijke_locatie"].reset_index(names="parcel_id")
    tl["parcel_ids"] = tl["parcel_id"]
    kt = candidates["kantoortransformatie"].reset_index(names="pand_id")
    pl = candidates["plinttransformatie"].reset_index(names="vbo_id")
    pl["pand_id"], pl["straatnaam"] = "0", "Straat"
    ex_p = excluded["tijdelijke_locatie"].reset_index(names="parcel_id")
    ex_b = excluded["kantoortransformatie"].reset_index(names="pand_id")
    ex_b = ex_b.rename(
        columns={"reason_codes": "kantoor_reason_codes", "reasons": "kantoor_reasons"}
    )
    ex_b["plint_reason_codes"], ex_b["plint_reasons"] = "", ""
    codes = sorted(set(tl["gemeentecode"]))
    gem = gpd.GeoDataFrame(
        {"gemeentecode": codes, "gemeentenaam": codes},
        geometry=shapely.box(np.arange(len(codes)), 0, np.arange(len(codes)) + 1, 1),
        crs="EPSG:28992",
    )
    result = ScanResult(
        candidates={"tijdelijke_locatie": tl, "kantoortransformatie": kt, "plinttransformatie": pl},
        excluded_parcels=ex_p,
        excluded_buildings=ex_b,
        gemeenten=gem,
    )
    t0 = time.perf_counter()
    write_result(result, out, report=LoadReport(), config_text=getattr(config, "text", ""))
    t_write = time.perf_counter() - t0
    layers = result_layers(result)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        floor_path = Path(tmp) / "floor.gpkg"
        t0 = time.perf_counter()
        for name in LAYER_ORDER:
            pyogrio.write_dataframe(
                layers[name],
                floor_path,
                layer=name,
                driver="GPKG",
                use_arrow=True,
                geometry_type=GEOMETRY_TYPES[name],
                promote_to_multi=GEOMETRY_TYPES[name].startswith("Multi"),
            )
        t_floor = time.perf_counter() - t0
    size = out.stat().st_size / 2**20
    print(
        f"write_result {t_write:.2f} s, {size:,.0f} MiB; bare pyogrio write of the same layers "
        f"{t_floor:.2f} s; ratio {t_write / t_floor:.2f}"
    )


if __name__ == "__main__":
    main()
