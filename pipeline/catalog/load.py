"""Loading: every source in its published format → the canonical layers (EPSG:28992).

:func:`load_sources` reads the municipalities first (the ``--gemeente`` filter and the
gemeentecode need them), then the other sources on :data:`READ_THREADS` threads (GDAL, pyarrow
and GEOS release the GIL). Each source is read by its format's reader
(:data:`pipeline.catalog.formats.FORMAT_READERS`), validated
(:func:`pipeline.schemas.validate_layer`) and, for parcels, buildings and units, given its
municipality (:func:`pipeline.features.municipality.assign_gemeentecode`). Results, problems and
warnings are merged in :data:`~pipeline.catalog.registry.LOAD_ORDER`, so they never depend on
timing; then the checks across sources run (:mod:`pipeline.catalog.crosscheck`). Every problem
in every source is raised at once as one :class:`~pipeline.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pipeline import schemas
from pipeline.catalog import crosscheck
from pipeline.catalog.crosscheck import CODED_LAYERS
from pipeline.catalog.files import ReadContext, gc_paused, no_sidecar_files
from pipeline.catalog.formats import FORMAT_READERS
from pipeline.catalog.registry import CONTEXT_MARGIN_M, LOAD_ORDER, SOURCE_KINDS
from pipeline.catalog.report import InputInfo, LoadReport, size_of
from pipeline.catalog.sources_file import Sources, SourceSpec, did_you_mean
from pipeline.errors import InputError, Problem
from pipeline.features.municipality import MunicipalityIndex, assign_gemeentecode
from pipeline.fetch import read_manifest
from pipeline.sources import raster
from pipeline.sources._common import Issues

#: Sources read at the same time (threads: GDAL, pyarrow and shapely release the GIL).
READ_THREADS = 2

Box = tuple[float, float, float, float]


def new_progress(console: Console | None = None) -> Progress:
    """The progress bar of reading (transient: gone when done)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )


def empty_layer(schema: schemas.LayerSchema) -> pd.DataFrame:
    """An empty canonical layer (for an optional source that was not given)."""
    cols = {c.name: pd.Series([], dtype="object") for c in schema.columns if c.required}
    if schema.geometry is None:
        return pd.DataFrame(cols)
    return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=schemas.CRS), crs=schemas.CRS)


@dataclass
class Loaded:
    """What one source gave: its canonical layers (validated), repaired counts and messages."""

    issues: Issues
    layers: dict[str, pd.DataFrame] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    raster: raster.RasterInfo | None = None


def load_source(
    spec: SourceSpec,
    *,
    ctx: ReadContext | None = None,
    municipalities: gpd.GeoDataFrame | None = None,
) -> Loaded:
    """Read, normalise and validate one source; with ``municipalities`` (and no problems so
    far) also assign the gemeentecode of its parcels, buildings and units."""
    issues = Issues(file=str(spec.path), source=spec.key, layer=spec.layer)
    result = Loaded(issues)
    kind = SOURCE_KINDS[spec.key]
    tables = FORMAT_READERS[spec.format](spec, issues, ctx or ReadContext())
    for role in list(tables):
        raw = tables.pop(role)  # (frees each raw table once it is validated)
        if isinstance(raw, raster.RasterInfo):
            result.raster = raw
            continue
        if issues.problems and len(raw) == 0:
            continue  # the reader already said what is wrong
        name = kind.layers[role]
        schema = schemas.LAYERS[name]
        if "gemeentecode" in schema.column_names and "gemeentecode" not in raw.columns:
            raw = raw.assign(gemeentecode=pd.Series(pd.NA, index=raw.index, dtype="str"))
        layer_name = issues.layer_of.get(role, issues.layer)
        gdf, layer_problems, repaired = schemas.validate_layer(
            raw, schema, file=str(spec.path), source=spec.key, layer=layer_name
        )
        del raw
        issues.problems += layer_problems
        result.layers[name] = gdf
        if repaired:
            result.repaired[name] = repaired
            issues.warn(
                f"{repaired} invalid geometr{'y' if repaired == 1 else 'ies'} in "
                f"{name} repaired (make_valid)"
            )
    coded = [n for n in CODED_LAYERS if n in result.layers]
    if municipalities is not None and coded and not issues.problems:
        # a private copy: prepared geometries must not be shared between threads
        own = municipalities.set_geometry(
            shapely.from_wkb(shapely.to_wkb(np.asarray(municipalities.geometry.array)))
        )
        index = MunicipalityIndex.build(own)
        for name in coded:
            gdf = result.layers[name]
            gdf["gemeentecode"] = assign_gemeentecode(gdf, own, index=index)
    return result


@dataclass
class _Selection:
    """The ``--gemeente`` selection: codes, the boxes to read in, the IMRO files to skip."""

    codes: list[str] | None = None
    bbox: Box | None = None
    context_bbox: Box | None = None
    skip_codes: frozenset[str] = frozenset()

    def context(self, key: str) -> ReadContext:
        extent = SOURCE_KINDS[key].extent
        bbox = {"selection": self.bbox, "context": self.context_bbox, "all": None}[extent]
        return ReadContext(bbox=bbox, skip_codes=self.skip_codes)


def _select(first: Loaded, selection: _Selection) -> gpd.GeoDataFrame | None:
    """Limit the municipalities to the selection (problems for unknown codes); return them
    when they can assign gemeentecodes (no problems)."""
    mun = first.layers.get("municipalities")
    if mun is not None and selection.codes:
        known = list(mun["gemeentecode"])
        for code in sorted(set(selection.codes) - set(known)):
            first.issues.problem(
                f"municipality '{code}' is not in the municipalities file"
                f"{did_you_mean(code, known)}",
                fix="pass codes like GM0599 that exist in the municipalities source",
            )
        selection.skip_codes = frozenset(str(c)[2:] for c in known if str(c) not in selection.codes)
        mun = mun[mun["gemeentecode"].isin(selection.codes)]
        first.layers["municipalities"] = mun
        if len(mun):
            x0, y0, x1, y1 = (float(v) for v in mun.total_bounds)
            m = CONTEXT_MARGIN_M
            selection.bbox = (x0, y0, x1, y1)
            selection.context_bbox = (x0 - m, y0 - m, x1 + m, y1 + m)
    return mun if mun is not None and not first.issues.problems else None


def _missing_file(spec: SourceSpec, sources: Sources, report: LoadReport) -> list[Problem]:
    """A source whose file does not exist: a warning when optional, else a problem."""
    key = spec.key
    if spec.optional:
        report.warnings.append(f"[{key}] optional file {spec.path} not found; skipped")
        return []
    issues = Issues(file=str(spec.path), source=key, layer=spec.layer)
    siblings = [p.name for p in spec.path.parent.iterdir()] if spec.path.parent.is_dir() else []
    issues.problem(
        f"file not found{did_you_mean(spec.path.name, siblings)}",
        fix=f"correct `path:` of '{key}' in {sources.yaml_path.name} (paths are "
        "relative to the YAML file)",
    )
    return issues.problems


def load_sources(
    sources: Sources,
    *,
    gemeenten: list[str] | None = None,
    progress: Progress | None = None,
    then: Callable[[str, pd.DataFrame], pd.DataFrame] | None = None,
) -> tuple[dict[str, pd.DataFrame], LoadReport]:
    """Read, validate and normalise every source to the canonical layers (EPSG:28992).

    Parameters
    ----------
    sources
        From :func:`~pipeline.catalog.read_sources_yaml`.
    gemeenten
        Only these municipality codes (``GM0599``): parcels, buildings and units are limited to
        them, and every file is read with a bounding-box filter so one municipality reads fast.
        Context layers (stops, zones, zoning, ownership) keep a 5 km margin.
    progress
        A rich ``Progress`` to report on (one step per source); one is created when ``None``.
    then
        ``then(name, layer)`` replaces each layer of a source that was read without problems,
        on the reading thread as soon as the source is read (the scan makes the canonical
        outlines of the parcels there, while the other thread still reads).

    Returns
    -------
    (layers, report)
        ``layers`` has one entry per name in :data:`pipeline.schemas.LAYERS` (optional layers
        that were not given are empty); ``report`` counts features and repaired geometries per
        layer and lists the inputs and warnings. The noise raster's path is ``sources.noise``.

    Raises
    ------
    InputError
        With every problem found in every source.
    """
    report = LoadReport(synthetic=sources.synthetic, fetch=read_manifest(sources.base_dir))
    problems: list[Problem] = []
    layers: dict[str, pd.DataFrame] = {}
    selection = _Selection(codes=[g.strip().upper() for g in gemeenten] if gemeenten else None)
    prog = progress if progress is not None else new_progress()
    keys = [k for k in LOAD_ORDER if k in sources.entries]
    present = {k for k in keys if sources.entries[k].path.exists()}
    with (
        gc_paused(),
        no_sidecar_files(),
        prog if progress is None else nullcontext(),
        ThreadPoolExecutor(READ_THREADS, thread_name_prefix="kansenkaart-read") as pool,
    ):
        task = prog.add_task("reading inputs", total=len(keys))
        running: list[str] = []

        def load(key: str, mun: gpd.GeoDataFrame | None) -> Loaded:
            running.append(key)
            prog.update(task, description=f"reading {', '.join(running)}")
            try:
                spec = sources.entries[key]
                loaded = load_source(spec, ctx=selection.context(key), municipalities=mun)
                if then is not None and not loaded.issues.problems:
                    loaded.layers = {n: then(n, gdf) for n, gdf in loaded.layers.items()}
                return loaded
            finally:
                running.remove(key)
                prog.update(task, description=f"reading {', '.join(running) or '…'}", advance=1)

        results: dict[str, Loaded | Future[Loaded]] = {}
        failed: set[str] = set()
        mun_ok: gpd.GeoDataFrame | None = None
        if "municipalities" in present:
            first = results["municipalities"] = load("municipalities", None)
            mun_ok = _select(first, selection)
        rest = sorted(
            (k for k in keys if k in present and k != "municipalities"),
            key=lambda k: SOURCE_KINDS[k].priority,
        )
        for key in rest:
            results[key] = pool.submit(load, key, mun_ok)
        for key in keys:  # merge in LOAD_ORDER, whatever finished first
            spec = sources.entries[key]
            if key not in present:
                missing = _missing_file(spec, sources, report)
                problems += missing
                if missing:
                    failed.add(key)
                prog.advance(task)
                continue
            report.inputs.append(
                InputInfo(
                    key, str(spec.path), spec.format, size_of(spec.path), "", spec.date, spec.layer
                )
            )
            result = results[key]
            if isinstance(result, Future):
                try:
                    result = result.result()
                except BaseException:  # e.g. Ctrl-C: do not start the sources still waiting
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
            _merge(result, key, layers, report)
            problems += result.issues.problems
            if result.issues.problems:
                failed.add(key)
        prog.update(task, description="checking cross-references")
        problems += crosscheck.cross_checks(layers, sources, report, selection.codes, failed=failed)
    if problems:
        raise InputError(
            problems, title=f"{len(problems)} problem(s) in the inputs of {sources.yaml_path}"
        )
    for name, schema in schemas.LAYERS.items():
        if name not in layers:
            layers[name] = empty_layer(schema)
        layers[name] = layers[name].reset_index(drop=True)
        report.counts[name] = len(layers[name])
    return layers, report


def _merge(result: Loaded, key: str, layers: dict[str, Any], report: LoadReport) -> None:
    """Add one source's layers, raster metadata, repaired counts and warnings."""
    if result.raster is not None:
        report.rasters[key] = result.raster
    for name, gdf in result.layers.items():
        layers[name] = gdf
        report.layer_sources[name] = key
        if name in result.repaired:
            report.repaired[name] = result.repaired[name]
    report.warnings += result.issues.warnings
