"""The scan: canonical layers -> feature tables -> scored candidates and exclusion reasons.

Three stages, each pure (GeoDataFrames in, GeoDataFrames out):

1. :func:`build_feature_tables` computes the feature tables of docs/contracts.md §E
   (``parcels`` with merged sites, ``buildings``, shop ``units``) with the functions of
   :mod:`pipeline.features`;
2. :func:`run_scan` scores each table with :func:`pipeline.scoring.score_table`, keeps the
   exclusion reasons of every parcel and building, and summarises per municipality;
3. :func:`run_scan_command` (``kansenkaart scan``) reads the sources, runs the scan with rich
   progress, writes the GeoPackage atomically (:func:`pipeline.export.write_result`) and
   prints a summary.

Results do not depend on the row order of the inputs (every layer is sorted by its key
first) and vacancy durations are measured against a fixed reference date, so the same input
and config give identical layers.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline.features import bag as fbag
from pipeline.features import overlap as fov
from pipeline.features import proximity as fprox
from pipeline.features._spatial import (
    geometry_array,
    is_rectangle,
    lookup_positions,
    query_pairs,
    representative_points,
    tile_complex,
)
from pipeline.features.municipality import assign_gemeentecode
from pipeline.features.noise import NoiseGrid, mean_noise, read_noise_grid
from pipeline.schemas import (
    COMMON_FEATURE_COLUMNS,
    CRS,
    GEBRUIKSDOELEN,
    STOP_KINDS,
    TABLE_FEATURE_COLUMNS,
    ZONE_KINDS,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

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

#: Amenity kinds: feature name -> BAG gebruiksdoel.
AMENITIES = {
    "winkel": "winkelfunctie",
    "onderwijs": "onderwijsfunctie",
    "gezondheidszorg": "gezondheidszorgfunctie",
}
#: Amenity counts: column -> (amenity, radius in m).
AMENITY_COUNTS = {
    "n_winkel_500m": ("winkel", 500.0),
    "n_onderwijs_2km": ("onderwijs", 2000.0),
    "n_gezondheidszorg_2km": ("gezondheidszorg", 2000.0),
}
#: How far around the scanned objects context layers (stops, amenities) are kept (m).
CONTEXT_MARGIN_M = 5_000.0
#: Defaults for merging small parcels when the config has no such exclusions.
DEFAULT_MIN_SITE_AREA_M2 = 1_500.0
DEFAULT_MAX_BUILT_UP = 0.10
#: A merged site has at most this many parcels and fills at least this share of its convex
#: hull (a compact plot, not a long strip of verges).
MERGE_MAX_PARCELS = 10
MERGE_MIN_COMPACTNESS = 0.6
#: Parcels only merge when they share at least this much boundary (m), not just a corner.
MERGE_MIN_SHARED_EDGE_M = 1.0
#: Residential density used for the parcels' capacity estimate (units per hectare).
UNITS_PER_HA = 40.0

COMMON_COLUMNS = ("gemeentecode", "gemeentenaam", *COMMON_FEATURE_COLUMNS[1:])
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "parcels": (
        "site_id",
        "label",
        *COMMON_COLUMNS,
        *TABLE_FEATURE_COLUMNS["parcels"],
        "parcel_ids",
    ),
    "buildings": ("site_id", "label", *COMMON_COLUMNS, *TABLE_FEATURE_COLUMNS["buildings"]),
    "units": (
        "site_id",
        "label",
        *COMMON_COLUMNS,
        "pand_id",
        "straatnaam",
        *TABLE_FEATURE_COLUMNS["units"],
    ),
}
TABLE_INDEX = {"parcels": "parcel_id", "buildings": "pand_id", "units": "vbo_id"}
STAGES = (
    ("prepare", "preparing layers"),
    ("parcels", "parcels: built-up, owner, merging"),
    ("parcel_features", "parcels: features"),
    ("buildings", "buildings: features"),
    ("units", "shop units: features"),
    ("score", "scoring"),
    ("summary", "exclusion reasons and summary"),
)


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
    #: Resident memory (GB) of the scan process at the end of each stage.
    memory_gb: dict[str, float] = field(default_factory=dict)

    @property
    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The result layers by their GeoPackage name (what :mod:`pipeline.export` writes)."""
        out = {TYPE_LAYERS[t]: gdf for t, gdf in self.candidates.items()}
        out["gemeenten"] = self.gemeenten
        out["uitgesloten_percelen"] = self.excluded_parcels
        out["uitgesloten_panden"] = self.excluded_buildings
        return out

    @property
    def feature_counts(self) -> dict[str, int]:
        return self.counts


# --------------------------------------------------------------------------- progress


def _rss_gb() -> float:
    """This process's resident memory now (GB; Linux ``/proc``, else 0)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3
    except (OSError, ValueError, IndexError):
        return 0.0


class _Stages:
    """Reports stages to a rich ``Progress`` (when given), times them and notes the memory.

    A stage may be entered several times (scoring runs per table); its times add up, and the
    progress bar advances once per stage.
    """

    def __init__(self, progress: Progress | None, timings: dict[str, float]) -> None:
        self.progress = progress
        self.timings = timings
        #: Resident memory (GB) at the end of each stage, the largest if entered repeatedly.
        self.memory: dict[str, float] = {}
        self.task = progress.add_task("scan", total=len(STAGES)) if progress is not None else None

    @contextmanager
    def stage(self, key: str) -> Iterator[None]:
        label = dict(STAGES)[key]
        first = key not in self.timings
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=f"scan: {label}")
        t0 = time.perf_counter()
        yield
        self.timings[key] = round(self.timings.get(key, 0.0) + time.perf_counter() - t0, 3)
        self.memory[key] = round(max(self.memory.get(key, 0.0), _rss_gb()), 2)
        if self.progress is not None and self.task is not None and first:
            self.progress.advance(self.task)


# --------------------------------------------------------------------------- inputs


def _gdf(layers: Mapping[str, Any], name: str, *, key: str | None) -> gpd.GeoDataFrame:
    """A canonical layer as a GeoDataFrame sorted by its key (row-order independence)."""
    df = layers.get(name)
    if df is None:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    if not isinstance(df, gpd.GeoDataFrame):
        df = gpd.GeoDataFrame(df, geometry=df["geometry"], crs=CRS) if "geometry" in df else df
    if key is not None and key in df.columns:
        keys = df[key].to_numpy(dtype=object, na_value=None).astype(str)
        if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():
            order = np.argsort(keys, kind="stable")
            df, keys = df.iloc[order], keys[order]
        # Already sorted (the readers' usual order): no copy of the layer (copy-on-write).
        df = df.drop(columns=[key])
        df.index = pd.Index(keys, dtype=object, name=key)
    elif isinstance(df, gpd.GeoDataFrame) and len(df):
        # No key: sort by the attribute values and the geometry (bounds and area; the WKB
        # itself only for rows that tie on all of those).
        geoms = geometry_array(df)
        cols = [c for c in df.columns if c != df.geometry.name]
        keys = df[cols].astype(str).reset_index(drop=True)
        bounds = shapely.bounds(geoms)
        geo = ["__x0", "__y0", "__x1", "__y1", "__area"]
        for k, name in enumerate(geo[:4]):
            keys[name] = bounds[:, k]
        keys["__area"] = shapely.area(geoms)
        tied = keys.duplicated(keep=False).to_numpy()
        keys["__wkb"] = ""
        if tied.any():
            keys.loc[tied, "__wkb"] = shapely.to_wkb(geoms[tied], hex=True)
        order = keys.sort_values([*cols, *geo, "__wkb"], kind="mergesort").index.to_numpy()
        df = df.iloc[order].reset_index(drop=True)
    return df


def _tiled(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer with complex polygons cut into tiles (attributes repeated per tile)."""
    if len(gdf) == 0:
        return gdf
    pieces, source = tile_complex(geometry_array(gdf))
    if pieces is geometry_array(gdf) or (
        len(source) == len(gdf) and (source == np.arange(len(gdf))).all()
    ):
        return gdf
    out = gdf.iloc[source].copy()
    return out.set_geometry(gpd.GeoSeries(pieces, index=out.index, crs=gdf.crs))


def _table_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df if not isinstance(df, gpd.GeoDataFrame) else pd.DataFrame(df)


def _threshold(type_config: Any, column: str, ops: tuple[str, ...], default: float) -> float:
    """The value of the first exclusion rule on ``column`` with one of ``ops`` (else default)."""
    for rule in getattr(type_config, "exclusions", []) or []:
        if rule.column == column and rule.op in ops and isinstance(rule.value, int | float):
            return float(rule.value)
    return default


def _type(config: Any, name: str) -> Any:
    """The type block ``name`` of a ScanConfig (``None`` without config)."""
    types = getattr(config, "types", None)
    return types.get(name) if isinstance(types, Mapping) else None


def _reference_date(config: Any, reference_date: dt.date | str | None) -> dt.date:
    for value in (reference_date, getattr(config, "reference_date", None)):
        if value:
            return pd.Timestamp(value).date()
    return dt.datetime.now(dt.UTC).date()


@dataclass
class _Context:
    """Everything the common features need, prepared once."""

    municipalities: gpd.GeoDataFrame
    names: dict[str, str]
    zoning: gpd.GeoDataFrame
    ownership: gpd.GeoDataFrame
    stops: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    amenities: dict[str, gpd.GeoDataFrame]
    all_units: gpd.GeoDataFrame
    non_residential: np.ndarray
    noise: NoiseGrid | None


def _fmin(cols: Mapping[str, pd.Series], kinds: tuple[str, ...], name: str) -> pd.Series:
    """Element-wise minimum of ``dist_<kind>_m`` over kinds, ignoring NaN (all NaN -> NaN)."""
    stacked = np.vstack([cols[f"dist_{k}_m"].to_numpy(float) for k in kinds])
    with np.errstate(invalid="ignore"):
        v = np.fmin.reduce(stacked, axis=0)
    return pd.Series(v, index=cols[f"dist_{kinds[0]}_m"].index, name=name)


#: Groups of common columns computed together, and what each costs to compute.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "owner": ("owner_class", "is_provincial"),
    "zoning": ("zoning_hoofdgroep",),
    "transit": (
        *(f"dist_{k}_m" for k in STOP_KINDS),
        "dist_rail_m",
        "dist_station_m",
        "dist_hov_m",
    ),
    "amenities": (*AMENITY_COUNTS, *(f"dist_{k}_m" for k in AMENITIES)),
    "noise": ("noise_db",),
    "zones": (*(f"zone_{k}_frac" for k in ZONE_KINDS), "in_kernwinkelgebied"),
    "mixed": ("mixed_use_500m",),
}
ALL_GROUPS = frozenset(GROUP_COLUMNS)
#: Derived table columns and the groups they are computed from.
DERIVED_GROUPS: dict[str, set[str]] = {
    "zoning_wonen_realised": {"zoning"},
    "site_readiness": {"zoning", "transit"},
    "secondary_street": {"zones"},
}


#: Column order of :func:`common_features` (independent of which task finished first).
_COMMON_ORDER = (
    "gemeentecode",
    "gemeentenaam",
    *(
        c
        for g in ("owner", "zoning", "transit", "amenities", "noise", "zones", "mixed")
        for c in GROUP_COLUMNS[g]
    ),
)


def _groups_for(columns: set[str]) -> set[str]:
    groups: set[str] = set()
    for col in columns:
        groups |= DERIVED_GROUPS.get(col, set())
        groups |= {g for g, cols in GROUP_COLUMNS.items() if col in cols}
    return groups


def _threads() -> int:
    """Threads for independent feature groups: ``KANSENKAART_THREADS`` or 2 (1 = serial)."""
    value = os.environ.get("KANSENKAART_THREADS", "").strip()
    if value.isdigit() and int(value) >= 1:
        return min(int(value), 2)
    return min(2, os.cpu_count() or 1)


def _concurrently(*tasks: Callable[[], Any]) -> list[Any]:
    """Run independent tasks on two threads and return their results in order.

    The feature functions spend most of their time in shapely (GEOS), numpy and pyarrow,
    which release the GIL, so two threads use both cores. Tasks must not prepare
    (``shapely.prepare``) geometries another task uses: each overlays the objects with its
    own context layer (which it may prepare), and none prepares the objects themselves.
    """
    if len(tasks) < 2 or _threads() < 2:
        return [t() for t in tasks]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kansenkaart-scan") as pool:
        futures = [pool.submit(t) for t in tasks]
        return [f.result() for f in futures]


def common_features(
    objects: gpd.GeoDataFrame, ctx: _Context, *, groups: set[str] | frozenset[str] = ALL_GROUPS
) -> pd.DataFrame:
    """The columns every feature table shares (contracts §E), aligned to ``objects``.

    ``gemeentecode`` and ``gemeentenaam`` always; the other columns per group in ``groups``
    (see :data:`GROUP_COLUMNS`). Independent groups are computed on two threads.
    """
    cols: dict[str, pd.Series] = {}
    code = (
        objects["gemeentecode"]
        if "gemeentecode" in objects
        else pd.Series(None, index=objects.index)
    )
    missing = code.isna()
    if missing.any() and len(ctx.municipalities):
        filled = assign_gemeentecode(objects.loc[missing], ctx.municipalities)
        code = code.astype(object).copy()
        code.loc[missing] = filled.astype(object).where(filled.notna(), None)
    cols["gemeentecode"] = code.astype(object).rename("gemeentecode")
    # Map the few distinct codes, not a million rows.
    codes, uniques = pd.factorize(code, use_na_sentinel=True)
    names = np.array([ctx.names.get(str(u)) for u in uniques] + [None], dtype=object)
    cols["gemeentenaam"] = pd.Series(names[codes], index=objects.index, name="gemeentenaam")

    def owner() -> dict[str, pd.Series]:
        if "owner_class" in objects:
            owner = objects["owner_class"]
        else:
            owner = fov.owner_class(objects, ctx.ownership)
        return {"owner_class": owner, "is_provincial": fov.is_provincial(owner)}

    def zoning() -> dict[str, pd.Series]:
        return {"zoning_hoofdgroep": fov.zoning_hoofdgroep(objects, ctx.zoning)}

    def zones() -> dict[str, pd.Series]:
        fracs = fov.zone_fractions(objects, ctx.zones, kinds=ZONE_KINDS)
        out = {col: fracs[col] for col in fracs.columns}
        out["in_kernwinkelgebied"] = (out["zone_kernwinkelgebied_frac"] >= 0.5).rename(
            "in_kernwinkelgebied"
        )
        return out

    def proximity() -> dict[str, pd.Series]:
        # Proximity is measured from the representative point: compute it once.
        points = gpd.GeoDataFrame(
            geometry=representative_points(geometry_array(objects)), index=objects.index, crs=CRS
        )
        out: dict[str, pd.Series] = {}
        if "transit" in groups:
            for kind in STOP_KINDS:
                out[f"dist_{kind}_m"] = fprox.distance_to_stop(points, ctx.stops, kinds=kind)
            out["dist_rail_m"] = _fmin(out, ("trein", "metro", "tram"), "dist_rail_m")
            out["dist_station_m"] = out["dist_trein_m"].rename("dist_station_m")
            out["dist_hov_m"] = _fmin(out, ("bus", "tram", "metro"), "dist_hov_m")
        if "amenities" in groups:
            for col, (kind, radius) in AMENITY_COUNTS.items():
                out[col] = fprox.count_within(points, ctx.amenities[kind], radius=radius, name=col)
            for kind in AMENITIES:
                col = f"dist_{kind}_m"
                out[col] = fprox.distance_to_nearest(points, ctx.amenities[kind], name=col)
        if "mixed" in groups:
            out["mixed_use_500m"] = fprox.mixed_use_share(
                points, ctx.all_units, ctx.non_residential
            )
        return out

    def noise() -> dict[str, pd.Series]:
        return {"noise_db": mean_noise(objects, ctx.noise)}

    tasks: list[Callable[[], dict[str, pd.Series]]] = []
    if "noise" in groups:
        tasks.append(noise)
    if "owner" in groups:
        tasks.append(owner)
    if "zoning" in groups:
        tasks.append(zoning)
    if "zones" in groups:
        tasks.append(zones)
    if groups & {"transit", "amenities", "mixed"}:
        tasks.append(proximity)
    for part in _concurrently(*tasks):
        cols.update(part)
    order = [c for c in _COMMON_ORDER if c in cols]
    return pd.DataFrame({c: cols[c] for c in order}, index=objects.index)


def _fill_rows(frame: pd.DataFrame, index: pd.Index, positions: np.ndarray) -> pd.DataFrame:
    """``frame`` (the rows at ``positions`` of ``index``) spread out to all of ``index``.

    The other rows get NaN, False, 0 or None by dtype. Placed by position: no lookup of ids.
    """
    n = len(index)
    cols: dict[str, Any] = {}
    for col in frame.columns:
        values = frame[col]
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype):
            out = np.zeros(n, dtype=bool)
            out[positions] = values.to_numpy(dtype=bool, na_value=False)
        elif pd.api.types.is_integer_dtype(dtype):
            out = np.zeros(n, dtype=np.int64)
            out[positions] = values.to_numpy(dtype=np.int64, na_value=0)
        elif pd.api.types.is_float_dtype(dtype):
            out = np.full(n, np.nan)
            out[positions] = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            out = np.full(n, None, dtype=object)
            filled = values.to_numpy(dtype=object, copy=True)
            filled[values.isna().to_numpy()] = None
            out[positions] = filled
        cols[col] = out
    return pd.DataFrame(cols, index=index, columns=frame.columns)


def _with_common(
    objects: gpd.GeoDataFrame,
    base: pd.DataFrame,
    ctx: _Context,
    type_config: Any,
    derive: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    explain: np.ndarray | None = None,
    on_first: Callable[[pd.DataFrame, np.ndarray], None] | None = None,
) -> pd.DataFrame:
    """``base`` + the common columns + derived columns, computing little for excluded rows.

    First the columns the type's exclusion rules need are computed for every row; the rules
    are evaluated (:func:`pipeline.scoring.evaluate_exclusions`, as scoring will); the other
    columns (distances, counts, …) are computed only for the rows that survive. Excluded rows
    keep every column an exclusion reason uses, and NaN/0/False/None in the rest (they are
    not candidates, so no criterion reads them).

    ``explain`` (boolean mask) limits the first step: rows outside it that a rule on the
    ``base`` columns alone already excludes (a house is no office) get no spatial columns,
    so their reasons list only the base rules. Default: every row is explained in full.

    ``on_first(table, keep)`` is called once the exclusion columns are known, with the
    positions of the rows that pass the rules, before the other columns are computed (the
    scan hands the excluded parcels to the writer there).
    """
    from pipeline.scoring import evaluate_exclusions

    rules = list(getattr(type_config, "exclusions", None) or [])
    needed = {r.column for r in rules}
    first = _groups_for(needed) if rules else set(ALL_GROUPS)
    todo = np.ones(len(objects), dtype=bool)
    base_rules = [r for r in rules if r.column in base.columns]
    if explain is not None and base_rules:
        pre = evaluate_exclusions(base, base_rules, texts=False)["excluded"].to_numpy(dtype=bool)
        todo = ~pre | np.asarray(explain, dtype=bool)
    if todo.all():
        common = common_features(objects, ctx, groups=first)
    else:
        common = pd.concat(
            [
                common_features(objects, ctx, groups=set()),
                _fill_rows(
                    common_features(objects.iloc[np.flatnonzero(todo)], ctx, groups=first).drop(
                        columns=["gemeentecode", "gemeentenaam"]
                    ),
                    objects.index,
                    np.flatnonzero(todo),
                ),
            ],
            axis=1,
        )
    t = derive(pd.concat([base, common], axis=1))
    rest = ALL_GROUPS - first
    if not rest:
        return t
    if not needed <= set(t.columns):  # a rule on a column we cannot pre-compute: do it all
        t = pd.concat([t, common_features(objects, ctx, groups=rest)], axis=1)
        return derive(t)
    keep = np.flatnonzero(~evaluate_exclusions(t, rules, texts=False)["excluded"].to_numpy(bool))
    if on_first is not None:
        on_first(t, keep)
    more = common_features(objects.iloc[keep], ctx, groups=rest)
    more = more.drop(columns=["gemeentecode", "gemeentenaam"])
    t = pd.concat([t, _fill_rows(more, objects.index, keep)], axis=1)
    return derive(t)


# --------------------------------------------------------------------------- parcels


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component labels (smallest member index) of an undirected graph (vectorised)."""
    labels = np.arange(n)
    if len(a) == 0:
        return labels
    while True:
        m = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]  # pointer jumping
        while True:
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, labels):
            return labels
        labels = new


def _shared_edge_lengths(geoms: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Length of the common boundary of ``geoms[a]`` and ``geoms[b]`` (m), pair by pair.

    Two rectangles that touch share the overlap of their sides (from the bounds alone);
    other pairs intersect their boundaries.
    """
    bounds = shapely.bounds(geoms)
    rect = is_rectangle(geoms, bounds)
    ba, bb = bounds[a], bounds[b]
    w = np.minimum(ba[:, 2], bb[:, 2]) - np.maximum(ba[:, 0], bb[:, 0])
    h = np.minimum(ba[:, 3], bb[:, 3]) - np.maximum(ba[:, 1], bb[:, 1])
    shared = np.zeros(len(a))
    fast = rect[a] & rect[b] & ((w <= 0) | (h <= 0))  # touching, not overlapping
    shared[fast] = np.where(w[fast] <= 0, np.maximum(h[fast], 0.0), np.maximum(w[fast], 0.0))
    shared[fast & (w < 0) | fast & (h < 0)] = 0.0  # apart (only their boxes' query matched)
    slow = np.flatnonzero(~fast)
    if len(slow):
        shared[slow] = shapely.length(
            shapely.intersection(shapely.boundary(geoms[a[slow]]), shapely.boundary(geoms[b[slow]]))
        )
    return shared


def merge_small_parcels(
    parcels: gpd.GeoDataFrame,
    *,
    owner_keys: pd.Series,
    built_up: pd.Series,
    min_area_m2: float = DEFAULT_MIN_SITE_AREA_M2,
    max_built_up: float = DEFAULT_MAX_BUILT_UP,
) -> gpd.GeoDataFrame:
    """Sites: each parcel, except adjacent small parcels of one owner merged into one plot.

    A parcel is a merge candidate when it is smaller than ``min_area_m2``, at most
    ``max_built_up`` built up, and has a known owner (:func:`pipeline.features.overlap.owner_key`).
    Candidates of the same owner and municipality that share at least 1 m of boundary form
    groups (connected components); a group becomes one site when together it reaches
    ``min_area_m2``, has at most 10 parcels and fills at least 60 % of its convex hull (a
    usable plot, not a strip of verges). Other parcels stay sites of their own.

    Returns
    -------
    GeoDataFrame
        Indexed by site id (the smallest parcel id of the site), with ``parcel_ids`` (sorted,
        comma-separated), ``n_parcels``, ``merged``, ``area_m2``, ``built_up_fraction``
        (area-weighted), ``gemeentecode``, ``owner_key``, the parcel label columns of the
        first parcel, and the (unioned) geometry.
    """
    geoms = geometry_array(parcels)
    area = shapely.area(geoms)
    ids = parcels.index.to_numpy(dtype=object)
    owner = owner_keys.reindex(parcels.index)
    code = parcels["gemeentecode"].astype("string").fillna("")
    cand = np.flatnonzero(
        (area < min_area_m2)
        & (built_up.reindex(parcels.index).to_numpy() <= max_built_up)
        & owner.notna().to_numpy()
    )
    group = np.arange(len(parcels))
    if len(cand) > 1:
        cg = geoms[cand]
        tree = shapely.STRtree(cg)
        a, b = query_pairs(cg, tree, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        okey = owner.to_numpy(dtype=object)[cand]
        ccode = code.to_numpy(dtype=object)[cand]
        same = (okey[a] == okey[b]) & (ccode[a] == ccode[b])
        a, b = a[same], b[same]
        if len(a):
            # Requiring a shared edge can only split groups: pairs in a group too small even
            # before that test can never form a site, so skip their (costly) edge overlay.
            pre = _components(len(cand), a, b)
            pre_tot = np.bincount(pre, weights=area[cand], minlength=len(cand))
            viable = pre_tot[pre[a]] >= min_area_m2
            a, b = a[viable], b[viable]
        if len(a):
            shared = _shared_edge_lengths(cg, a, b)
            edge = shared >= MERGE_MIN_SHARED_EDGE_M
            a, b = a[edge], b[edge]
        labels = _components(len(cand), a, b)
        size = np.bincount(labels, minlength=len(cand))
        tot = np.bincount(labels, weights=area[cand], minlength=len(cand))
        ok_group = (
            (size[labels] >= 2) & (size[labels] <= MERGE_MAX_PARCELS) & (tot[labels] >= min_area_m2)
        )
        if ok_group.any():
            members = np.flatnonzero(ok_group)
            lab = labels[members]
            # Compactness of each prospective site: area / convex hull area.
            grouped = pd.Series(list(cg[members]), index=lab).groupby(level=0)
            union = grouped.agg(lambda s: shapely.union_all(np.asarray(s, dtype=object)))
            hull = shapely.area(shapely.convex_hull(union.to_numpy(dtype=object)))
            compact = pd.Series(
                np.where(hull > 0, tot[union.index.to_numpy()] / np.maximum(hull, 1e-9), 0.0),
                index=union.index,
            )
            good = compact >= MERGE_MIN_COMPACTNESS
            sel = good.reindex(lab).to_numpy()
            group[cand[members[sel]]] = cand[lab[sel]]
    # Build the site table: group id = position of the group's representative parcel.
    df = pd.DataFrame(
        {
            "group": group,
            "pid": ids,
            "area": area,
            "built": built_up.reindex(parcels.index).to_numpy() * area,
        },
        index=parcels.index,
    )
    single = np.bincount(group, minlength=len(parcels))[group] == 1
    sites = parcels.copy(deep=False) if single.all() else parcels.loc[single].copy()
    sites["parcel_ids"] = sites.index.astype(str)
    sites["n_parcels"] = 1
    sites["merged"] = False
    sites["area_m2"] = area[single]
    sites["built_up_fraction"] = built_up.reindex(parcels.index).to_numpy()[single]
    sites["owner_key"] = owner.to_numpy(dtype=object)[single]
    if (~single).any():
        multi = df.loc[~single].sort_values(["group", "pid"], kind="mergesort")
        agg = multi.groupby("group", sort=True).agg(
            first=("pid", "first"),
            parcel_ids=("pid", lambda s: ",".join(sorted(map(str, s)))),
            n_parcels=("pid", "size"),
            area=("area", "sum"),
            built=("built", "sum"),
        )
        mgeoms = (
            pd.Series(list(geoms[~single]), index=group[~single])
            .groupby(level=0)
            .agg(lambda s: shapely.union_all(np.asarray(s, dtype=object)))
        )
        first_rows = parcels.loc[agg["first"].to_numpy()]
        merged = first_rows.copy()
        merged["parcel_ids"] = agg["parcel_ids"].to_numpy()
        merged["n_parcels"] = agg["n_parcels"].to_numpy()
        merged["merged"] = True
        merged["area_m2"] = agg["area"].to_numpy()
        merged["built_up_fraction"] = np.where(agg["area"] > 0, agg["built"] / agg["area"], 0.0)
        merged["owner_key"] = owner.loc[agg["first"].to_numpy()].to_numpy(dtype=object)
        merged = merged.set_geometry(
            gpd.GeoSeries(
                mgeoms.reindex(agg.index).to_numpy(dtype=object),
                index=merged.index,
                crs=parcels.crs,
            )
        )
        sites = pd.concat([sites, merged])
    if not sites.index.is_monotonic_increasing:
        sites = sites.sort_index(kind="mergesort")
    sites.index.name = "parcel_id"
    return gpd.GeoDataFrame(sites, geometry=sites.geometry.name, crs=parcels.crs)


def _parcel_labels(sites: pd.DataFrame) -> pd.Series:
    """``Perceel SGR01 B 1234, 2.300 m²`` (or the parcel id); merged: ``3 percelen vanaf …``."""
    from pipeline.scoring.text import format_values

    n = len(sites)
    if n == 0:
        return pd.Series([], index=sites.index, dtype=object)
    parts = [c for c in ("akr_code", "sectie", "perceelnummer") if c in sites]
    if len(parts) == 3:
        kad = (
            sites["akr_code"].astype("string").fillna("")
            + " "
            + sites["sectie"].astype("string").fillna("")
            + " "
            + sites["perceelnummer"].astype("string").fillna("")
        ).str.strip()
        kad = kad.where(
            sites["akr_code"].notna() & sites["perceelnummer"].notna(),
            pd.Series(sites.index, index=sites.index),
        )
    else:
        kad = pd.Series(sites.index.astype(str), index=sites.index)
    area = pd.Series(format_values(sites["area_m2"], "m2"), index=sites.index)
    single = "Perceel " + kad.astype(str) + ", " + area
    multi = sites["n_parcels"].astype(str) + " percelen vanaf " + kad.astype(str) + ", " + area
    return single.where(~sites["merged"].astype(bool), multi).astype(object)


def parcel_table(
    parcels: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    ctx: _Context,
    *,
    type_config: Any = None,
    stages: _Stages | None = None,
    all_labels: bool = True,
    on_first: Callable[[pd.DataFrame, np.ndarray], None] | None = None,
) -> gpd.GeoDataFrame:
    """The ``parcels`` feature table (contracts §E): one row per parcel or merged site.

    With ``all_labels=False`` (the scan), ``site_id`` and ``label`` are only made for the
    rows the type's exclusion rules keep (the candidates); excluded rows get ``None``.
    """
    min_area = _threshold(type_config, "area_m2", ("<", "<="), DEFAULT_MIN_SITE_AREA_M2)
    max_built = _threshold(type_config, "built_up_fraction", (">", ">="), DEFAULT_MAX_BUILT_UP)
    with stages.stage("parcels") if stages else _noop():
        # One overlay gives both: the key is "<class>|<owner>" of the largest-overlap owner.
        built, okey = _concurrently(
            lambda: fov.built_up_fraction(parcels, buildings),
            lambda: fov.owner_key(parcels, ctx.ownership),
        )
        owner = (
            okey.str.split("|", n=1).str[0].fillna(fov.UNKNOWN).astype(object).rename("owner_class")
        )
        sites = merge_small_parcels(
            parcels.assign(owner_class=owner),
            owner_keys=okey,
            built_up=built,
            min_area_m2=min_area,
            max_built_up=max_built,
        )
    with stages.stage("parcel_features") if stages else _noop():
        base = _table_frame(sites)[
            ["parcel_ids", "n_parcels", "merged", "area_m2", "built_up_fraction"]
        ].copy()
        base["capacity_units"] = np.floor(base["area_m2"] * UNITS_PER_HA / 10_000.0 + 1e-9).astype(
            np.int64
        )

        def derive(t: pd.DataFrame) -> pd.DataFrame:
            if "zoning_hoofdgroep" in t:
                is_wonen = t["zoning_hoofdgroep"].isin(["wonen", "woongebied"])
                t["zoning_wonen_realised"] = is_wonen & (t["built_up_fraction"] >= 0.10)
                if "dist_bus_m" in t:
                    t["site_readiness"] = site_readiness(
                        t["built_up_fraction"],
                        t["zoning_hoofdgroep"],
                        t["dist_bus_m"],
                        t["dist_rail_m"],
                    )
            return t

        t = _with_common(sites, base, ctx, type_config, derive, on_first=on_first)
        live = np.arange(len(t))
        rules = list(getattr(type_config, "exclusions", None) or [])
        if not all_labels and rules and {r.column for r in rules} <= set(t.columns):
            from pipeline.scoring import evaluate_exclusions

            excluded = evaluate_exclusions(t, rules, texts=False)["excluded"].to_numpy(bool)
            live = np.flatnonzero(~excluded)
        site_id = np.full(len(t), None, dtype=object)
        label = np.full(len(t), None, dtype=object)
        site_id[live] = ("TL-" + t.index[live].astype(str)).to_numpy(dtype=object)
        kad = _table_frame(sites)[
            [c for c in ("akr_code", "sectie", "perceelnummer") if c in sites]
        ]
        label[live] = _parcel_labels(pd.concat([kad, t], axis=1).iloc[live]).to_numpy(dtype=object)
        t["site_id"] = site_id
        t["label"] = label
        t["n_parcels"] = t["n_parcels"].astype(np.int64)
        t["merged"] = t["merged"].astype(bool)
    out = gpd.GeoDataFrame(
        t[list(TABLE_COLUMNS["parcels"])], geometry=sites.geometry.to_numpy(), crs=CRS
    )
    out.index.name = "parcel_id"
    return out


def site_readiness(
    built_up_fraction: pd.Series, zoning: pd.Series, dist_bus_m: pd.Series, dist_rail_m: pd.Series
) -> pd.Series:
    """How ready a plot is for relocatable homes (0–1; 1 = bare and accessible).

    ``site_readiness = 0.6 × (1 − min(1, built_up / 0.10)) + 0.2 × accessible + 0.2 × buildable``
    where ``accessible`` = a bus stop within 1 km or rail/metro/tram within 2 km (a served,
    reachable place) and ``buildable`` = 1 unless the zoning is water, natuur or bos (0) or
    unknown (0.5).
    """
    bare = 1.0 - np.clip(built_up_fraction.to_numpy(float) / 0.10, 0.0, 1.0)
    access = ((dist_bus_m.fillna(np.inf) <= 1000) | (dist_rail_m.fillna(np.inf) <= 2000)).to_numpy(
        float
    )
    z = zoning.astype(str)
    buildable = np.where(
        z.isin(["water", "natuur", "bos"]), 0.0, np.where(z == "onbekend", 0.5, 1.0)
    )
    v = 0.6 * bare + 0.2 * access + 0.2 * buildable
    return pd.Series(np.round(v, 4), index=built_up_fraction.index, name="site_readiness")


@contextmanager
def _noop() -> Iterator[None]:
    yield


# --------------------------------------------------------------------------- buildings and units


def building_table(
    buildings: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    flags: pd.DataFrame,
    unit_years: pd.Series,
    unit_vacant: pd.Series,
    ctx: _Context,
    *,
    type_config: Any = None,
    in_scope_only: bool = False,
) -> gpd.GeoDataFrame:
    """The ``buildings`` feature table (contracts §E), one row per current building.

    Location columns are computed only for buildings that pass the type's exclusions (see
    :func:`_with_common`): most buildings have no office floor at all. With
    ``in_scope_only`` (the scan) the table keeps only the buildings with office floor area
    or a shop unit: the others can be neither a candidate nor listed as excluded.
    """
    floor = fbag.floor_area(buildings, units)
    office = fbag.office_floor_area(buildings, units, flags)
    t = pd.DataFrame(index=buildings.index)
    t["bouwjaar"] = pd.to_numeric(buildings["bouwjaar"], errors="coerce").astype("float64")
    t["bouwlagen"] = fbag.storeys(buildings, floor)
    t["floor_area_m2"] = floor
    t["office_floor_m2"] = office
    t["office_share"] = fbag.office_share(office, floor)
    t["vacant_share"] = fbag.building_vacant_share(buildings, units, unit_vacant)
    t["vacant_years"] = fbag.building_vacant_years(buildings, units, unit_years)
    t["energielabel"] = fbag.building_energielabel(buildings, units)
    t["capacity_units"] = np.floor(office * 0.7 / 40.0 + 1e-9).astype(np.int64)
    # Full reasons for the buildings uitgesloten_panden lists: office floor or a shop unit.
    shop_pos = fbag._building_pos(buildings, units.loc[flags["winkelfunctie"].to_numpy(bool)])
    hosts_shop = np.zeros(len(buildings), dtype=bool)
    hosts_shop[shop_pos[shop_pos >= 0]] = True
    explain = (np.nan_to_num(np.asarray(office, dtype=float)) > 0) | hosts_shop
    if in_scope_only:
        scope = np.flatnonzero(explain)
        t, buildings, office = (
            t.iloc[scope],
            buildings.iloc[scope],
            t["office_floor_m2"].iloc[scope],
        )
        explain = None
    t = _with_common(buildings, t, ctx, type_config, lambda frame: frame, explain=explain)
    t["site_id"] = "KT-" + t.index.astype(str)
    from pipeline.scoring.text import format_values

    yr = t["bouwjaar"]
    year = pd.Series(
        np.where(yr.notna(), " (" + yr.fillna(0).astype(np.int64).astype(str) + ")", ""),
        index=t.index,
    )
    t["label"] = (
        "Kantoorpand"
        + year.astype(str)
        + ", "
        + pd.Series(format_values(office, "m2"), index=t.index)
        + " kantoor"
    ).astype(object)
    out = gpd.GeoDataFrame(
        t[list(TABLE_COLUMNS["buildings"])], geometry=buildings.geometry.to_numpy(), crs=CRS
    )
    out.index.name = "pand_id"
    return out


def unit_table(
    units: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    flags: pd.DataFrame,
    unit_years: pd.Series,
    unit_vacant: pd.Series,
    bouwlagen: pd.Series,
    ctx: _Context,
    *,
    type_config: Any = None,
) -> gpd.GeoDataFrame:
    """The ``units`` feature table (contracts §E): the shop units (winkelfunctie) only.

    The owner of a unit is the owner of its building where known (a point is in or out of
    an ownership polygon; the building's footprint is the better measure).
    """
    ground = fbag.is_ground_floor_shop(units, buildings, flags, bouwlagen=bouwlagen)
    entrance = fbag.own_entrance(units, buildings)
    shop = flags["winkelfunctie"].to_numpy(bool)
    shops = units.loc[shop].copy()
    pos = fbag._building_pos(buildings, shops)
    hosts = np.unique(pos[pos >= 0])
    lookup = np.full(len(buildings), None, dtype=object)
    if len(hosts):
        lookup[hosts] = fov.owner_class(buildings.iloc[hosts], ctx.ownership).to_numpy(dtype=object)
    u_owner = np.full(len(shops), None, dtype=object)
    u_owner[pos >= 0] = lookup[pos[pos >= 0]]
    owner = pd.Series(u_owner, index=shops.index)
    unowned = owner.isna() | (owner == fov.UNKNOWN)
    if unowned.any():
        owner.loc[unowned] = fov.owner_class(shops.loc[unowned], ctx.ownership)
    shops["owner_class"] = owner
    t = pd.DataFrame(index=shops.index)
    t["pand_id"] = shops["pand_id"].astype(object)
    t["oppervlakte_m2"] = pd.to_numeric(shops["oppervlakte_m2"], errors="coerce").astype("float64")
    t["is_ground_floor_shop"] = ground.loc[shops.index]
    t["vacant_years"] = unit_years.loc[shops.index]
    t["is_vacant"] = unit_vacant.loc[shops.index]
    t["straatnaam"] = (
        shops["straatnaam"] if "straatnaam" in shops else pd.Series(None, index=shops.index)
    ).astype(object)
    keyed = pd.DataFrame({"gemeentecode": shops["gemeentecode"], "straatnaam": t["straatnaam"]})
    t["street_shop_units"] = fbag.street_shop_units(keyed)
    t["street_shop_vacancy"] = fbag.street_shop_vacancy(keyed, t["is_vacant"])
    t["own_entrance"] = entrance.loc[shops.index]
    t["capacity_units"] = np.maximum(
        1, np.floor(t["oppervlakte_m2"].fillna(0) / 40.0 + 1e-9)
    ).astype(np.int64)

    def derive(frame: pd.DataFrame) -> pd.DataFrame:
        if "in_kernwinkelgebied" in frame:
            frame["secondary_street"] = fbag.secondary_street(
                frame["street_shop_units"], frame["in_kernwinkelgebied"]
            )
        return frame

    t = _with_common(shops, t, ctx, type_config, derive)
    t["site_id"] = "PL-" + t.index.astype(str)
    from pipeline.scoring.text import format_values

    street = t["straatnaam"].fillna("onbekende straat").astype(str)
    t["label"] = (
        "Winkelruimte "
        + street
        + ", "
        + pd.Series(format_values(t["oppervlakte_m2"], "m2"), index=t.index)
    ).astype(object)
    out = gpd.GeoDataFrame(
        t[list(TABLE_COLUMNS["units"])], geometry=shops.geometry.to_numpy(), crs=CRS
    )
    out.index.name = "vbo_id"
    return out


# --------------------------------------------------------------------------- feature tables


def _context_bounds(objs: list[gpd.GeoDataFrame]) -> tuple[float, float, float, float] | None:
    bounds = [o.total_bounds for o in objs if len(o)]
    if not bounds:
        return None
    b = np.vstack(bounds)
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


def _clip_bbox(
    gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None, margin: float
) -> gpd.GeoDataFrame:
    if bbox is None or len(gdf) == 0:
        return gdf
    b = shapely.bounds(geometry_array(gdf))
    x0, y0, x1, y1 = bbox
    keep = (
        (b[:, 2] >= x0 - margin)
        & (b[:, 0] <= x1 + margin)
        & (b[:, 3] >= y0 - margin)
        & (b[:, 1] <= y1 + margin)
    )
    return gdf if keep.all() else gdf.loc[keep]


@dataclass
class _Prepared:
    """The layers of one scan, sorted and scoped, and the shared context (stage "prepare")."""

    ctx: _Context
    municipalities: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    context_buildings: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    flags: pd.DataFrame
    unit_years: pd.Series
    unit_vacant: pd.Series


def _prepare(
    layers: Mapping[str, Any],
    *,
    noise_path: Path | None,
    gemeenten: list[str] | None,
    ref: dt.date,
) -> _Prepared:
    sel = set(gemeenten) if gemeenten else None

    def scoped(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return df if sel is None else df[df["gemeentecode"].isin(sel)]

    # Independent steps run on two threads (sorting, tiling and flagging release the GIL
    # for much of their time); each works on its own layers.
    (parcels, buildings), units = _concurrently(
        lambda: (
            scoped(_gdf(layers, "parcels", key="parcel_id")),
            _gdf(layers, "buildings", key="pand_id"),
        ),
        lambda: _gdf(layers, "units", key="vbo_id"),
    )
    scoped_b, scoped_u = scoped(buildings), scoped(units)
    vacancy = layers.get("vacancy")
    vacancy = vacancy if vacancy is not None else pd.DataFrame({"vbo_id": [], "vacant_since": []})
    bbox = _context_bounds([parcels, scoped_b, scoped_u])

    def context_layers() -> dict[str, Any]:
        mun = _gdf(layers, "municipalities", key=None)
        if "gemeentecode" in mun.columns:
            mun = mun.sort_values("gemeentecode", kind="mergesort").reset_index(drop=True)
        noise = None
        if noise_path is not None and bbox is not None and Path(noise_path).exists():
            noise = read_noise_grid(Path(noise_path), bounds=bbox)
        return {
            "mun": mun,
            "noise": noise,
            "zoning": _tiled(_clip_bbox(_gdf(layers, "zoning", key="zoning_id"), bbox, 0)),
            "ownership": _tiled(_clip_bbox(_gdf(layers, "ownership", key=None), bbox, 0)),
            "stops": _clip_bbox(
                _gdf(layers, "transit_stops", key="stop_id"), bbox, CONTEXT_MARGIN_M
            ),
            "zones": _tiled(_clip_bbox(_gdf(layers, "exclusion_zones", key=None), bbox, 0)),
            "context_buildings": _clip_bbox(buildings, _context_bounds([parcels]), 0),
        }

    def unit_layers() -> dict[str, Any]:
        all_units = _clip_bbox(units, bbox, CONTEXT_MARGIN_M)
        all_flags = fbag.use_flags(all_units, GEBRUIKSDOELEN)
        # The whole area: the scoped units are the context units, flag them once.
        flags = all_flags if scoped_u is all_units else fbag.use_flags(scoped_u, GEBRUIKSDOELEN)
        positions = fbag.building_positions(scoped_b, scoped_u)
        return {
            "all_units": all_units,
            "all_flags": all_flags,
            "flags": flags,
            "positions": positions,
            "unit_years": fbag.unit_vacant_years(scoped_u, vacancy, reference_date=ref),
            "unit_vacant": fbag.unit_is_vacant(scoped_u, vacancy, reference_date=ref),
        }

    c, u = _concurrently(context_layers, unit_layers)
    mun = c["mun"]
    all_units, all_flags = u["all_units"], u["all_flags"]
    amenities = {
        kind: gpd.GeoDataFrame(
            geometry=all_units.geometry[all_flags[use].to_numpy()].to_numpy(), crs=CRS
        )
        for kind, use in AMENITIES.items()
    }
    names = (
        dict(zip(mun["gemeentecode"].astype(str), mun["gemeentenaam"].astype(str), strict=False))
        if "gemeentenaam" in mun.columns
        else {}
    )
    ctx = _Context(
        municipalities=mun,
        names=names,
        zoning=c["zoning"],
        ownership=c["ownership"],
        stops=c["stops"],
        zones=c["zones"],
        amenities=amenities,
        all_units=all_units,
        non_residential=~all_flags["woonfunctie"].to_numpy(bool),
        noise=c["noise"],
    )
    return _Prepared(
        ctx=ctx,
        municipalities=mun,
        parcels=parcels,
        context_buildings=c["context_buildings"],
        buildings=scoped_b,
        units=scoped_u.assign(**{fbag.POS_COLUMN: u["positions"]}),
        flags=u["flags"],
        unit_years=u["unit_years"],
        unit_vacant=u["unit_vacant"],
    )


def _building_and_unit_tables(
    p: _Prepared, config: Any, stages: _Stages, *, in_scope_only: bool = False
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    with stages.stage("buildings"):
        buildings = building_table(
            p.buildings,
            p.units,
            p.flags,
            p.unit_years,
            p.unit_vacant,
            p.ctx,
            type_config=_type(config, "kantoortransformatie"),
            in_scope_only=in_scope_only,
        )
    with stages.stage("units"):
        if len(buildings) == len(p.buildings):
            bouwlagen = buildings["bouwlagen"]
        else:  # storeys of every building (the table holds only office/shop buildings)
            bouwlagen = fbag.storeys(p.buildings, fbag.floor_area(p.buildings, p.units))
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
    layers: Mapping[str, Any],
    *,
    noise_path: Path | None,
    config: Any = None,
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
    stages = _Stages(progress, {})
    ref = _reference_date(config, reference_date)
    with stages.stage("prepare"):
        p = _prepare(layers, noise_path=noise_path, gemeenten=gemeenten, ref=ref)
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


# --------------------------------------------------------------------------- scan


def _excluded_parcels(
    excluded: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    candidate_pos: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """One row per parcel of every excluded site (merged sites expand to their parcels).

    ``candidate_pos`` (the candidate sites' positions in ``sites``) allows a fast path when
    no site is merged.
    """
    cols = ["parcel_id", "gemeentecode", "reason_codes", "reasons"]
    if len(excluded) == 0:
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in cols}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS
        )
    if (
        candidate_pos is not None
        and len(sites) == len(parcels)
        and not sites["merged"].to_numpy(bool).any()
    ):
        # No merged sites: sites are the parcels, in the same (sorted) order, and the
        # excluded ones are all but the few candidates. No lookup of a million string ids.
        is_candidate = np.zeros(len(sites), dtype=bool)
        is_candidate[candidate_pos] = True
        ppos = np.flatnonzero(~is_candidate)
        if len(ppos) == len(excluded):
            geoms = geometry_array(parcels)[ppos]
            frame = pd.DataFrame(
                {
                    "parcel_id": excluded.index.to_numpy(dtype=object),
                    "gemeentecode": parcels["gemeentecode"].array.take(ppos),
                    "reason_codes": excluded["reason_codes"].array,
                    "reasons": excluded["reasons"].array,
                }
            )
            return gpd.GeoDataFrame(frame, geometry=geoms, crs=CRS)
    site_ids = excluded.index.to_numpy(dtype=object)
    pos = lookup_positions(sites.index, site_ids)
    n = sites["n_parcels"].to_numpy()[pos]
    parcel_ids = site_ids.copy()
    multi = np.flatnonzero(n > 1)
    reps = np.ones(len(site_ids), dtype=np.int64)
    if len(multi):
        split = [str(v).split(",") for v in sites["parcel_ids"].to_numpy(dtype=object)[pos[multi]]]
        reps[multi] = [len(x) for x in split]
    site_rep = np.repeat(np.arange(len(site_ids)), reps)
    pid = np.repeat(parcel_ids, reps)
    if len(multi):
        starts = np.cumsum(reps) - reps
        for k, parts in zip(multi, split, strict=True):
            pid[starts[k] : starts[k] + len(parts)] = parts
    ppos = lookup_positions(parcels.index, pid)
    frame = pd.DataFrame(
        {
            "parcel_id": pid,
            "gemeentecode": parcels["gemeentecode"].to_numpy(dtype=object, na_value=None)[ppos],
            "reason_codes": excluded["reason_codes"].to_numpy(dtype=object)[site_rep],
            "reasons": excluded["reasons"].to_numpy(dtype=object)[site_rep],
        }
    )
    order = np.argsort(pid.astype(str), kind="stable")
    frame = frame.iloc[order]
    geoms = geometry_array(parcels)[ppos[order]]
    return gpd.GeoDataFrame(frame[cols].reset_index(drop=True), geometry=geoms, crs=CRS)


def _excluded_buildings(
    buildings: gpd.GeoDataFrame,
    building_table: gpd.GeoDataFrame,
    kantoor_excluded: pd.DataFrame,
    plint_excluded: pd.DataFrame,
    unit_table: gpd.GeoDataFrame,
    candidate_pos: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Every scanned office or shop building that is not a ``kantoren`` candidate.

    ``candidate_pos`` (positions of the candidates in ``building_table``) saves a lookup of
    every building id.

    A building is in scope of the building types when it has office floor area (it could be
    a ``kantoortransformatie``) or hosts a shop unit (its units could be
    ``plinttransformatie``); each such non-candidate keeps both reason sets. Buildings with
    neither (homes, sheds, schools, …) are outside both types by definition; they are not
    listed one by one (over 95 % of all buildings), the api explains them with one rule.
    """
    from pipeline.scoring import group_reasons

    n = len(building_table)
    office = building_table["office_floor_m2"].to_numpy(float) if n else np.zeros(0)
    has_shop = np.zeros(n, dtype=bool)
    shop_pos = lookup_positions(
        building_table.index, unit_table["pand_id"].dropna().unique().astype(object)
    )
    has_shop[shop_pos[shop_pos >= 0]] = True
    if candidate_pos is None:
        is_excluded = building_table.index.isin(kantoor_excluded.index)
    else:
        is_excluded = np.ones(n, dtype=bool)
        is_excluded[candidate_pos] = False
    excl_pos = np.flatnonzero(is_excluded)  # the rows of kantoor_excluded, in its order
    keep_pos = np.flatnonzero(is_excluded & ((np.nan_to_num(office) > 0) | has_shop))
    if len(excl_pos) != len(kantoor_excluded):
        raise RuntimeError("excluded buildings do not match the building table")
    in_excl = np.searchsorted(excl_pos, keep_pos)
    keep = building_table.index[keep_pos]
    out = pd.DataFrame(index=keep)
    out.index.name = "pand_id"
    out["gemeentecode"] = building_table["gemeentecode"].to_numpy(dtype=object)[keep_pos]
    reason_codes = kantoor_excluded["reason_codes"].to_numpy(dtype=object, na_value="")
    reasons = kantoor_excluded["reasons"].to_numpy(dtype=object, na_value="")
    out["kantoor_reason_codes"] = reason_codes[in_excl]
    out["kantoor_reasons"] = reasons[in_excl]
    if len(plint_excluded):
        pe = plint_excluded.copy()
        if "pand_id" not in pe.columns:
            pe["pand_id"] = unit_table["pand_id"].reindex(pe.index).to_numpy()
        pe = pe[pe["pand_id"].notna()]
        grouped = group_reasons(
            pd.DataFrame(pe[["pand_id", "reason_codes", "reasons"]]), by="pand_id"
        )
    else:
        grouped = pd.DataFrame(
            {"reason_codes": pd.Series(dtype=object), "reasons": pd.Series(dtype=object)}
        )
    out["plint_reason_codes"] = grouped["reason_codes"].reindex(keep).fillna("").to_numpy()
    out["plint_reasons"] = grouped["reasons"].reindex(keep).fillna("").to_numpy()
    out = out.reset_index()
    if len(buildings) == n and buildings.index.equals(building_table.index):
        geoms = geometry_array(buildings)[keep_pos]
    else:
        geoms = geometry_array(buildings)[buildings.index.get_indexer(keep)]
    return gpd.GeoDataFrame(out, geometry=geoms, crs=CRS)


#: Candidate columns kept in memory after a layer was handed to ``on_layer``.
_SUMMARY_COLUMNS = ("site_id", "gemeentecode", "score", "tier", "capacity_units")


def _empty_reasons() -> pd.DataFrame:
    return pd.DataFrame(
        {"reason_codes": pd.Series(dtype=object), "reasons": pd.Series(dtype=object)}
    )


def run_scan(
    layers: Mapping[str, Any],
    *,
    noise_path: Path | None,
    config: Any = None,
    gemeenten: list[str] | None = None,
    progress: Progress | None = None,
    reference_date: dt.date | str | None = None,
    keep_features: bool = True,
    on_layer: Callable[[str, gpd.GeoDataFrame], None] | None = None,
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
        The noise GeoTIFF, or ``None``.
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
        Keep the feature tables in ``ScanResult.features`` (the command drops them to lower
        peak memory).
    on_layer
        Called as ``on_layer(layer_name, frame)`` for each finished result layer.

    Returns
    -------
    ScanResult
    """
    from pipeline.scoring import (
        evaluate_exclusions,
        load_config,
        score_table,
        summarise_gemeenten,
    )

    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    config = config if config is not None else load_config(None)
    timings: dict[str, float] = {}
    stages = _Stages(progress, timings)
    ref = _reference_date(config, reference_date)
    codes = sorted({str(g).strip().upper() for g in gemeenten}) if gemeenten else None
    with stages.stage("prepare"):
        p = _prepare(layers, noise_path=noise_path, gemeenten=codes, ref=ref)
    candidates: dict[str, gpd.GeoDataFrame] = {}
    counts: dict[str, int] = {}
    features: dict[str, gpd.GeoDataFrame] = {}

    def emit(type_name: str | None, layer: str, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if on_layer is None:
            return frame
        on_layer(layer, frame)
        if type_name is not None:  # keep what the summary needs
            return frame[[c for c in _SUMMARY_COLUMNS if c in frame.columns]]
        return frame.iloc[:0]

    candidate_pos: dict[str, np.ndarray] = {}

    def score(type_name: str, table: pd.DataFrame) -> pd.DataFrame:
        type_config = config.types.get(type_name)
        if type_config is None:
            return _empty_reasons()
        cand, excl = score_table(table, type_config, type_name=type_name)
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

    def parcels_excluded(t: pd.DataFrame, keep: np.ndarray) -> None:
        from pipeline.scoring.aggregate import capacity_units

        rules = list(tl_config.exclusions) if tl_config is not None else []
        if tl_config is None or any(r.column == "capacity_units" for r in rules):
            return  # exclusions on the configured capacity: decided by score_table
        work = t.assign(capacity_units=capacity_units(t, tl_config.capacity))
        ev = evaluate_exclusions(work, rules, texts=True)
        is_excl = ev["excluded"].to_numpy(bool)
        live = np.flatnonzero(~is_excl)
        if not np.array_equal(live, keep):
            return
        pos = np.flatnonzero(is_excl)
        excl = pd.DataFrame(
            {
                "n_parcels": t["n_parcels"].to_numpy()[pos],
                "parcel_ids": t["parcel_ids"].to_numpy(dtype=object)[pos],
                "reason_codes": ev["reason_codes"].array.take(pos),
                "reasons": ev["reasons"].array.take(pos),
            },
            index=t.index[pos],
        )
        layer = _excluded_parcels(excl, p.parcels, t, candidate_pos=live)
        counts["excluded_parcels"] = len(layer)
        early["layer"] = emit(None, "uitgesloten_percelen", layer)
        early["live"] = live

    parcel_feats = parcel_table(
        p.parcels,
        p.context_buildings,
        p.ctx,
        type_config=_type(config, "tijdelijke_locatie"),
        stages=stages,
        all_labels=False,
        on_first=parcels_excluded,
    )
    counts["parcels_rows"] = len(parcel_feats)
    counts["merged_sites"] = int(parcel_feats["merged"].sum()) if len(parcel_feats) else 0
    if "live" in early:
        # Only the rows the rules keep are scored: all of them are candidates.
        live = early["live"]
        kept = parcel_feats.iloc[live]
        if keep_features:
            features["parcels"] = parcel_feats
        del parcel_feats  # the excluded rows are written already: free them before scoring
        parcel_feats = kept
        with stages.stage("score"):
            excl = score("tijdelijke_locatie", kept)
        if len(excl):
            raise RuntimeError("scoring excluded parcels that passed the exclusion rules")
        candidate_pos["tijdelijke_locatie"] = live
        excl_parcels = early["layer"]
    else:
        with stages.stage("score"):
            excl = score("tijdelijke_locatie", parcel_feats)
        with stages.stage("summary"):
            excl_parcels = _excluded_parcels(
                excl,
                p.parcels,
                parcel_feats,
                candidate_pos.get("tijdelijke_locatie"),
            )
            counts["excluded_parcels"] = len(excl_parcels)
            excl_parcels = emit(None, "uitgesloten_percelen", excl_parcels)
    if keep_features and "parcels" not in features:
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
        excl_buildings = _excluded_buildings(
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
        summary = summarise_gemeenten(mun, candidates)
        scanned = codes or sorted(mun["gemeentecode"].astype(str).tolist())
    for type_name, cand in candidates.items():
        counts[f"{type_name}_candidates"] = len(cand)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    tiers = getattr(getattr(config, "tiers", None), "as_dict", lambda: None)()
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
    )


# --------------------------------------------------------------------------- command


def _vacancy_date(report: Any) -> str | None:
    """The ``date`` of the vacancy source in sources.yaml (the data's reference date)."""
    for info in getattr(report, "inputs", []) or []:
        if getattr(info, "source", None) == "vacancy" and getattr(info, "date", None):
            return str(info.date)
    return None


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
) -> ScanResult:
    """``kansenkaart scan``: read the sources, scan, write the GeoPackage, print a summary."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pipeline.catalog import load_sources, read_sources_yaml
    from pipeline.export import ResultWriter
    from pipeline.scoring import load_config

    t0 = time.perf_counter()
    config = load_config(config_path)
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
        layers, report = load_sources(sources, gemeenten=gemeenten, progress=progress)
        read_s = time.perf_counter() - t_read
        freeze()
        result = run_scan(
            layers,
            noise_path=sources.noise,
            config=config,
            gemeenten=gemeenten,
            progress=progress,
            reference_date=_vacancy_date(report),
            keep_features=False,
            on_layer=writer.add,
        )
        del layers
        result.timings["read"] = round(read_s, 3)
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
    repaired = sum(int(v) for v in (getattr(report, "repaired", {}) or {}).values())
    repaired_detail = (
        ", ".join(f"{k} {v}" for k, v in sorted((report.repaired or {}).items())) or "none"
    )
    console.print(
        f"municipalities: {len(result.gemeente_codes)}  ·  merged sites: {result.counts.get('merged_sites', 0):,}"
        f"  ·  excluded parcels: {result.counts.get('excluded_parcels', 0):,}  ·  excluded "
        f"office/shop buildings: {result.counts.get('excluded_buildings', 0):,}"
    )
    console.print(
        f"repaired geometries: {repaired:,} ({repaired_detail})  ·  vacancy reference date: {result.reference_date}"
    )
    for w in getattr(report, "warnings", []) or []:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(
        f"time: {result.timings['wall']:.1f} s (read {read_s:.1f} s, scan {result.timings.get('total', 0):.1f} s, "
        f"write {result.timings['write']:.1f} s)  ->  {out}"
    )
    return result
