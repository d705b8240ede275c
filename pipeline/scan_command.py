"""``kansenkaart scan``: read the sources, run the scan, write the GeoPackage, print a summary."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.features.context import outlined_layers
from pipeline.scan import TIERS, TYPE_LAYERS, TYPE_TABLES, ScanResult, _vacancy_date, run_scan
from pipeline.stages import release_free_memory, rss_gb

if TYPE_CHECKING:
    from rich.console import Console


def summary_table(result: ScanResult) -> Any:
    """A rich table: candidates and capacity (homes) per type and tier."""
    from rich.table import Table

    table = Table(
        title="Scan result: candidates and homes per tier", show_lines=False, padding=(0, 1)
    )
    table.add_column("layer", no_wrap=True)
    for t in TIERS:
        table.add_column(t, justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    for type_name in TYPE_TABLES:
        cand = result.candidates.get(type_name)
        if cand is None:
            continue
        tiers = cand["tier"].value_counts() if len(cand) else pd.Series(dtype=int)
        cap = cand.groupby("tier")["capacity_units"].sum() if len(cand) else pd.Series(dtype=int)
        table.add_row(
            TYPE_LAYERS[type_name].replace("tijdelijke_", "tijd. "),
            *(f"{int(tiers.get(t, 0)):,}" for t in TIERS),
            f"{len(cand):,}",
        )
        table.add_row(
            "  homes",
            *(f"{int(cap.get(t, 0)):,}" for t in TIERS),
            f"{int(cap.sum()) if len(cap) else 0:,}",
            style="dim",
        )
    return table


@contextmanager
def _gc_frozen_after_read() -> Iterator[Callable[[], None]]:
    """Yields ``freeze``: from then on the collector ignores the objects that exist.

    The millions of geometries just read live until the end of the scan: freezing them keeps
    Python's cyclic garbage collector from scanning them over and over (they are still freed
    by reference counting). Unfrozen on the way out, also on errors.
    """
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def run_scan_command(
    sources_path: Path,
    *,
    gemeenten: list[str] | None,
    config_path: Path | None,
    out: Path,
    console: Console,
    scenario: str | None = None,
) -> ScanResult:
    """``kansenkaart scan``: read the sources, scan, write the GeoPackage, print a summary.

    ``scenario`` names a preset of the config's ``scenarios`` (pipeline.scoring.scenarios).
    """
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipeline.catalog import load_sources, read_sources_yaml
    from pipeline.export import ResultWriter
    from pipeline.scoring import load_config

    t0 = time.perf_counter()
    config = load_config(config_path)
    if scenario:
        from pipeline.scoring.scenarios import apply_scenario

        config = apply_scenario(config, scenario)
    sources = read_sources_yaml(sources_path)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress, ResultWriter(out) as writer, _gc_frozen_after_read() as freeze:
        t_read = time.perf_counter()
        # The scan measures parcels and buildings on their canonical outlines (contracts
        # §E.0): made on the reading thread as soon as each is read (the other thread reads
        # on), so the delivered outlines are let go before the scan starts.
        outline_s: list[float] = []  # per layer (the two reading threads append)

        def outline(name: str, gdf: pd.DataFrame) -> pd.DataFrame:
            if name not in ("parcels", "buildings"):
                return gdf
            t = time.perf_counter()
            canon = outlined_layers([gdf])[0]
            outline_s.append(time.perf_counter() - t)
            return canon

        layers, report = load_sources(sources, gemeenten=gemeenten, progress=progress, then=outline)
        read_s = time.perf_counter() - t_read
        memory = {"read": round(rss_gb(), 2)}
        release_free_memory()  # the delivered outlines
        freeze()
        result = run_scan(
            layers,
            noise_path=sources.noise,
            rasters=sources.rasters,
            config=config,
            gemeenten=gemeenten,
            progress=progress,
            reference_date=_vacancy_date(report),
            keep_features=False,
            on_layer=writer.add,
        )
        del layers
        result.timings["read"] = round(read_s, 3)
        result.timings["outlines"] = round(sum(outline_s), 3)  # during the read
        result.memory_gb = {**memory, **result.memory_gb}
        task = progress.add_task(f"writing {out}", total=1)
        t_write = time.perf_counter()
        writer.finish(result, report=report, config_text=config.text)
        # Most layers were written in the background while the scan went on: this is the
        # time spent waiting for the writer at the end (see writer.seconds for each layer).
        result.timings["write"] = round(time.perf_counter() - t_write, 3)
        result.timings["write_layers"] = round(sum(writer.seconds.values()), 3)
        result.writer_peak_rss_gb = writer.writer_peak_rss_gb
        progress.advance(task)
    result.timings["wall"] = round(time.perf_counter() - t0, 3)
    console.print(summary_table(result))
    repaired = sum(int(v) for v in report.repaired.values())
    repaired_detail = ", ".join(f"{k} {v}" for k, v in sorted(report.repaired.items())) or "none"
    console.print(
        f"municipalities: {len(result.gemeente_codes)}  ·  merged sites: {result.counts.get('merged_sites', 0):,}"
        f"  ·  excluded parcels: {result.counts.get('excluded_parcels', 0):,}  ·  excluded "
        f"office/shop buildings: {result.counts.get('excluded_buildings', 0):,}"
    )
    console.print(
        f"repaired geometries: {repaired:,} ({repaired_detail})  ·  vacancy reference date: {result.reference_date}"
    )
    for w in [*report.warnings, *result.warnings]:
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    console.print(
        f"time: {result.timings['wall']:.1f} s (read {read_s:.1f} s, scan {result.timings.get('total', 0):.1f} s, "
        f"write {result.timings['write']:.1f} s)  ->  {out}"
    )
    return result
