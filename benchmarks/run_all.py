"""Run every benchmark in turn (``make bench``): ingest, scan, scoring, api, load.

Each script prints its own figures and ratios; this runner only sequences them and prints the
wall time of each. Pass script names to run a subset, e.g. ``run_all.py bench_scan``.
Province-scale data is generated once into ``benchmarks/out/`` and reused.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_ingest", "bench_scan", "bench_scoring", "bench_api", "bench_load"]


def main(argv: list[str]) -> int:
    chosen = argv or SCRIPTS
    unknown = [name for name in chosen if name not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(f"=== {name}: exit {rc}, {time.perf_counter() - t0:.1f} s ===", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
