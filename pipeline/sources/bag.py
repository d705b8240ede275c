"""BAG readers: PDOK's BAG GeoPackage and Kadaster's LVBAG 2.0 extract (via GDAL's LVBAG driver).

Both publications are normalised to the canonical ``buildings`` and ``units`` layers. Only
current (``eindGeldigheid`` empty, not inactive) and existing (status) objects are kept.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import shapely

from pipeline.schemas import (
    PAND_STATUS_CURRENT,
    PAND_STATUS_NOT_EXISTING,
    VBO_STATUS_CURRENT,
    VBO_STATUS_NOT_EXISTING,
    has_duplicates,
)
from pipeline.sources._common import (
    Issues,
    find_column,
    frame,
    from_arrow,
    require_column,
    strip_prefix,
    text_column,
    to_arrow,
    to_rd,
)

PAND_PREFIX = "NL.IMBAG.Pand."
VBO_PREFIX = "NL.IMBAG.Verblijfsobject."
#: History fields of LVBAG (absent in PDOK's GeoPackage, which holds current objects only).
HISTORY_COLUMNS = (
    "eindGeldigheid",
    "einddatum_geldigheid",
    "tijdstipInactief",
    "voorkomenIdentificatie",
)
#: Address fields of a verblijfsobject's main address (PDOK's BAG GeoPackage has them on the
#: verblijfsobject; LVBAG on the nummeraanduiding): the search index of the result uses them.
ADDRESS_COLUMNS = (
    "postcode",
    "huisnummer",
    "huisletter",
    "toevoeging",
    "huisnummertoevoeging",
    "woonplaats_naam",
    "woonplaatsnaam",
)
#: Every pand / verblijfsobject field the readers may use (others are not even read).
PAND_COLUMNS = (
    "identificatie",
    "pand_id",
    "id",
    "bouwjaar",
    "oorspronkelijkBouwjaar",
    "status",
    "pandstatus",
    "bouwlagen",
    "aantal_bouwlagen",
    *HISTORY_COLUMNS,
)
VBO_COLUMNS = (
    "identificatie",
    "vbo_id",
    "pand_identificatie",
    "pandRef",
    "pand_id",
    "gebruiksdoel",
    "oppervlakte",
    "oppervlakte_m2",
    "status",
    "openbare_ruimte_naam",
    "straatnaam",
    "openbareruimtenaam",
    "energielabel",
    "energieklasse",
    *ADDRESS_COLUMNS,
    *HISTORY_COLUMNS,
)
NUM_PREFIX = "NL.IMBAG.Nummeraanduiding."
OPR_PREFIX = "NL.IMBAG.Openbareruimte."
#: The LVBAG nummeraanduiding (address) and openbare ruimte (street) fields the readers use.
NUM_COLUMNS = (
    "identificatie",
    "openbareruimteRef",
    "status",
    "postcode",
    "huisnummer",
    "huisletter",
    "huisnummertoevoeging",
    *HISTORY_COLUMNS,
)
OPR_COLUMNS = ("identificatie", "naam", "status", *HISTORY_COLUMNS)
#: ``oorspronkelijkBouwjaar`` placeholder for "unknown".
UNKNOWN_BOUWJAAR = 9999


def current_voorkomens(
    raw: pd.DataFrame, id_col: str, issues: Issues, *, what: str
) -> pd.DataFrame:
    """Drop historic voorkomens: keep rows whose ``eindGeldigheid`` is empty and that are not
    inactive; of any id left twice keep the latest voorkomen."""
    n = len(raw)
    keep = pd.Series(True, index=raw.index)
    end = find_column(raw, ["eindGeldigheid", "einddatum_geldigheid"])
    if end is not None:
        keep &= raw[end].isna()
    inactive = find_column(raw, ["tijdstipInactief"])
    if inactive is not None:
        keep &= raw[inactive].isna()
    out = raw[keep] if not keep.all() else raw
    if (end is not None or inactive is not None) and has_duplicates(out[id_col]):
        order = find_column(out, ["voorkomenIdentificatie"])
        if order is not None:
            out = out.sort_values(order, kind="stable")
        out = out[~out[id_col].duplicated(keep="last")].sort_index()
    dropped = n - len(out)
    if dropped:
        issues.warn(f"{dropped} historic {what} record(s) (voorkomens) dropped; {len(out)} current")
    return out


def _filter_status(
    df: pd.DataFrame,
    status: pd.Series,
    current: tuple[str, ...],
    not_existing: tuple[str, ...],
    issues: Issues,
    *,
    what: str,
) -> pd.Series:
    """Mask of rows to keep: existing statuses; warn about dropped and unknown ones."""
    gone = status.isin(not_existing)
    if gone.any():
        counts = status[gone].value_counts()
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items())
        issues.warn(f"{int(gone.sum())} {what} not (or no longer) existing dropped ({detail})")
    unknown = ~status.isin(current) & ~gone & status.notna()
    if unknown.any():
        values = ", ".join(repr(v) for v in pd.unique(status[unknown])[:5])
        issues.warn(f"{int(unknown.sum())} {what} with an unknown status kept ({values})")
    return ~gone


def buildings_from_bag(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``buildings`` from a BAG ``pand`` layer (PDOK GeoPackage or LVBAG).

    Accepts PDOK names (``identificatie``, ``bouwjaar``, ``status``) and LVBAG names
    (``identificatie`` with the ``NL.IMBAG.Pand.`` prefix, ``oorspronkelijkBouwjaar``,
    ``eindGeldigheid``). ``bouwjaar`` 9999 becomes missing.
    """
    id_col = require_column(raw, ["identificatie", "pand_id", "id"], issues, what="the pand id")
    year_col = require_column(
        raw, ["bouwjaar", "oorspronkelijkBouwjaar"], issues, what="the construction year"
    )
    status_col = require_column(raw, ["status", "pandstatus"], issues, what="the status")
    if id_col is None or year_col is None or status_col is None:
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    raw = current_voorkomens(raw, id_col, issues, what="pand")
    status = text_column(raw, status_col)
    keep = _filter_status(
        raw, status, PAND_STATUS_CURRENT, PAND_STATUS_NOT_EXISTING, issues, what="panden"
    )
    raw, status = raw[keep], status[keep]
    year = raw[year_col]
    year_num = pd.to_numeric(year, errors="coerce")
    year = year.where(year_num != UNKNOWN_BOUWJAAR)
    columns: dict[str, pd.Series] = {
        "pand_id": strip_prefix(raw[id_col], PAND_PREFIX),
        "bouwjaar": year,
        "status": status,
    }
    floors = find_column(raw, ["bouwlagen", "aantal_bouwlagen"])
    if floors is not None:
        columns["bouwlagen"] = raw[floors]
    return to_rd(frame(raw, columns))


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _holds_lists(values: pd.Series) -> bool:
    """Whether a column holds lists (LVBAG) rather than strings (PDOK): look at one value."""
    if values.dtype != object:
        return False
    present = values.dropna()
    return bool(len(present)) and _is_list(present.iloc[0])


def _first_pand(values: pd.Series) -> pd.Series:
    """The first pand id of a pandRef list or a comma-separated string (vectorised)."""
    if _holds_lists(values):
        first = values.str[0]
    else:
        arr = to_arrow(values)
        if pc.any(pc.match_substring(arr, ",")).as_py():
            arr = pc.replace_substring_regex(arr, pattern=r"\s*,.*$", replacement="")
        first = from_arrow(pc.utf8_trim_whitespace(arr), values.index)
    return strip_prefix(first, PAND_PREFIX)


def gebruiksdoel_lists(values: pd.Series) -> pd.Series:
    """Multi-valued gebruiksdoel as lists of lower-case names.

    LVBAG gives lists already; PDOK's GeoPackage gives ``"woonfunctie,winkelfunctie"``, split
    with pyarrow compute (no per-row Python).
    """
    if _holds_lists(values):
        return values.map(lambda v: [str(x).strip().lower() for x in v] if _is_list(v) else v)
    # few distinct values (combinations of uses): split each distinct value once, then give
    # every row its own copy of its list
    if len(values) == 0:  # (an empty arrow column has no chunk to encode)
        return pd.Series([], index=values.index, dtype=object)
    encoded = pc.dictionary_encode(to_arrow(values))
    distinct = pc.utf8_trim_whitespace(pc.utf8_lower(encoded.dictionary))
    split = pc.split_pattern_regex(distinct, pattern=r"\s*,\s*").to_pylist()
    lookup = np.empty(len(split), dtype=object)
    for k, parts in enumerate(split):  # a handful of distinct values
        lookup[k] = parts
    codes = encoded.indices
    out = np.full(len(values), None, dtype=object)
    present = np.asarray(codes.is_valid(), dtype=bool)
    if present.any():
        rows = lookup[np.asarray(codes.drop_null(), dtype=np.intp)]
        out[present] = np.fromiter(map(list.copy, rows), dtype=object, count=len(rows))
    return pd.Series(out, index=values.index, dtype=object)


def units_from_bag(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``units`` from a BAG ``verblijfsobject`` layer (PDOK GeoPackage or LVBAG).

    ``pand_id`` is the first of the unit's panden (``pand_identificatie`` or LVBAG ``pandRef``).
    """
    id_col = require_column(raw, ["identificatie", "vbo_id"], issues, what="the verblijfsobject id")
    pand_col = require_column(
        raw, ["pand_identificatie", "pandRef", "pand_id"], issues, what="the pand reference"
    )
    use_col = require_column(raw, ["gebruiksdoel"], issues, what="the gebruiksdoel")
    area_col = require_column(raw, ["oppervlakte", "oppervlakte_m2"], issues, what="the floor area")
    status_col = require_column(raw, ["status"], issues, what="the status")
    if None in (id_col, pand_col, use_col, area_col, status_col):
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    assert id_col and pand_col and use_col and area_col and status_col
    raw = current_voorkomens(raw, id_col, issues, what="verblijfsobject")
    status = text_column(raw, status_col)
    keep = _filter_status(
        raw, status, VBO_STATUS_CURRENT, VBO_STATUS_NOT_EXISTING, issues, what="verblijfsobjecten"
    )
    raw, status = raw[keep], status[keep]
    columns: dict[str, pd.Series] = {
        "vbo_id": strip_prefix(raw[id_col], VBO_PREFIX),
        "pand_id": _first_pand(raw[pand_col]),
        "gebruiksdoel": gebruiksdoel_lists(raw[use_col]),
        "oppervlakte_m2": raw[area_col],
        "status": status,
    }
    street = find_column(raw, ["openbare_ruimte_naam", "straatnaam", "openbareruimtenaam"])
    name = text_column(raw, street)  # all missing without a street column
    columns["straatnaam"] = name.where(name != "")
    label = find_column(raw, ["energielabel", "energieklasse"])
    if label is not None:
        columns["energielabel"] = text_column(raw, label)
    columns.update(_address_columns(raw))
    out = frame(raw, columns)
    if isinstance(out, gpd.GeoDataFrame) and len(out):
        # BAG 2.0 allows a verblijfsobject geometry to be a surface (vlak): use a point in it
        geoms = np.asarray(out.geometry.array, dtype=object)
        surface = np.isin(shapely.get_type_id(geoms), (3, 6))
        if surface.any():
            geoms[surface] = shapely.point_on_surface(geoms[surface])
            out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
            issues.warn(
                f"{int(surface.sum())} verblijfsobject(en) with a surface geometry use a point in it"
            )
    return to_rd(out)


def _address_columns(raw: pd.DataFrame) -> dict[str, pd.Series]:
    """The main address of each unit (``postcode``, ``huisnummer``, ``huisletter``,
    ``toevoeging``, ``woonplaats``) where the source has it; absent columns are left out."""
    out: dict[str, pd.Series] = {}
    for name, candidates in (
        ("postcode", ["postcode"]),
        ("huisletter", ["huisletter"]),
        ("toevoeging", ["toevoeging", "huisnummertoevoeging"]),
        ("woonplaats", ["woonplaats_naam", "woonplaatsnaam"]),
    ):
        col = find_column(raw, candidates)
        if col is not None:
            text = text_column(raw, col).str.strip()
            out[name] = text.where(text.notna() & (text != ""))
    col = find_column(raw, ["huisnummer"])
    if col is not None:
        out["huisnummer"] = pd.to_numeric(raw[col], errors="coerce").astype("Int64")
    if "postcode" in out:
        out["postcode"] = out["postcode"].str.replace(" ", "", regex=False).str.upper()
    return out


def _current_by_id(raw: pd.DataFrame | None, issues: Issues, what: str) -> pd.DataFrame | None:
    """The current voorkomen of each object of an LVBAG address table (quietly: these are
    lookup tables, their history is not worth a warning)."""
    if raw is None or "identificatie" not in raw.columns:
        return None
    quiet = Issues(file=issues.file, source=issues.source)
    return current_voorkomens(pd.DataFrame(raw), "identificatie", quiet, what=what)


def with_street_names(
    vbo: gpd.GeoDataFrame,
    num: pd.DataFrame | None,
    opr: pd.DataFrame | None,
    issues: Issues,
) -> gpd.GeoDataFrame:
    """``vbo`` with ``openbare_ruimte_naam``: the name of the openbare ruimte of each unit's
    main address (``hoofdadresNummeraanduidingRef`` → nummeraanduiding ``openbareruimteRef`` →
    openbare ruimte ``naam``), joined on the current voorkomens; missing where the extract
    does not hold the address or the street (a warning counts those units).
    """
    ref = find_column(vbo, ["hoofdadresNummeraanduidingRef"])
    nums = _current_by_id(num, issues, "nummeraanduiding")
    oprs = _current_by_id(opr, issues, "openbare ruimte")
    names = pd.Series(pd.NA, index=vbo.index, dtype="str")
    if ref is None or nums is None or oprs is None or "naam" not in oprs.columns:
        missing = [
            what
            for what, table in (("nummeraanduiding (NUM)", nums), ("openbare ruimte (OPR)", oprs))
            if table is None
        ]
        if len(vbo):
            issues.warn(
                f"the extract has no {' or '.join(missing) or 'address reference'} objects: the "
                "street of every verblijfsobject is unknown (street-based criteria are missing)"
            )
        return vbo.assign(openbare_ruimte_naam=names)
    num_street = pd.Series(
        strip_prefix(nums["openbareruimteRef"], OPR_PREFIX).to_numpy(),
        index=strip_prefix(nums["identificatie"], NUM_PREFIX).to_numpy(),
    )
    street_name = pd.Series(
        text_column(oprs, "naam").to_numpy(),
        index=strip_prefix(oprs["identificatie"], OPR_PREFIX).to_numpy(),
    )
    num_street = num_street[~num_street.index.duplicated(keep="last")]
    street_name = street_name[~street_name.index.duplicated(keep="last")]
    address = strip_prefix(vbo[ref], NUM_PREFIX)
    num_rows = nums.assign(_id=strip_prefix(nums["identificatie"], NUM_PREFIX).to_numpy())
    num_rows = num_rows[~num_rows["_id"].duplicated(keep="last")].set_index("_id")
    fields = [
        c for c in ("postcode", "huisnummer", "huisletter", "huisnummertoevoeging") if c in nums
    ]
    if fields:
        joined = num_rows[fields].reindex(address.to_numpy())
        vbo = vbo.assign(**{c: joined[c].to_numpy() for c in fields})
    opr_id = address.map(num_street)
    names = opr_id.map(street_name).astype("str")
    names = names.where(names.notna() & (names.str.strip() != ""))
    current = vbo
    for col in ("eindGeldigheid", "tijdstipInactief"):
        if col in vbo.columns:
            current = current[current[col].isna()]
    unknown = int(names.loc[current.index].isna().sum())
    if unknown:
        no_address = int(opr_id.loc[current.index].isna().sum())
        issues.warn(
            f"street unknown for {unknown:,} of {len(current):,} verblijfsobject record(s) "
            f"({no_address:,} without their address (nummeraanduiding) in the extract, "
            f"{unknown - no_address:,} without their street (openbare ruimte)): their "
            "street-based criteria are missing"
        )
    return vbo.assign(openbare_ruimte_naam=names)
