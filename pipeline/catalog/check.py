"""``kansenkaart check``: load every source, print a table per layer; raise on problems."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline import schemas
from pipeline.catalog.load import load_sources, new_progress
from pipeline.catalog.sources_file import read_sources_yaml


def run_check_command(sources_path: Path, *, console: Console) -> None:
    """``kansenkaart check``: load everything, print a table per layer; raise on problems."""
    sources = read_sources_yaml(sources_path)
    with new_progress(console) as progress:
        _layers, report = load_sources(sources, progress=progress)
    table = Table(title=f"Inputs of {sources_path}" + (" (synthetic)" if report.synthetic else ""))
    table.add_column("layer", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("features", justify="right", no_wrap=True)
    table.add_column("repaired", justify="right")
    table.add_column("warnings", justify="right")
    for name in schemas.LAYERS:
        key = report.layer_sources.get(name)
        if key is None:
            continue
        spec = sources.entries[key]
        n_warn = sum(1 for w in report.warnings if w.startswith(f"[{key}]"))
        table.add_row(
            name,
            escape(spec.raw_path),
            f"{report.counts.get(name, 0):,}",
            str(report.repaired.get(name, 0)),
            str(n_warn),
        )
    for key, info in report.rasters.items():
        n_warn = sum(1 for w in report.warnings if w.startswith(f"[{key}]"))
        table.add_row(
            key,
            escape(sources.entries[key].raw_path),
            f"{info.width}×{info.height} cells",
            "0",
            str(n_warn),
        )
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    console.print(
        f"[green]ok:[/] {sum(report.counts.values()):,} features in {len(report.inputs)} inputs "
        "are valid",
        highlight=False,
    )
