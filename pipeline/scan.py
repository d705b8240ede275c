"""The scan: canonical layers -> feature tables -> scored candidates and exclusion reasons.

Three stages, each pure (GeoDataFrames in, GeoDataFrames out):

1. :func:`build_feature_tables` computes the feature tables of docs/contracts.md §E
   (``parcels`` with merged sites, ``buildings``, shop ``units``) with the functions of
   :mod:`pipeline.features`;
2. :func:`run_scan` scores each table with :func:`pipeline.scoring.score_table`, keeps the
   exclusion reasons of every parcel and building, and summarises per municipality;
3. :func:`pipeline.scan_command.run_scan_command` (``kansenkaart scan``) reads the sources,
   runs the scan with rich progress, writes the GeoPackage atomically and prints a summary.

Results do not depend on the row order of the inputs (every layer is sorted by its key
first) and vacancy durations are measured against a fixed reference date, so the same input
and config give identical layers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.features import bag as fbag
from pipeline.features._parallel import in_background
from pipeline.features._spatial import lookup_positions
from pipeline.features.buildings import building_table
from pipeline.features.context import Prepared, prepare
from pipeline.features.parcels import parcel_table
from pipeline.features.units import unit_table
from pipeline.scoring.config import ScanConfig, TypeConfig
from pipeline.scoring.excluded import (
    early_excluded_parcels,
    early_exclusion_possible,
    empty_reasons,
    excluded_buildings,
    excluded_parcels,
)
from pipeline.search_index import (
    PART_ROWS as INDEX_PART_ROWS,
)
from pipeline.search_index import (
    build_index_layers,
    empty_search_index,
    orientation_layers,
    search_index_parts,
)
from pipeline.stages import Stages, release_free_memory

if TYPE_CHECKING:
    from rich.progress import Progress

    from pipeline.catalog import LoadReport


#: Opportunity type -> feature table name -> result layer name.
TYPE_TABLES = {
    "tijdelijke_locatie": "parcels",
    "kantoortransformatie": "buildings",
    "plinttransformatie": "units",
}
TYPE_LAYERS = {
    "tijdelijke_locatie": "tijdelijke_locaties",
    "kantoortransformatie": "kantoren",
    "plinttransformatie": "plinten",
}
TIERS = ("A", "B", "C", "D", "E")

# --------------------------------------------------------------------------- result


@dataclass
class ScanResult:
    """What a scan produces (docs/contracts.md §B/§C), before it is written.

    Attributes
    ----------
    candidates
        Scored candidates per opportunity type (``tijdelijke_locatie``, …): the output of
        :func:`pipeline.scoring.score_table` (every feature column, ``site_id``, ``score``,
        ``tier``, ``rank``, ``capacity_units``, ``explanation``, ``reasons``, ``c_*``).
    excluded_parcels
        Every scanned parcel not (part of) a candidate: ``parcel_id``, ``gemeentecode``,
        ``reasons`` and the parcel's polygon (written as MultiPolygon by :mod:`pipeline.export`).
    excluded_buildings
        Every scanned building not a ``kantoren`` candidate: ``pand_id``, ``gemeentecode``,
        ``kantoor_reason_codes``, ``kantoor_reasons``, ``plint_reason_codes``,
        ``plint_reasons`` (the latter two summarise its excluded shop units; empty if none).
    gemeenten
        Summary per scanned municipality (contracts §C ``gemeenten``).
    timings
        Seconds per stage.
    counts
        Number of objects per table, candidates and exclusions.
    gemeente_codes
        The municipality codes scanned (sorted).
    reference_date
        The date vacancy durations are measured against (ISO).
    features
        The feature tables (not written; for analysis and tests).
    """

    candidates: dict[str, gpd.GeoDataFrame]
    excluded_parcels: gpd.GeoDataFrame
    excluded_buildings: gpd.GeoDataFrame
    gemeenten: gpd.GeoDataFrame
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    gemeente_codes: list[str] = field(default_factory=list)
    reference_date: str = ""
    tiers: dict[str, float] | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    features: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)
    #: Peak memory (GB) of the background GeoPackage writer of ``kansenkaart scan`` (0: none).
    writer_peak_rss_gb: float = 0.0
    #: Resident memory (GB) of the scan process at the end of each stage (``kansenkaart scan``
    #: adds ``read`` and ``outlines`` before them).
    memory_gb: dict[str, float] = field(default_factory=dict)
    #: What the scan could not do as configured (a missing rent year, a missing source, …).
    warnings: list[str] = field(default_factory=list)
    #: The config's framing text (docs/contracts.md §C "Framing").
    disclaimer: str = ""
    #: The search index and orientation layers (:mod:`pipeline.search_index`), by layer name.
    index_layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)

    @property
    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The result layers by their GeoPackage name (what :mod:`pipeline.export` writes)."""
        out = {TYPE_LAYERS[t]: gdf for t, gdf in self.candidates.items()}
        out["gemeenten"] = self.gemeenten
        out["uitgesloten_percelen"] = self.excluded_parcels
        out["uitgesloten_panden"] = self.excluded_buildings
        out.update(self.index_layers)
        return out

    @property
    def feature_counts(self) -> dict[str, int]:
        return self.counts


def _type(config: ScanConfig | None, name: str) -> TypeConfig | None:
    """The type block ``name`` of a ScanConfig (``None`` without config or without the type)."""
    return config.types.get(name) if config is not None else None


def _reference_date(config: ScanConfig | None, reference_date: dt.date | str | None) -> dt.date:
    """The date vacancy is measured against: the argument, else the config's, else today."""
    for value in (reference_date, config.reference_date if config is not None else None):
        if value:
            return pd.Timestamp(value).date()
    return dt.datetime.now(dt.UTC).date()


def _building_and_unit_tables(
    p: Prepared, config: ScanConfig | None, stages: Stages, *, in_scope_only: bool = False
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The buildings and shop units tables, one after the other (each overlays the same
    context layers, whose prepared GEOS geometries must not be used by two threads at once);
    the storeys of every building, which both need, are computed once."""
    with stages.stage("buildings"):
        floor = fbag.floor_area(p.buildings, p.units)
        bouwlagen = fbag.storeys(p.buildings, floor)
        buildings = building_table(
            p.buildings,
            p.units,
            p.flags,
            p.unit_years,
            p.unit_vacant,
            p.ctx,
            type_config=_type(config, "kantoortransformatie"),
            in_scope_only=in_scope_only,
            floor_area=floor,
        )
        units = unit_table(
            p.units,
            p.buildings,
            p.flags,
            p.unit_years,
            p.unit_vacant,
            bouwlagen,
            p.ctx,
            type_config=_type(config, "plinttransformatie"),
        )
    return buildings, units


def build_feature_tables(
    layers: Mapping[str, pd.DataFrame],
    *,
    noise_path: Path | None,
    rasters: Mapping[str, Path] | None = None,
    config: ScanConfig | None = None,
    gemeenten: list[str] | None = None,
    reference_date: dt.date | str | None = None,
    progress: Progress | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """The three feature tables of docs/contracts.md §E from the canonical layers.

    Parameters
    ----------
    layers
        Canonical layers (:data:`pipeline.schemas.LAYERS` names), as ``load_sources`` returns.
    noise_path
        The noise GeoTIFF (dB Lden), or ``None`` (``noise_db`` is then NaN).
    rasters
        The per-source noise rasters by sources.yaml key (``Sources.rasters``).
    config
        The :class:`pipeline.scoring.ScanConfig`; its ``tijdelijke_locatie`` exclusions on
        ``area_m2`` and ``built_up_fraction`` set when small parcels are merged.
    gemeenten
        Only objects in these municipality codes (context layers are used in full).
    reference_date
        The date vacancy durations are measured against (default: the config's
        ``reference_date`` if it has one, else today).

    Returns
    -------
    dict
        ``parcels`` (indexed by ``parcel_id``; merged sites by their first parcel id),
        ``buildings`` (``pand_id``) and ``units`` (``vbo_id``, shop units only).
    """
    stages = Stages(progress, {})
    ref = _reference_date(config, reference_date)
    with stages.stage("prepare"):
        p = prepare(
            layers,
            noise_path=noise_path,
            gemeenten=gemeenten,
            ref=ref,
            params=config.features if config is not None else None,
            rasters=rasters,
            noise_sources=config.noise if config is not None else None,
        )
    tables: dict[str, gpd.GeoDataFrame] = {}
    tables["parcels"] = parcel_table(
        p.parcels,
        p.context_buildings,
        p.ctx,
        type_config=_type(config, "tijdelijke_locatie"),
        stages=stages,
    )
    tables["buildings"], tables["units"] = _building_and_unit_tables(p, config, stages)
    return tables


#: A result layer for ``on_layer``: the frame, a function that waits for it and returns it, or
#: an iterator of its parts in order (made as they are taken; see :class:`ResultWriter.add`).
Layer: TypeAlias = gpd.GeoDataFrame | Callable[[], gpd.GeoDataFrame] | Iterator[gpd.GeoDataFrame]

#: Candidate columns kept in memory after a layer was handed to ``on_layer``.
_SUMMARY_COLUMNS = ("site_id", "gemeentecode", "score", "tier", "capacity_units", "area_m2")


def run_scan(
    layers: Mapping[str, pd.DataFrame],
    *,
    noise_path: Path | None,
    rasters: Mapping[str, Path] | None = None,
    config: ScanConfig | None = None,
    gemeenten: list[str] | None = None,
    progress: Progress | None = None,
    reference_date: dt.date | str | None = None,
    keep_features: bool = True,
    on_layer: Callable[[str, Layer], None] | None = None,
) -> ScanResult:
    """Run the whole scan on canonical layers: features, scoring, exclusion reasons, summary.

    Parcels are done first (features, scoring, exclusion reasons), then buildings and shop
    units. With ``on_layer``, each finished result layer is handed over as soon as it is ready
    (usually in this order: ``uitgesloten_percelen`` as soon as the exclusion columns are
    known, ``tijdelijke_locaties``, ``kantoren``, ``plinten``, ``uitgesloten_panden``), so a
    writer can store it while the scan goes on; the result then keeps only the candidates'
    summary columns and empty ``uitgesloten_*`` frames (their sizes are in ``counts``).

    Parameters
    ----------
    layers
        Canonical layers from :func:`pipeline.catalog.load_sources`.
    noise_path
        The combined noise GeoTIFF, or ``None``.
    rasters
        The per-source noise rasters by sources.yaml key (``Sources.rasters``: ``noise_road``,
        ``noise_rail``, ``noise_industry``, ``noise_aircraft``).
    config
        A :class:`pipeline.scoring.ScanConfig` (default: the shipped configuration).
    gemeenten
        Only these municipality codes (default: all in ``layers["municipalities"]``).
    progress
        A rich ``Progress`` to report the stages on.
    reference_date
        The date vacancy durations are measured against; default the config's
        ``reference_date`` when it has one, else today (pass the vacancy data's date for
        reproducible runs; :func:`run_scan_command` does).
    keep_features
        Keep the feature tables in ``ScanResult.features``. Without them (the command) the
        excluded parcels go to ``on_layer`` as soon as the exclusion columns are known, and
        the other parcel features are computed and kept for the candidates only (lower peak
        memory).
    on_layer
        Called as ``on_layer(layer_name, frame)`` for each finished result layer;
        ``uitgesloten_percelen`` may come as a function that returns the frame (it is made on
        a thread of its own; the function, to be called once, waits for it and raises its
        error; ``counts["excluded_parcels"]`` is set when it is done).

    Returns
    -------
    ScanResult
    """
    from pipeline.scoring import (
        load_config,
        score_table,
        summarise_gemeenten,
    )

    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    config = config if config is not None else load_config(None)
    timings: dict[str, float] = {}
    stages = Stages(progress, timings)
    ref = _reference_date(config, reference_date)
    rent_note, rent_warning = config.rent_check.note_for(ref.year)
    warnings = [rent_warning] if rent_warning else []
    codes = sorted({str(g).strip().upper() for g in gemeenten}) if gemeenten else None
    with stages.stage("prepare"):
        p = prepare(
            layers,
            noise_path=noise_path,
            gemeenten=codes,
            ref=ref,
            params=config.features,
            rasters=rasters,
            noise_sources=config.noise,
        )
    warnings += _missing_input_warnings(p, config)
    # the dwelling stock per municipality: current BAG units with woonfunctie (§C gemeenten)
    homes = p.flags["woonfunctie"].to_numpy(bool)
    stock = p.units.loc[homes, "gemeentecode"].astype(str).value_counts().to_dict()
    candidates: dict[str, gpd.GeoDataFrame] = {}
    counts: dict[str, int] = {}
    features: dict[str, gpd.GeoDataFrame] = {}

    def emit(type_name: str | None, layer: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if on_layer is None:
            return frame
        on_layer(layer, frame)
        if type_name is not None:  # keep what the summary needs
            return frame[[c for c in _SUMMARY_COLUMNS if c in frame.columns]]
        # an empty frame of its own: a slice (``iloc[:0]``) would keep the layer's arrays alive
        return frame.take(np.zeros(0, dtype=np.intp))

    candidate_pos: dict[str, np.ndarray] = {}

    # The search index and the orientation layers: addresses and parcels of the scanned
    # municipalities (only ids, geometry and the BAG address columns are used). They do not
    # depend on any feature, so they are built on a thread of their own from the merging of
    # the parcels on (mostly text work, which fills the core the single-threaded merging
    # leaves idle) beside the parcel features; not beside the built-up and owner overlays,
    # which hold the most memory. With a writer, the search
    # index (3 M rows) is handed over as parts the writer's thread makes one at a time, and
    # the orientation layers as soon as they are built. The excluded parcels wait for them
    # before they go to the writer (the layers keep their order); the stage's time is that
    # wait.
    index_layers: dict[str, gpd.GeoDataFrame] = {}
    scanned_mun = p.municipalities
    if codes:
        scanned_mun = scanned_mun[scanned_mun["gemeentecode"].isin(codes)]

    def build_and_hand_over_index() -> None:
        zoning = layers.get("zoning")
        if on_layer is None:
            index_layers.update(build_index_layers(p.parcels, p.units, scanned_mun, zoning))
            return
        if len(p.units) + len(p.parcels) > INDEX_PART_ROWS:
            # The search index in parts, each made by the writer's thread when it takes it
            # and written before the next is made: 0.1 GB at a time, not 1.2 GB for the 3 M
            # rows of the province beside the parcel features' overlays, which hold the most
            # memory. (The index of at most INDEX_PART_ROWS units and parcels, a municipality's,
            # is built whole here, and written in this process when it is small.)
            on_layer("zoekindex", search_index_parts(p.parcels, p.units))
            index_layers["zoekindex"] = empty_search_index()
            built = orientation_layers(p.units, scanned_mun, zoning)
        else:
            built = build_index_layers(p.parcels, p.units, scanned_mun, zoning)
        while built:
            name = next(iter(built))
            index_layers[name] = emit(None, name, built.pop(name))

    index_job: list[Callable[[], None]] = []

    def start_index() -> None:
        index_job.append(in_background(build_and_hand_over_index))

    def hand_over_index() -> None:
        with stages.stage("search_index"):
            while index_job:
                index_job.pop()()

    def score(type_name: str, table: pd.DataFrame) -> pd.DataFrame:
        type_config = config.types.get(type_name)
        if type_config is None:
            return empty_reasons()
        cand, excl = score_table(table, type_config, type_name=type_name, rent_note=rent_note)
        candidate_pos[type_name] = np.sort(
            lookup_positions(table.index, cand.index.to_numpy(dtype=object))
        )
        candidates[type_name] = emit(type_name, TYPE_LAYERS[type_name], cand.reset_index())
        return excl

    # Parcels: features, scoring, exclusion reasons. The excluded parcels (nine in ten) are
    # known as soon as the exclusion columns are: they go to the writer before the other
    # features and the scoring of the candidates are computed.
    tl_config = config.types.get("tijdelijke_locatie")
    early: dict[str, Any] = {}

    def parcels_excluded(t: pd.DataFrame, keep: np.ndarray) -> bool:
        """Hands the excluded parcels to the writer; ``True``: the table keeps only the rest."""
        if tl_config is None or keep_features or not early_exclusion_possible(tl_config):
            return False
        hand_over_index()
        release_free_memory()  # what the rounds of features freed, before the reasons are made
        counts["parcels_rows"] = len(t)
        counts["merged_sites"] = int(t["merged"].sum())

        def layer() -> gpd.GeoDataFrame:
            out = early_excluded_parcels(t, keep, tl_config, p.parcels)
            counts["excluded_parcels"] = len(out)
            return out

        # The reasons of a million parcels are worded on a thread of their own while the
        # candidates' features, the scoring, the buildings and the units go on (a core
        # would wait otherwise); the writer takes the layer when it is ready, in its turn.
        job = in_background(layer)
        if on_layer is None:
            early["layer"] = job()
        else:
            on_layer("uitgesloten_percelen", job)
        early["live"] = keep
        return True

    parcel_feats = parcel_table(
        p.parcels,
        p.context_buildings,
        p.ctx,
        type_config=_type(config, "tijdelijke_locatie"),
        stages=stages,
        all_labels=False,
        on_first=parcels_excluded,
        after_parcels=start_index,
    )
    hand_over_index()
    if "live" in early:
        # The table holds only the rows the rules keep (the excluded ones are with the
        # writer): all of them are candidates.
        with stages.stage("score"):
            excl = score("tijdelijke_locatie", parcel_feats)
        if len(excl):
            raise RuntimeError("scoring excluded parcels that passed the exclusion rules")
        candidate_pos["tijdelijke_locatie"] = early["live"]
        excl_parcels = early.get("layer")
    else:
        counts["parcels_rows"] = len(parcel_feats)
        counts["merged_sites"] = int(parcel_feats["merged"].sum()) if len(parcel_feats) else 0
        with stages.stage("score"):
            excl = score("tijdelijke_locatie", parcel_feats)
        with stages.stage("summary"):
            excl_parcels = excluded_parcels(
                excl,
                p.parcels,
                parcel_feats,
                candidate_pos.get("tijdelijke_locatie"),
            )
            counts["excluded_parcels"] = len(excl_parcels)
            excl_parcels = emit(None, "uitgesloten_percelen", excl_parcels)
    if keep_features:
        features["parcels"] = parcel_feats
    del parcel_feats, excl

    # Buildings and shop units.
    b_feats, u_feats = _building_and_unit_tables(p, config, stages, in_scope_only=True)
    counts["buildings_rows"] = len(b_feats)
    counts["units_rows"] = len(u_feats)
    with stages.stage("score"):
        kantoor_excl = score("kantoortransformatie", b_feats)
        plint_excl = score("plinttransformatie", u_feats)
    with stages.stage("summary"):
        excl_buildings = excluded_buildings(
            p.buildings,
            b_feats,
            kantoor_excl,
            plint_excl,
            u_feats,
            candidate_pos.get("kantoortransformatie"),
        )
        counts["excluded_buildings"] = len(excl_buildings)
        excl_buildings = emit(None, "uitgesloten_panden", excl_buildings)
        if keep_features:
            features["buildings"], features["units"] = b_feats, u_feats
        del b_feats, u_feats
        mun = p.municipalities
        if codes:
            mun = mun[mun["gemeentecode"].isin(codes)].reset_index(drop=True)
        summary = summarise_gemeenten(mun, candidates, dwelling_stock=stock)
        scanned = codes or sorted(mun["gemeentecode"].astype(str).tolist())
    if excl_parcels is None:  # with the writer, which waits for the layer (and its error)
        excl_parcels = excluded_parcels(empty_reasons(), p.parcels, p.parcels)
    for type_name, cand in candidates.items():
        counts[f"{type_name}_candidates"] = len(cand)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    tiers = config.tiers.as_dict()
    return ScanResult(
        candidates=candidates,
        excluded_parcels=excl_parcels,
        excluded_buildings=excl_buildings,
        gemeenten=summary,
        timings=timings,
        counts=counts,
        gemeente_codes=scanned,
        reference_date=ref.isoformat(),
        tiers=tiers,
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        features=features,
        memory_gb=stages.memory,
        warnings=warnings,
        disclaimer=config.framing.disclaimer,
        index_layers=index_layers,
    )


def _vacancy_date(report: LoadReport) -> str | None:
    """The ``date`` of the vacancy source in sources.yaml (the data's reference date)."""
    for info in report.inputs:
        if info.source == "vacancy" and info.date:
            return str(info.date)
    return None


def _missing_input_warnings(p: Prepared, config: ScanConfig) -> list[str]:
    """Which configured rule could not be applied because its optional input is absent."""
    out = []
    columns = {
        rule.column
        for tc in config.types.values()
        for rule in (*tc.exclusions, *tc.attention, *tc.tier_caps)
    }
    stops = p.ctx.stops
    if "dist_ov_m" in columns and not (len(stops) and (stops["kind"] == "bus").any()):
        out.append(
            "transit_stops has no bus stops (within 5 km of the scanned municipalities): the "
            "distance to public transport is unknown, so the transit knock-out (dist_ov_m) was "
            "skipped; add the bus stops (e.g. the stops.txt of the national GTFS)"
        )
    if "dist_bsd_m" in columns and len(p.ctx.bsd) == 0:
        out.append("no bsd source (bestaand stads- en dorpsgebied): the BSD rules were skipped")
    if columns & {"plan_jaren_tot_start", "beschikbaar_jaren"} and len(p.ctx.plans) == 0:
        out.append(
            "no housing_plans source: every site counts as 'no plan known' (available for the "
            "full permit term)"
        )
    for src in config.noise.values():
        if src.column != "noise_db" and src.column not in p.ctx.noise_grids:
            out.append(
                f"no noise raster for {src.label} ({src.column}): its noise rules were skipped"
            )
    return out
