"""A realistic synthetic province, written in the real published formats.

``kansenkaart sample --preset demo|province --out DIR --seed N`` lays out fictional
municipalities (codes ``GM09xx`` that CBS never issued) inside Zuid-Holland's extent, each
with a centre (shops in ground floors, homes above, a core shopping street), offices near a
railway station, residential neighbourhoods, an industrial estate, farmland, nature and
water, and writes them as the sources the readers read (docs/contracts.md §A): CBS GeoJSON,
BRK and BAG GeoPackages, IMRO GML plans, a vacancy CSV, ownership, transit stops, a noise
GeoTIFF and exclusion zones, plus ``sources.yaml`` (``synthetic: true``) and
``planted.json``: planted opportunities and non-starters with their expected outcome.

The same preset and seed give the same files. The folder is written next to its target and
renamed into place at the end, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import yaml

from pipeline.errors import UsageError
from pipeline.sample.presets import PRESETS, Preset

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = ["PRESETS", "Preset", "generate_sample", "run_sample_command"]

#: ``progress(stage, step, total)`` is called when each stage starts.
ProgressCallback = Callable[[str, int, int], None]

STAGES = (
    "laying out municipalities, land use, districts and blocks",
    "parcels, buildings and units",
    "tables, vacancy, ownership, stops and zones",
    "municipalities (CBS GeoJSON)",
    "parcels (BRK GeoPackage)",
    "buildings and units (BAG GeoPackage)",
    "zoning plans (IMRO GML)",
    "vacancy, ownership, stops, zones",
    "noise raster (GeoTIFF)",
    "sources.yaml and planted.json",
)
_SHARED = Path(__file__).resolve().parents[3] / "shared"


def _check_out_dir(out_dir: Path) -> Path:
    """Resolve the output folder and refuse places we must not write to."""
    out = out_dir.expanduser().resolve()
    for forbidden in {_SHARED.resolve(), Path("/work/shared")}:
        if out == forbidden or forbidden in out.parents:
            raise UsageError(
                f"refusing to write the sample under {forbidden}: that folder holds shared, read-only data; "
                "choose another --out"
            )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_previous_sample(out):
        raise UsageError(
            f"--out {out} is not empty and is not a previous sample (no sources.yaml with 'synthetic: true'); "
            "refusing to overwrite it. Choose an empty or new folder."
        )
    return out


def _is_previous_sample(folder: Path) -> bool:
    try:
        data = yaml.safe_load((folder / "sources.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("synthetic") is True


def generate_sample(
    out_dir: Path | str,
    *,
    preset: str = "demo",
    seed: int = 42,
    progress: ProgressCallback | Progress | None = None,
) -> Path:
    """Generate a synthetic province into ``out_dir`` and return the path of its sources.yaml.

    Parameters
    ----------
    out_dir
        Output folder: new, empty, or a previous sample (which is replaced atomically).
    preset
        ``tiny`` (tests), ``demo`` (seconds) or ``province`` (Zuid-Holland's size, minutes).
    seed
        Random seed; the same preset and seed give the same files.
    progress
        Called as ``progress(stage, step, total)`` when each stage starts; or a rich
        ``Progress`` that gets one task advanced per stage.

    Returns
    -------
    pathlib.Path
        ``out_dir / "sources.yaml"``.

    Raises
    ------
    UsageError
        Unknown preset, negative seed, or an output folder we must not write to.
    """
    if preset not in PRESETS:
        raise UsageError(f"unknown preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    out = _check_out_dir(Path(out_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _generate_into(tmp, PRESETS[preset], seed, _as_callback(progress))
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "sources.yaml"


def _as_callback(progress: ProgressCallback | Progress | None) -> ProgressCallback:
    if progress is None:
        return lambda *_: None
    if hasattr(progress, "add_task"):
        bar: Any = progress
        task = bar.add_task("sample", total=len(STAGES))

        def advance(stage: str, step: int, total: int) -> None:
            bar.update(task, description=f"sample: {stage}", completed=step - 1)

        return advance
    return progress  # type: ignore[return-value]


def _generate_into(
    folder: Path, preset: Preset, seed: int, progress: ProgressCallback
) -> dict[str, int]:
    from pipeline.sample import formats as fm
    from pipeline.sample.layout import build_layout
    from pipeline.sample.objects import build_objects
    from pipeline.sample.tables import REF_DATE, build_tables
    from pipeline.sample.world import build_world

    total = len(STAGES)
    note = fm.SYNTHETIC_NOTE.format(preset=preset.name, seed=seed)
    step = iter(range(total))

    def stage(k: int) -> None:
        progress(STAGES[k], next(step) + 1, total)

    stage(0)
    world = build_world(preset, seed)
    layout = build_layout(world)
    stage(1)
    objs = build_objects(layout)
    stage(2)
    t = build_tables(layout, objs)
    from pipeline.sample.model import build_model, noise_by_source

    model = build_model(layout, objs, t)
    t.zones = gpd.GeoDataFrame(
        pd.concat([t.zones, model.zones], ignore_index=True), crs=t.zones.crs
    )
    stage(3)
    fm.write_geojson(
        t.municipalities, folder / "gemeenten.geojson", name="gemeenten_synthetisch", note=note
    )
    stage(4)
    fm.write_gpkg(t.parcels, folder / "kadastralekaart.gpkg", layer="perceel", note=note)
    stage(5)
    fm.write_gpkg(t.panden, folder / "bag.gpkg", layer="pand", note=note)
    fm.write_gpkg(t.vbo, folder / "bag.gpkg", layer="verblijfsobject", note=note, append=True)
    stage(6)
    plans = folder / "bestemmingsplannen"
    plans.mkdir()
    for k, row in enumerate(t.municipalities.itertuples()):
        runs = t.zoning[t.zoning.muni == k]
        fm.write_imro_plan(
            runs,
            plans / f"NL.IMRO.{row.statcode[2:]}.BPsynthetisch-VA01.gml",
            code=row.statcode,
            name=row.statnaam,
            plan_area=row.geometry,
            note=note,
        )
    stage(7)
    fm.write_vacancy_csv(t.vacancy, folder / "leegstand.csv", note=note)
    fm.write_gpkg(t.ownership, folder / "eigendom.gpkg", layer="eigendom", note=note)
    fm.write_gpkg(t.stops, folder / "ov_haltes.gpkg", layer="haltes", note=note)
    fm.write_gpkg(t.zones, folder / "uitsluitingen.gpkg", layer="zones", note=note)
    fm.write_gpkg(model.bsd, folder / "bsd.gpkg", layer="bsd", note=note)
    fm.write_gpkg(
        model.plans, folder / "woningbouwplannen.gpkg", layer="woningbouwplannen", note=note
    )
    stage(8)
    fm.write_noise(world, folder / "geluid_lden.tif", note=note)
    source_names = {"road": "weg", "rail": "spoor", "industry": "industrie"}
    for source, grid in noise_by_source(world).items():
        fm.write_noise_grid(
            grid,
            world,
            folder / f"geluid_{source_names[source]}.tif",
            note=note,
            band=f"{source} noise (dB), synthetic",
            units="dB(A) etmaalwaarde" if source == "industry" else "dB Lden",
        )
    stage(9)
    counts = {
        "municipalities": len(t.municipalities),
        "parcels": len(t.parcels),
        "buildings": len(t.panden),
        "units": len(t.vbo),
        "zoning": len(t.zoning),
        "vacancy": len(t.vacancy),
        "ownership": len(t.ownership),
        "transit_stops": len(t.stops),
        "exclusion_zones": len(t.zones),
        "housing_plans": len(model.plans),
        "bsd": len(model.bsd),
    }
    planted = dict(t.planted)
    planted["items"] = [*t.planted["items"], *model.items]
    planted.update({"preset": preset.name, "seed": seed, "counts": counts})
    fm.write_json(planted, folder / "planted.json")
    date = str(REF_DATE)
    sources: dict[str, Any] = {
        "synthetic": True,
        "sources": {
            "municipalities": {"path": "gemeenten.geojson", "format": "cbs", "date": date},
            "parcels": {
                "path": "kadastralekaart.gpkg",
                "format": "brk",
                "layer": "perceel",
                "date": date,
            },
            "buildings": {"path": "bag.gpkg", "format": "bag", "date": date},
            "zoning": {"path": "bestemmingsplannen/", "format": "imro", "date": date},
            "vacancy": {"path": "leegstand.csv", "format": "vacancy-csv", "date": date},
            "ownership": {
                "path": "eigendom.gpkg",
                "format": "ownership",
                "layer": "eigendom",
                "date": date,
            },
            "transit_stops": {
                "path": "ov_haltes.gpkg",
                "format": "stops",
                "layer": "haltes",
                "date": date,
            },
            "noise": {"path": "geluid_lden.tif", "format": "raster", "date": date},
            "exclusion_zones": {
                "path": "uitsluitingen.gpkg",
                "format": "zones",
                "layer": "zones",
                "date": date,
            },
            "housing_plans": {
                "path": "woningbouwplannen.gpkg",
                "format": "plancapaciteit",
                "layer": "woningbouwplannen",
                "date": date,
            },
            "bsd": {"path": "bsd.gpkg", "format": "bsd", "layer": "bsd", "date": date},
            "noise_road": {"path": "geluid_weg.tif", "format": "raster", "date": date},
            "noise_rail": {"path": "geluid_spoor.tif", "format": "raster", "date": date},
            "noise_industry": {"path": "geluid_industrie.tif", "format": "raster", "date": date},
        },
    }
    with open(folder / "sources.yaml", "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f"# {note}\n")
        yaml.safe_dump(sources, fh, sort_keys=False, allow_unicode=True)
    return counts


def run_sample_command(out: Path, *, preset: str, seed: int, console: Console) -> None:
    """CLI entry: generate with a rich progress bar, then print a summary table."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    started = time.perf_counter()
    timings: list[tuple[str, float]] = []
    with Progress(
        TextColumn("[bold]sample[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("starting", total=len(STAGES))
        last = [time.perf_counter()]

        def progress(stage: str, step: int, total: int) -> None:
            now = time.perf_counter()
            if timings:
                timings[-1] = (timings[-1][0], now - last[0])
            timings.append((stage, 0.0))
            last[0] = now
            bar.update(task, description=stage, completed=step - 1)

        sources = generate_sample(out, preset=preset, seed=seed, progress=progress)
        if timings:
            timings[-1] = (timings[-1][0], time.perf_counter() - last[0])
        bar.update(task, description="done", completed=len(STAGES))
    elapsed = time.perf_counter() - started
    import json

    manifest = json.loads((sources.parent / "planted.json").read_text(encoding="utf-8"))
    table = Table(title=f"Synthetic province '{preset}' (seed {seed}) in {sources.parent}")
    table.add_column("layer")
    table.add_column("features", justify="right")
    for layer, n in manifest["counts"].items():
        table.add_row(layer, f"{n:,}")
    table.add_row("planted sites", f"{len(manifest['items']):,}")
    console.print(table)
    stages = Table(title="Time per stage")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, secs in timings:
        stages.add_row(name, f"{secs:.1f}")
    stages.add_row("[bold]total[/]", f"[bold]{elapsed:.1f}[/]")
    console.print(stages)
    console.print(f"sources: {sources}  (check it with: kansenkaart check --sources {sources})")
