"""Canonical layers: names, keys, columns, dtypes, geometry types and CRS, and their validator.

Every reader in :mod:`pipeline.sources` returns one of these layers (DESIGN.md §3), in
EPSG:28992, and :func:`validate_layer` checks it. The scan only ever sees canonical layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.errors import Problem

CRS = "EPSG:28992"
#: Generous bounds of the Netherlands in RD New (x_min, y_min, x_max, y_max).
NL_BOUNDS_RD = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
#: Zuid-Holland's extent in RD New, used by the sample generator.
ZUID_HOLLAND_BOUNDS_RD = (43_000.0, 406_000.0, 131_000.0, 480_000.0)

Kind = Literal["str", "int", "float", "date", "list", "bool"]
GeomKind = Literal["polygon", "point"] | None

GEBRUIKSDOELEN = (
    "woonfunctie",
    "bijeenkomstfunctie",
    "celfunctie",
    "gezondheidszorgfunctie",
    "industriefunctie",
    "kantoorfunctie",
    "logiesfunctie",
    "onderwijsfunctie",
    "sportfunctie",
    "winkelfunctie",
    "overige gebruiksfunctie",
)
PAND_STATUS_CURRENT = (
    "Bouw gestart",
    "Pand in gebruik",
    "Pand in gebruik (niet ingemeten)",
    "Verbouwing pand",
    "Pand buiten gebruik",
    "Sloopvergunning verleend",
)
PAND_STATUS_NOT_EXISTING = (
    "Bouwvergunning verleend",
    "Pand gesloopt",
    "Niet gerealiseerd pand",
    "Pand ten onrechte opgevoerd",
)
VBO_STATUS_CURRENT = (
    "Verblijfsobject in gebruik",
    "Verblijfsobject in gebruik (niet ingemeten)",
    "Verblijfsobject buiten gebruik",
    "Verbouwing verblijfsobject",
)
VBO_STATUS_NOT_EXISTING = (
    "Verblijfsobject gevormd",
    "Verblijfsobject ingetrokken",
    "Niet gerealiseerd verblijfsobject",
    "Verblijfsobject ten onrechte opgevoerd",
)
HOOFDGROEPEN = (
    "agrarisch",
    "agrarisch met waarden",
    "bedrijf",
    "bedrijventerrein",
    "bos",
    "centrum",
    "cultuur en ontspanning",
    "detailhandel",
    "dienstverlening",
    "gemengd",
    "groen",
    "horeca",
    "kantoor",
    "maatschappelijk",
    "natuur",
    "overig",
    "recreatie",
    "sport",
    "tuin",
    "verkeer",
    "water",
    "wonen",
    "woongebied",
)
OWNER_CLASSES = ("provincie", "gemeente", "rijk", "corporatie", "overig")
STOP_KINDS = ("trein", "metro", "tram", "bus")
#: Zone kinds the readers know. ``kernwinkelgebied`` is the core shopping area (not an
#: exclusion for every type: the scan config decides what each kind means).
ZONE_KINDS = (
    "natura2000",
    "nnn",
    "externe_veiligheid",
    "hoogspanning",
    "kernwinkelgebied",
    "waterkering",
    "geluidzone",
    # soft constraints (aandachtspunten, docs/contracts.md §E.7)
    "ev_aandachtsgebied",
    "bodem",
    "nge",
    "archeologie",
    "netcongestie",
    "milieuzonering",
    "stikstofgevoelig",
)
#: Statuses of a permanent housing plan (plan capacity): hard = adopted, zacht = in preparation.
PLAN_STATUSES = ("hard", "zacht")


#: Mean noise per object: the combined raster and one per source (dB; NaN without raster).
NOISE_COLUMNS = (
    "noise_db",
    "noise_road_db",
    "noise_rail_db",
    "noise_industry_db",
    "noise_aircraft_db",
)

#: The per-source noise rasters (sources.yaml key -> the feature column it fills).
NOISE_SOURCES = {
    "noise_road": "noise_road_db",
    "noise_rail": "noise_rail_db",
    "noise_industry": "noise_industry_db",
    "noise_aircraft": "noise_aircraft_db",
}

#: Feature columns every feature table carries (docs/contracts.md §E); the scan computes them
#: and a scan config may refer to them.
COMMON_FEATURE_COLUMNS = (
    "gemeentecode",
    "owner_class",
    "is_provincial",
    "zoning_hoofdgroep",
    "dist_trein_m",
    "dist_metro_m",
    "dist_tram_m",
    "dist_bus_m",
    "dist_rail_m",
    "dist_station_m",
    "dist_hov_m",
    "dist_ov_m",
    "n_winkel_500m",
    "n_onderwijs_2km",
    "n_gezondheidszorg_2km",
    "dist_winkel_m",
    "dist_onderwijs_m",
    "dist_gezondheidszorg_m",
    *NOISE_COLUMNS,
    "geluid_boven_grenswaarde",
    "geluid_boven_standaardwaarde",
    "noise_excess",
    *(f"zone_{kind}_frac" for kind in ZONE_KINDS),
    "in_kernwinkelgebied",
    "dist_stikstofgevoelig_m",
)


#: Type-specific feature columns a scan config may score on, per feature table (§E).
TABLE_FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "parcels": (
        "area_m2",
        "net_area_m2",
        "fits_min_width",
        "hard_zone_frac",
        "built_up_fraction",
        "largest_building_m2",
        "n_parcels",
        "merged",
        "zoning_wonen_realised",
        "site_readiness",
        "mixed_use_500m",
        "in_bsd",
        "dist_bsd_m",
        "plan_id",
        "plan_naam",
        "plan_status",
        "plan_startjaar",
        "plan_woningen",
        "plan_jaren_tot_start",
        "beschikbaarheid",
        "beschikbaar_tot",
        "beschikbaar_jaren",
    ),
    "buildings": (
        "bouwjaar",
        "bouwlagen",
        "floor_area_m2",
        "office_floor_m2",
        "office_share",
        "vacant_share",
        "vacant_office_floor_m2",
        "vacant_years",
        "energielabel",
        "mixed_use_500m",
    ),
    "units": (
        "oppervlakte_m2",
        "is_ground_floor_shop",
        "vacant_years",
        "is_vacant",
        "street_shop_units",
        "street_shop_vacancy",
        "winkelligging",
        "own_entrance",
    ),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    unique: bool = False


@dataclass(frozen=True)
class LayerSchema:
    name: str
    key: str | None
    geometry: GeomKind
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


MUNICIPALITIES = LayerSchema(
    "municipalities",
    "gemeentecode",
    "polygon",
    (
        Column("gemeentecode", "str", unique=True),
        Column("gemeentenaam", "str"),
    ),
)
PARCELS = LayerSchema(
    "parcels",
    "parcel_id",
    "polygon",
    (
        Column("parcel_id", "str", unique=True),
        Column("area_m2", "float"),
        Column("gemeentecode", "str", nullable=True),
        Column("kadastrale_grootte_m2", "float", required=False, nullable=True),
        Column("akr_code", "str", required=False, nullable=True),
        Column("sectie", "str", required=False, nullable=True),
        Column("perceelnummer", "str", required=False, nullable=True),
    ),
)
BUILDINGS = LayerSchema(
    "buildings",
    "pand_id",
    "polygon",
    (
        Column("pand_id", "str", unique=True),
        Column("bouwjaar", "int", nullable=True),
        Column("status", "str"),
        Column("gemeentecode", "str", nullable=True),
        Column("bouwlagen", "int", required=False, nullable=True),
    ),
)
UNITS = LayerSchema(
    "units",
    "vbo_id",
    "point",
    (
        Column("vbo_id", "str", unique=True),
        Column("pand_id", "str", nullable=True),
        Column("gebruiksdoel", "list", allowed=GEBRUIKSDOELEN),
        Column("oppervlakte_m2", "float", nullable=True),
        Column("status", "str"),
        Column("gemeentecode", "str", nullable=True),
        Column("straatnaam", "str", required=False, nullable=True),
        Column("energielabel", "str", required=False, nullable=True),
        # the main address (BAG nummeraanduiding), for the result's search index
        Column("postcode", "str", required=False, nullable=True),
        Column("huisnummer", "int", required=False, nullable=True),
        Column("huisletter", "str", required=False, nullable=True),
        Column("toevoeging", "str", required=False, nullable=True),
        Column("woonplaats", "str", required=False, nullable=True),
    ),
)
ZONING = LayerSchema(
    "zoning",
    "zoning_id",
    "polygon",
    (
        Column("zoning_id", "str", unique=True),
        Column("plan_id", "str"),
        Column("hoofdgroep", "str", allowed=HOOFDGROEPEN),
        Column("naam", "str", nullable=True),
    ),
)
VACANCY = LayerSchema(
    "vacancy",
    "vbo_id",
    None,
    (
        Column("vbo_id", "str", unique=True),
        Column("vacant_since", "date"),
        Column("source", "str", nullable=True),
    ),
)
OWNERSHIP = LayerSchema(
    "ownership",
    None,
    "polygon",
    (
        Column("owner_class", "str", allowed=OWNER_CLASSES),
        Column("owner_name", "str", nullable=True),
    ),
)
TRANSIT_STOPS = LayerSchema(
    "transit_stops",
    "stop_id",
    "point",
    (
        Column("stop_id", "str", unique=True),
        Column("kind", "str", allowed=STOP_KINDS),
        Column("naam", "str", required=False, nullable=True),
    ),
)
EXCLUSION_ZONES = LayerSchema(
    "exclusion_zones",
    None,
    "polygon",
    (
        Column("kind", "str", allowed=ZONE_KINDS),
        Column("naam", "str", required=False, nullable=True),
    ),
)

HOUSING_PLANS = LayerSchema(
    "housing_plans",
    "plan_id",
    "polygon",
    (
        Column("plan_id", "str", unique=True),
        Column("plan_name", "str", nullable=True),
        Column("homes", "int", nullable=True),
        Column("start_year", "int", nullable=True),
        Column("status", "str", allowed=PLAN_STATUSES),
    ),
)
BSD = LayerSchema(
    "bsd",
    None,
    "polygon",
    (Column("naam", "str", required=False, nullable=True),),
)

LAYERS: dict[str, LayerSchema] = {
    s.name: s
    for s in (
        MUNICIPALITIES,
        PARCELS,
        BUILDINGS,
        UNITS,
        ZONING,
        VACANCY,
        OWNERSHIP,
        TRANSIT_STOPS,
        EXCLUSION_ZONES,
        HOUSING_PLANS,
        BSD,
    )
}


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_GEOM_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
#: How many offending rows or values an error message lists before saying "and N more".
MAX_LISTED = 5


def format_rows(rows: Any, *, limit: int = MAX_LISTED) -> str:
    """``"3, 7, 12 (and 40 more)"`` for a list of row numbers or values."""
    items = list(rows)
    text = ", ".join(str(r) for r in items[:limit])
    if len(items) > limit:
        text += f" (and {len(items) - limit} more)"
    return text


#: pandas' default text dtype (pyarrow-backed, missing values are NaN).
_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def has_duplicates(values: pd.Series) -> bool:
    """Whether a column holds a value twice (nulls ignored); pyarrow's count_distinct is far
    faster than pandas' ``duplicated`` on arrow strings, so only duplicates pay for the latter."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) < 2:
        return False
    try:
        arr = pc.drop_null(pa.array(values, from_pandas=True))
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if len(arr) > 1 and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            # ids such as BAG's "0599100000000001": digits of one length map one-to-one to
            # integers, and sorting integers is much faster than hashing strings
            lengths = pc.min_max(pc.utf8_length(arr)).as_py()
            if (
                lengths["min"] == lengths["max"]
                and 0 < lengths["max"] <= 18
                and pc.all(pc.ascii_is_decimal(arr)).as_py()
            ):
                ints = np.sort(pc.cast(arr, pa.int64()).to_numpy())
                return bool((ints[1:] == ints[:-1]).any())
        return len(pc.unique(arr)) < len(arr)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return bool(values.dropna().duplicated().any())


def _coerce_column(
    values: pd.Series, col: Column, *, where: dict[str, object]
) -> tuple[pd.Series, list[Problem]]:
    """Convert a column to its canonical dtype; values that do not convert are problems."""
    problems: list[Problem] = []
    present = values.notna()
    if col.kind in ("int", "float"):
        converted = (
            pd.to_numeric(values, errors="coerce")
            if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
            else values
        )
        if pd.api.types.is_bool_dtype(values):
            converted = pd.Series(np.nan, index=values.index)
        bad = present & converted.isna()
        if col.kind == "int" and not bad.any():
            frac = converted.notna() & (converted.astype("float64") % 1 != 0)
            bad = bad | frac
        if bad.any():
            examples = format_rows([repr(v) for v in values[bad].head(MAX_LISTED)])
            problems.append(
                Problem(
                    f"{bad.sum()} value(s) are not {'whole numbers' if col.kind == 'int' else 'numbers'} "
                    f"(e.g. {examples})",
                    fix=f"write only numbers in column '{col.name}' (leave a cell empty when unknown)",
                    column=col.name,
                    row=format_rows(values.index[bad]),
                    **where,  # type: ignore[arg-type]
                )
            )
        if col.kind == "int":
            converted = converted.where(~bad).round().astype("Int64")
        else:
            converted = converted.where(~bad).astype("float64")
        return converted, problems
    if col.kind == "str":
        if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
            # ids written as numbers: render without a decimal point
            as_int = pd.to_numeric(values, errors="coerce")
            out = as_int.astype("Int64").astype("str").where(present)
        elif values.dtype == _STR:
            out = values  # already text with missing values as NaN: nothing to convert
        else:
            out = values.astype("str").where(present)
        return out, problems
    if col.kind == "date":
        converted = pd.to_datetime(values, errors="coerce", format="ISO8601")
        bad = present & converted.isna()
        if bad.any():
            problems.append(
                Problem(
                    f"{bad.sum()} value(s) are not dates (e.g. "
                    f"{format_rows([repr(v) for v in values[bad].head(MAX_LISTED)])})",
                    fix="write dates as YYYY-MM-DD",
                    column=col.name,
                    row=format_rows(values.index[bad]),
                    **where,  # type: ignore[arg-type]
                )
            )
        return converted, problems
    if col.kind == "bool":
        return values.astype("boolean"), problems
    if col.kind == "list":
        # readers build these columns; check every value of small layers, a sample of large
        step = max(1, len(values) // 20_000)
        sample = values.iloc[::step]
        is_list = sample.map(lambda v: isinstance(v, list | tuple | np.ndarray))
        bad = (present.iloc[::step] & ~is_list).reindex(values.index, fill_value=False)
        if bad.any():
            problems.append(
                Problem(
                    f"{bad.sum()} value(s) are not lists",
                    column=col.name,
                    row=format_rows(values.index[bad]),
                    **where,  # type: ignore[arg-type]
                )
            )
        return values, problems
    return values, problems  # pragma: no cover


def _repair_geometries(geoms: np.ndarray, polygonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """make_valid the invalid geometries; returns (geometries, mask of repaired ones).

    GEOS ``is_valid`` on every geometry: a shortcut that vouched for convex rings without GEOS
    cost more than it saved on real footprints (Doesburg: 0.36 s against 0.31 s for 312 k) and
    never fired on parcels with vertices on their edges.
    """
    import shapely

    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if not invalid.any():
        return geoms, invalid
    out = geoms.copy()
    fixed = shapely.make_valid(geoms[invalid])
    if polygonal:
        # make_valid may return a collection with lines or points: keep the polygonal part
        parts, idx = shapely.get_parts(fixed, return_index=True)
        keep = np.isin(shapely.get_type_id(parts), (3, 6))
        merged = np.full(len(fixed), None, dtype=object)
        if keep.any():
            grouped = pd.Series(list(parts[keep])).groupby(idx[keep]).agg(list)
            merged[grouped.index.to_numpy()] = [
                g[0]
                if len(g) == 1
                else shapely.multipolygons(list(shapely.get_parts(np.array(g, dtype=object))))
                for g in grouped
            ]
        fixed = merged
    out[invalid] = fixed
    return out, invalid


def validate_layer(
    gdf: pd.DataFrame,
    schema: LayerSchema,
    *,
    file: str | None = None,
    source: str | None = None,
    layer: str | None = None,
) -> tuple[pd.DataFrame, list[Problem], int]:
    """Check a layer against its canonical schema, coerce dtypes and repair geometries.

    Parameters
    ----------
    gdf
        The layer as a reader produced it. Its index is used as the row number in messages
        (readers use the 1-based feature number, or the line number for CSV files).
    schema
        The canonical :class:`LayerSchema`.
    file, source, layer
        Where the layer came from, for the problem messages.

    Returns
    -------
    (gdf, problems, repaired_count)
        The layer with only the schema columns (plus ``geometry``) in canonical dtypes,
        every problem found (nothing is raised), and how many invalid geometries were
        repaired with ``make_valid`` (repaired, counted, never dropped).
    """
    import shapely

    where: dict[str, object] = {"file": file, "source": source, "layer": layer}
    problems: list[Problem] = []
    present = set(gdf.columns)
    for col in schema.columns:
        if col.required and col.name not in present:
            problems.append(
                Problem(
                    f"required column '{col.name}' is missing",
                    fix="add the column (see docs/contracts.md §A for the accepted column names)",
                    column=col.name,
                    **where,  # type: ignore[arg-type]
                )
            )
    keep = [c.name for c in schema.columns if c.name in present]
    out = gdf[keep].copy()
    for name in keep:
        col = schema.column(name)
        values, col_problems = _coerce_column(out[name], col, where=where)
        out[name] = values
        problems += col_problems
        nulls = values.isna()
        if not col.nullable and nulls.any() and not col_problems:
            problems.append(
                Problem(
                    f"{nulls.sum()} empty value(s) in a column that must be filled",
                    fix=f"fill column '{name}' or remove those rows",
                    column=name,
                    row=format_rows(values.index[nulls]),
                    **where,  # type: ignore[arg-type]
                )
            )
        if col.allowed is not None:
            flat = values.explode() if col.kind == "list" else values
            flat = flat.dropna()
            bad = flat[~flat.isin(col.allowed)]
            if len(bad):
                distinct = pd.unique(bad.astype(str))
                problems.append(
                    Problem(
                        f"unknown value(s) {format_rows([repr(v) for v in distinct])} "
                        f"in {len(bad)} row(s)",
                        fix=f"use one of: {', '.join(col.allowed)}",
                        column=name,
                        row=format_rows(pd.unique(bad.index)),
                        **where,  # type: ignore[arg-type]
                    )
                )
        if col.unique and has_duplicates(values):
            dup = values.duplicated(keep=False) & values.notna()
            if dup.any():
                ids = pd.unique(values[dup])
                problems.append(
                    Problem(
                        f"{len(ids)} duplicate id(s): {format_rows(ids)}",
                        fix=f"'{name}' must be unique; remove or renumber the duplicate rows",
                        column=name,
                        row=format_rows(values.index[dup]),
                        **where,  # type: ignore[arg-type]
                    )
                )

    repaired = 0
    if schema.geometry is not None:
        if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
            problems.append(
                Problem("the layer has no geometry", fix="use a spatial file", **where)  # type: ignore[arg-type]
            )
            return out, problems, 0
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        if len(geoms) and shapely.has_z(geoms).any():
            geoms = shapely.force_2d(geoms)
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if missing.any():
            problems.append(
                Problem(
                    f"{missing.sum()} feature(s) without geometry",
                    fix="give every feature a geometry or remove those rows",
                    row=format_rows(gdf.index[missing]),
                    **where,  # type: ignore[arg-type]
                )
            )
        polygonal = schema.geometry == "polygon"
        types = pd.Series(shapely.get_type_id(geoms), index=gdf.index)
        ok_ids = (3, 6) if polygonal else (0,)
        wrong = ~types.isin(ok_ids) & ~missing
        if wrong.any():
            counts = ", ".join(
                f"{n} {_GEOM_TYPE_NAMES.get(t, t)}" for t, n in types[wrong].value_counts().items()
            )
            expected = "Polygon/MultiPolygon" if polygonal else "Point"
            problems.append(
                Problem(
                    f"mixed or wrong geometry types: expected {expected}, found {counts}",
                    fix=f"keep only {expected} features in this layer",
                    row=format_rows(gdf.index[wrong]),
                    **where,  # type: ignore[arg-type]
                )
            )
        geoms, repaired_mask = _repair_geometries(geoms, polygonal)
        repaired = int(repaired_mask.sum())
        crs = gdf.crs
        if crs is None or not crs.equals(CRS):
            problems.append(
                Problem(
                    f"the layer is in {crs.to_string() if crs else 'no CRS'}, not {CRS}",
                    fix="readers reproject to EPSG:28992; set `crs:` in sources.yaml if the file "
                    "declares none",
                    **where,  # type: ignore[arg-type]
                )
            )
        elif len(geoms):
            bounds = shapely.bounds(geoms)
            x0, y0, x1, y1 = NL_BOUNDS_RD
            outside = ~missing & (
                (bounds[:, 0] < x0)
                | (bounds[:, 1] < y0)
                | (bounds[:, 2] > x1)
                | (bounds[:, 3] > y1)
            )
            if outside.any():
                problems.append(
                    Problem(
                        f"{outside.sum()} feature(s) lie far outside the Netherlands "
                        f"(e.g. x/y {bounds[outside][0, 0]:.0f}, {bounds[outside][0, 1]:.0f} in "
                        "EPSG:28992)",
                        fix="check the file's CRS: it is probably declared wrongly; set `crs:` "
                        "in sources.yaml to the real one",
                        row=format_rows(gdf.index[outside]),
                        **where,  # type: ignore[arg-type]
                    )
                )
        out = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, index=gdf.index, crs=crs))
    return out, problems, repaired
