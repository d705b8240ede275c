"""Benchmark: generate the synthetic province, then read it through the readers.

Each phase runs in a fresh process (so its peak RSS is its own) and prints wall time, peak
RSS (``resource.getrusage``) and counts per layer::

    python benchmarks/bench_ingest.py                    # province preset, seed 42
    python benchmarks/bench_ingest.py --preset demo      # quick run
    python benchmarks/bench_ingest.py --keep             # keep benchmarks/out/ingest-<preset>/

The output goes to ``benchmarks/out/`` (git-ignored) and is removed afterwards unless
``--keep`` is given.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(out: str, preset: str, seed: int) -> dict[str, Any]:
    import json

    from pipeline.sample import generate_sample

    stages: list[tuple[str, float]] = []
    last = [time.perf_counter()]

    def progress(stage: str, step: int, total: int) -> None:
        now = time.perf_counter()
        if stages:
            stages[-1] = (stages[-1][0], now - last[0])
        stages.append((stage, 0.0))
        last[0] = now

    t0 = time.perf_counter()
    sources = generate_sample(Path(out), preset=preset, seed=seed, progress=progress)
    wall = time.perf_counter() - t0
    stages[-1] = (stages[-1][0], time.perf_counter() - last[0])
    counts = json.loads((sources.parent / "planted.json").read_text())["counts"]
    return {"wall": wall, "rss": _peak_rss_mib(), "counts": counts, "stages": stages}


def _read(sources_yaml: str) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import Progress

    from pipeline.catalog import load_sources, read_sources_yaml

    t0 = time.perf_counter()
    with Progress(console=Console(quiet=True)) as prog:
        layers, report = load_sources(read_sources_yaml(sources_yaml), progress=prog)
    wall = time.perf_counter() - t0
    counts = {k: len(v) for k, v in layers.items() if hasattr(v, "__len__")}
    return {
        "wall": wall,
        "rss": _peak_rss_mib(),
        "counts": counts,
        "warnings": len(report.warnings),
    }


def _in_child(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="province")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "out" / f"ingest-{args.preset}"

    print(f"generating preset '{args.preset}' (seed {args.seed}) into {out} …", flush=True)
    gen = _in_child(_generate, str(out), args.preset, args.seed)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"\nGENERATE  wall {gen['wall']:7.1f} s   peak RSS {gen['rss']:7.0f} MiB   files {size / 2**20:,.0f} MiB"
    )
    for stage, secs in gen["stages"]:
        print(f"  {stage:<45} {secs:6.1f} s")
    for layer, n in gen["counts"].items():
        print(f"  {layer:<20} {n:>10,}")

    print("\nreading it through pipeline.catalog.load_sources …", flush=True)
    rd = _in_child(_read, str(out / "sources.yaml"))
    print(
        f"\nREAD      wall {rd['wall']:7.1f} s   peak RSS {rd['rss']:7.0f} MiB   warnings {rd['warnings']}"
    )
    total = 0
    for layer, n in rd["counts"].items():
        total += n
        print(f"  {layer:<20} {n:>10,}")
    print(
        f"\nread throughput {total / rd['wall']:,.0f} features/s; read/generate wall ratio {rd['wall'] / gen['wall']:.2f}"
    )
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
