"""Time pipeline.scoring.score_table on province-sized feature tables (random values).

Run: ``.venv/bin/python benchmarks/bench_scoring.py [--rows 1200000] [--candidate-share 0.15]``.
Prints wall time and rows/s per opportunity type and the peak RSS; the explanation text of
every candidate is built, so the candidate share drives the cost.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import psutil

from pipeline.schemas import HOOFDGROEPEN, OWNER_CLASSES
from pipeline.scoring import load_config, score_table
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
    return pd.DataFrame(data, index=pd.Index([f"id{i:08d}" for i in range(n)], name="id"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_200_000)
    ap.add_argument("--candidate-share", type=float, default=0.15)
    args = ap.parse_args()
    config = load_config(None)
    rng = np.random.default_rng(1)
    proc = psutil.Process()
    sizes = {
        "tijdelijke_locatie": args.rows,
        "kantoortransformatie": args.rows,
        "plinttransformatie": args.rows // 10,
    }
    total = total_cpu = 0.0
    for type_name in TYPE_NAMES:
        table = random_table(type_name, sizes[type_name], args.candidate_share, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        cand, excl = score_table(table, config.types[type_name], type_name=type_name)
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


if __name__ == "__main__":
    main()
