"""Benchmark: build the search index and orientation layers (pipeline/search_index.py) from a
preset's canonical parcels and units, as the scan does, and print the time per layer.

    python benchmarks/bench_search_index.py --sources /work/data/…/province/sources.yaml

Reading the inputs is not timed (the scan has them in memory already); the figure is what the
index adds to a scan.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=Path, required=True)
    args = parser.parse_args()

    from pipeline import catalog
    from pipeline.search_index import orientation_names, orientation_water, search_index

    t0 = time.perf_counter()
    layers, _report = catalog.load_sources(catalog.read_sources_yaml(args.sources))
    print(f"read inputs: {time.perf_counter() - t0:.1f} s (not part of the figure)")
    parcels, units = layers["parcels"], layers["units"]
    mun, zoning = layers["municipalities"], layers.get("zoning")
    print(f"parcels {len(parcels):,}  units {len(units):,}")
    for name, fn in (
        ("zoekindex", lambda: search_index(parcels, units)),
        ("orientatie_namen", lambda: orientation_names(units, mun)),
        ("orientatie_water", lambda: orientation_water(zoning, mun)),
    ):
        t = time.perf_counter()
        out = fn()
        print(f"{name}: {len(out):,} rows in {time.perf_counter() - t:.2f} s")
    with open("/proc/loadavg") as fh:
        print("load average:", fh.read().strip())


if __name__ == "__main__":
    main()
