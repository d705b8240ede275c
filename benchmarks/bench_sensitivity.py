"""Time ``kansenkaart sensitivity`` on a province result (goal: 100 draws in under a minute).

``.venv/bin/python benchmarks/bench_sensitivity.py RESULT.gpkg [--draws 100] [--spread 0.2]``

The result (e.g. ``kansenkaart scan`` of the province preset) is copied next to itself first,
because the command stores ``stabiliteit`` in the file; the copy is removed afterwards. Each
measurement runs in a fresh process (imports included, as a user runs the command) and prints
the wall time, the sites, the split into reading + computing and writing, the peak RSS and the
load average (the machine is shared: say so with the figure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, resource
t0 = time.perf_counter()
from pipeline.sensitivity import result_stability, write_stability
t_import = time.perf_counter() - t0
layers = result_stability(sys.argv[1], draws=int(sys.argv[2]), spread=float(sys.argv[3]), seed=42)
t_compute = time.perf_counter() - t0 - t_import
write_stability(sys.argv[1], layers)
wall = time.perf_counter() - t0
print(json.dumps({
    "wall_s": round(wall, 2), "import_s": round(t_import, 2), "read_compute_s": round(t_compute, 2),
    "write_s": round(wall - t_import - t_compute, 2),
    "sites": {ls.layer: int(len(ls.site_ids)) for ls in layers},
    "mean_stability": {ls.layer: round(float(ls.stability.share_same.mean()), 3) for ls in layers},
    "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--spread", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    copy = args.result.with_name(f".bench-sensitivity-{os.getpid()}.gpkg")
    try:
        for run in range(args.runs):
            shutil.copy(args.result, copy)
            load = Path("/proc/loadavg").read_text().split()[:3]
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(copy), str(args.draws), str(args.spread)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            figures["process_wall_s"] = round(time.perf_counter() - t0, 2)
            figures["loadavg_before"] = load
            figures["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
            figures["draws"], figures["spread"], figures["run"] = args.draws, args.spread, run + 1
            total = sum(figures["sites"].values())
            print(json.dumps(figures))
            print(
                f"run {run + 1}: {total:,} sites × {args.draws} draws in {figures['wall_s']} s "
                f"(goal ≤ 60 s; process {figures['process_wall_s']} s; load {' '.join(load)})"
            )
    finally:
        copy.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
