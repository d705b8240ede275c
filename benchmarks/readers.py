"""Time the readers: load every source of a sources.yaml through ``load_sources``.

Prints wall time, CPU time and peak RSS for the whole load and for a one-municipality load
(bbox read), the time each source took (read, normalise, validate and gemeentecode; sources are
read by two threads, so these overlap), plus features per second. Generate the province first,
e.g.::

    kansenkaart sample --preset province --out /tmp/province --seed 42
    python benchmarks/readers.py /tmp/province/sources.yaml [GM0901]

Without an argument the demo preset is generated into a temporary folder first.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


class PeakRSS:
    """Samples this process's RSS every 50 ms; ``peak`` in bytes."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def raw_read_seconds(sources: object) -> float:
    """The I/O floor: read every GeoPackage/GeoJSON layer and IMRO GML with pyogrio, nothing else."""
    import pyogrio

    from pipeline.catalog import list_layers, no_sidecar_files

    t0 = time.perf_counter()
    with no_sidecar_files():
        for spec in sources.entries.values():  # type: ignore[attr-defined]
            paths = sorted(spec.path.glob("*.gml")) if spec.path.is_dir() else [spec.path]
            for path in paths:
                if path.suffix.lower() not in (".gpkg", ".geojson", ".gml"):
                    continue
                opts = {"WRITE_GFS": "NO"} if path.suffix == ".gml" else {}
                for layer in list_layers(str(path)):
                    if path.suffix == ".gml" and layer != "Enkelbestemming":
                        continue
                    pyogrio.read_dataframe(
                        path, layer=layer, use_arrow=path.suffix != ".gml", **opts
                    )
    return time.perf_counter() - t0


class SourceTimes:
    """Wall and thread-CPU seconds of each ``catalog.load.load_source`` call (patched in place)."""

    def __init__(self) -> None:
        from pipeline.catalog import load

        self.catalog = load
        self.original = load.load_source
        self.times: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def __enter__(self) -> SourceTimes:
        original = self.original

        def timed(spec, *args, **kwargs):  # type: ignore[no-untyped-def]
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return original(spec, *args, **kwargs)
            finally:
                with self.lock:
                    self.times[spec.key] = (time.perf_counter() - t0, time.thread_time() - c0)

        self.catalog.load_source = timed
        return self

    def __exit__(self, *exc: object) -> None:
        self.catalog.load_source = self.original

    def print(self) -> None:
        for key, (wall, cpu) in sorted(self.times.items(), key=lambda kv: -kv[1][0]):
            print(f"    {key:16s} {wall:6.2f} s wall {cpu:6.2f} s CPU (this thread)")


def main(argv: list[str]) -> None:
    from pipeline.catalog import load_sources, read_sources_yaml

    tmp = None
    if len(argv) > 1:
        yaml_path = Path(argv[1])
    else:
        from pipeline.sample import generate_sample

        tmp = tempfile.TemporaryDirectory(prefix="kansenkaart-bench-")
        yaml_path = generate_sample(Path(tmp.name) / "demo", preset="demo", seed=42, progress=None)
    sources = read_sources_yaml(yaml_path)
    size = sum(p.stat().st_size for p in sources.base_dir.rglob("*") if p.is_file())
    print(f"inputs: {yaml_path} ({size / 1e6:,.0f} MB on disk)")

    raw = raw_read_seconds(sources)
    print(f"raw pyogrio read of every vector layer (all fields, no validation): {raw:6.1f} s")
    with PeakRSS() as rss, SourceTimes() as per_source:
        t0, c0 = time.perf_counter(), time.process_time()
        layers, report = load_sources(sources)
        full, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"full load:  {full:6.1f} s wall, {cpu:6.1f} s CPU, peak RSS {rss.peak / 1e9:.2f} GB; "
        f"ratio to the raw read {full / raw:.2f}"
    )
    print("  per source:")
    per_source.print()
    for name, n in report.counts.items():
        print(f"  {name:16s} {n:>10,d} features")
    total = sum(report.counts.values())
    print(f"  {'all':16s} {total:>10,d} features, {total / full:,.0f} features/s")

    codes = layers["municipalities"]["gemeentecode"]
    one = argv[2] if len(argv) > 2 else str(codes.iloc[len(codes) // 2])
    with SourceTimes() as per_source_one:
        t0 = time.perf_counter()
        _, report_one = load_sources(sources, gemeenten=[one])
        single = time.perf_counter() - t0
    print(
        f"one municipality ({one}): {single:5.2f} s wall "
        f"({report_one.counts['parcels']:,} parcels, {report_one.counts['units']:,} units); "
        f"ratio to full load {single / full:.2f}"
    )
    per_source_one.print()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main(sys.argv)
