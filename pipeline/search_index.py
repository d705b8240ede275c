"""The result's search index and orientation layers (docs/contracts.md §C).

Three layers the scan writes beside the scored ones, built from the canonical ``parcels`` and
``units`` (BAG verblijfsobjecten with their main address) and the ``zoning`` water plans:

- ``zoekindex`` (Point): one row per address (``soort = "adres"``: postcode, house number,
  letter, addition, street, place) and one per parcel (``soort = "perceel"``: its kadastrale
  aanduiding ``akr_code sectie perceelnummer``), with the ids the api needs to find the sites
  (``vbo_id``, ``pand_id``, ``parcel_id``) and normalised search keys (:func:`normalise`).
- ``orientatie_namen`` (Point): a label point per street (``soort = "straat"``) and per place
  (``soort = "plaats"``), with the number of addresses it names (``n``, for label priority).
- ``orientatie_water`` (MultiPolygon): the water of the zoning plans (hoofdgroep ``water``).

They let the api answer a search and draw a map a user can orient by without any basemap. Every
row has a ``gemeentecode``, the scope key of the api. The functions are pure and vectorised
(text is normalised once per distinct value).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from pipeline.schemas import CRS

#: Columns of the layers, in order (docs/contracts.md §C).
INDEX_COLUMNS = (
    "soort",
    "naam",
    "gemeentecode",
    "straat",
    "huisnummer",
    "toevoeging",
    "postcode",
    "woonplaats",
    "akr_code",
    "sectie",
    "perceelnummer",
    "parcel_id",
    "pand_id",
    "vbo_id",
)
NAME_COLUMNS = ("soort", "naam", "gemeentecode", "n")
WATER_COLUMNS = ("naam", "gemeentecode")
#: Water outlines are simplified to this tolerance (m): orientation, not survey.
WATER_SIMPLIFY_M = 2.0
#: Input rows (units or parcels) per part of :func:`search_index_parts`.
PART_ROWS = 250_000


def normalise(values: pd.Series) -> pd.Series:
    """Search form of a text: lower case, accents dropped, every run of other characters than
    letters and digits one space, trimmed ("Burg. de Kockstraat" → "burg de kockstraat").

    Computed once per distinct value and mapped back.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    forms = np.array([_normalise_one(str(u)) for u in uniques] + [None], dtype=object)
    return pd.Series(forms[codes], index=values.index, dtype=object)


def _normalise_one(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = []
    space = False
    for ch in ascii_text.lower():
        if ch.isalnum():
            out.append(ch)
            space = False
        elif not space:
            out.append(" ")
            space = True
    return "".join(out).strip()


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as text (``str``): missing where absent, missing or blank."""
    if column not in df.columns:
        return _str(pa.nulls(len(df), pa.large_string()), df.index)
    values = pa.array(df[column].astype("str"), type=pa.large_string())
    blank = pc.equal(pc.utf8_trim_whitespace(values), "")
    return _str(pc.if_else(blank, pa.scalar(None, values.type), values), df.index)


def _str(values: pa.Array, index: pd.Index) -> pd.Series:
    """Arrow text as a pandas ``str`` Series (no copy)."""
    return pd.Series(pd.array(values, dtype="str"), index=index)


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of texts (null where a part is null)."""
    args = [_lit(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, _lit(""))


def _ids(df: pd.DataFrame, key: str) -> pd.api.extensions.ExtensionArray:
    """The key column as text (the scan keeps it as the index of its sorted layers)."""
    values = df[key] if key in df.columns else df.index.to_series(index=df.index)
    return values.astype("str").array


def _empty(columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in columns}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS
    )


def empty_search_index() -> gpd.GeoDataFrame:
    """A ``zoekindex`` layer without rows."""
    return _empty(INDEX_COLUMNS)


def _nulls(n: int) -> pd.Series:
    return _str(pa.nulls(n, pa.large_string()), pd.RangeIndex(n))


def address_rows(units: pd.DataFrame) -> gpd.GeoDataFrame:
    """``zoekindex`` rows of the units that have an address (a postcode and a house number, or
    a street and a house number)."""
    if not len(units) or "huisnummer" not in units.columns:
        return _empty(INDEX_COLUMNS)
    number = pd.to_numeric(units["huisnummer"], errors="coerce")
    street = _text(units, "straatnaam")
    postcode = _text(units, "postcode")
    keep = (number.notna() & (street.notna() | postcode.notna())).to_numpy()
    u = units[keep]
    n = len(u)
    number = number[keep].astype("int64")
    street, postcode = street[keep], postcode[keep]
    a_street = pa.array(street, type=pa.large_string())
    letter = pc.fill_null(pa.array(_text(u, "huisletter"), type=pa.large_string()), "")
    addition = pc.fill_null(pa.array(_text(u, "toevoeging"), type=pa.large_string()), "")
    place = pa.array(_text(u, "woonplaats"), type=pa.large_string())
    dash = pc.if_else(pc.not_equal(addition, ""), _join("-", addition), _lit(""))
    suffix = _join(letter, dash)
    nr = _join(pc.cast(pa.array(number.to_numpy()), pa.large_string()), suffix)
    pcode = pc.fill_null(pa.array(postcode, type=pa.large_string()), "")
    pc_text = pc.if_else(
        pc.equal(pc.utf8_length(pcode), 6),
        _join(pc.utf8_slice_codeunits(pcode, 0, 4), " ", pc.utf8_slice_codeunits(pcode, 4)),
        pcode,
    )
    has_pc, has_place = pc.not_equal(pcode, ""), pc.is_valid(place)
    null, index = pa.scalar(None, pa.large_string()), street.index
    label = _join(
        pc.fill_null(_join(a_street, " "), ""),
        nr,
        pc.if_else(pc.or_(has_pc, has_place), _lit(", "), _lit("")),
        pc_text,
        pc.if_else(pc.and_(has_pc, has_place), _lit(" "), _lit("")),
        pc.fill_null(place, ""),
    )
    empty = _nulls(n)
    out = pd.DataFrame(
        {
            "soort": _str(pa.repeat(_lit("adres"), n), empty.index),
            "naam": _str(label, empty.index),
            "gemeentecode": u["gemeentecode"].astype("str").array,
            "straat": normalise(street).to_numpy(),
            "huisnummer": number.to_numpy(),
            "toevoeging": normalise(
                _str(pc.if_else(pc.equal(suffix, ""), null, suffix), index)
            ).to_numpy(),
            "postcode": postcode.array,
            "woonplaats": normalise(_str(place, index)).to_numpy(),
            "akr_code": empty,
            "sectie": empty,
            "perceelnummer": empty,
            "parcel_id": empty,
            "pand_id": _text(u, "pand_id").array,
            "vbo_id": _ids(u, "vbo_id"),
        }
    )
    out["huisnummer"] = out["huisnummer"].astype("Int64")
    return gpd.GeoDataFrame(out, geometry=np.asarray(u.geometry.array, dtype=object), crs=CRS)


def parcel_rows(parcels: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``zoekindex`` rows of the parcels with a kadastrale aanduiding (akr code, sectie and
    number), each at a point inside the parcel."""
    need = ("akr_code", "sectie", "perceelnummer")
    if not len(parcels) or any(c not in parcels.columns for c in need):
        return _empty(INDEX_COLUMNS)
    akr = _text(parcels, "akr_code")
    sectie = _text(parcels, "sectie")
    nummer = _text(parcels, "perceelnummer")
    keep = (akr.notna() & sectie.notna() & nummer.notna()).to_numpy()
    p = parcels[keep]
    n = len(p)

    def trimmed(values: pd.Series) -> pa.Array:
        return pc.utf8_trim_whitespace(pa.array(values[keep], type=pa.large_string()))

    a_akr = pc.utf8_upper(trimmed(akr))
    a_sectie = pc.utf8_upper(trimmed(sectie))
    a_nummer = pc.utf8_ltrim(trimmed(nummer), characters="0")
    a_nummer = pc.if_else(pc.equal(a_nummer, ""), _lit("0"), a_nummer)
    points = shapely.point_on_surface(np.asarray(p.geometry.array, dtype=object))
    empty = _nulls(n)
    out = pd.DataFrame(
        {
            "soort": _str(pa.repeat(_lit("perceel"), n), empty.index),
            "naam": _str(_join("Perceel ", a_akr, " ", a_sectie, " ", a_nummer), empty.index),
            "gemeentecode": p["gemeentecode"].astype("str").array,
            "straat": empty,
            "huisnummer": pd.array([pd.NA] * n, dtype="Int64"),
            "toevoeging": empty,
            "postcode": empty,
            "woonplaats": empty,
            "akr_code": _str(a_akr, empty.index),
            "sectie": _str(a_sectie, empty.index),
            "perceelnummer": _str(a_nummer, empty.index),
            "parcel_id": _ids(p, "parcel_id"),
            "pand_id": empty,
            "vbo_id": empty,
        }
    )
    return gpd.GeoDataFrame(out, geometry=points, crs=CRS)


def search_index_parts(
    parcels: gpd.GeoDataFrame, units: pd.DataFrame, rows: int = PART_ROWS
) -> Iterator[gpd.GeoDataFrame]:
    """The ``zoekindex`` layer in consecutive parts of at most ``rows`` input rows: the
    addresses of ``units``, then the parcels of ``parcels``, each made only when the one before
    has been taken (the scan's writer converts and writes one part at a time; on the province
    the whole layer is 3 M rows and 1.2 GB while built). Every part has the columns, in order,
    of :data:`INDEX_COLUMNS`; at least one part is yielded (empty when there is nothing)."""
    any_rows = False
    for frame, make in ((units, address_rows), (parcels, parcel_rows)):
        for start in range(0, len(frame), rows):
            part = make(frame.iloc[start : start + rows])
            if len(part):
                any_rows = True
                yield part
    if not any_rows:
        yield _empty(INDEX_COLUMNS)


def search_index(parcels: gpd.GeoDataFrame, units: pd.DataFrame) -> gpd.GeoDataFrame:
    """The ``zoekindex`` layer: every address of ``units`` and every parcel of ``parcels``."""
    parts = list(search_index_parts(parcels, units))
    # column by column, each let go in its part once joined: one column's copy at a time,
    # not a copy of all 3 M rows beside the parts
    columns = {
        c: pd.concat([p.pop(c) for p in parts], ignore_index=True)
        for c in (*INDEX_COLUMNS, "geometry")
    }
    return gpd.GeoDataFrame(columns, geometry="geometry", crs=CRS)


def _label_points(keys: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each group of ``keys`` (integer group keys, negative for no group): the position of
    the member nearest to the group's median point (the first such member on a tie), and the
    group sizes. Returns (positions, counts) per group, groups in ascending key order."""
    members = np.flatnonzero(keys >= 0)
    _, group = np.unique(keys[members], return_inverse=True)
    xm, ym = x[members], y[members]
    med = pd.DataFrame({"x": xm, "y": ym}).groupby(group, sort=True).median()
    d = np.hypot(xm - med["x"].to_numpy()[group], ym - med["y"].to_numpy()[group])
    d[np.isnan(d)] = np.inf  # a member without a point is nobody's nearest (unless all are)
    nearest = pd.Series(d).groupby(group, sort=True).idxmin().to_numpy()  # first on a tie
    return members[nearest], np.bincount(group)


def orientation_names(
    units: pd.DataFrame, municipalities: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """``orientatie_namen``: a label point per street (per municipality) and per place.

    A street's point is its address nearest to the median of its addresses (so it lies on the
    street); a place's likewise. Without place names in the addresses, each municipality is a
    place, labelled at a point inside it.
    """
    frames = []
    if len(units) and "straatnaam" in units.columns:
        geoms = np.asarray(units.geometry.array, dtype=object)
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
        gem = units["gemeentecode"].astype(str).to_numpy(dtype=object)
        gem_code, _ = pd.factorize(gem)
        for soort, column in (("straat", "straatnaam"), ("plaats", "woonplaats")):
            names = _text(units, column)
            if names.isna().all():
                continue
            # a group per (municipality, name): the name's code within the municipality's
            name_code, uniques = pd.factorize(names, use_na_sentinel=True)
            keys = np.where(name_code >= 0, gem_code * len(uniques) + name_code, -1)
            pos, counts = _label_points(keys, x, y)
            frames.append(
                gpd.GeoDataFrame(
                    {
                        "soort": soort,
                        "naam": names.iloc[pos].to_numpy(dtype=object),
                        "gemeentecode": gem[pos],
                        "n": counts.astype("int64"),
                    },
                    geometry=geoms[pos],
                    crs=CRS,
                )
            )
    has_places = any((f["soort"] == "plaats").any() for f in frames)
    if not has_places and municipalities is not None and len(municipalities):
        mun = municipalities
        frames.append(
            gpd.GeoDataFrame(
                {
                    "soort": "plaats",
                    "naam": _text(mun, "gemeentenaam")
                    .fillna(mun["gemeentecode"].astype(str))
                    .to_numpy(dtype=object),
                    "gemeentecode": mun["gemeentecode"].astype(str).to_numpy(dtype=object),
                    "n": np.zeros(len(mun), dtype="int64"),
                },
                geometry=shapely.point_on_surface(np.asarray(mun.geometry.array, dtype=object)),
                crs=CRS,
            )
        )
    if not frames:
        return _empty(NAME_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["soort", "gemeentecode", "naam"], kind="mergesort", ignore_index=True)
    return gpd.GeoDataFrame(out[[*NAME_COLUMNS, "geometry"]], geometry="geometry", crs=CRS)


def orientation_water(
    zoning: gpd.GeoDataFrame | None, municipalities: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """``orientatie_water``: the zoning plans' water (hoofdgroep ``water``), simplified, each
    with the municipality its inner point lies in (water outside every municipality is left
    out)."""
    if zoning is None or not len(zoning) or "hoofdgroep" not in zoning.columns:
        return _empty(WATER_COLUMNS)
    water = zoning[(zoning["hoofdgroep"].astype(str) == "water").to_numpy()]
    if not len(water) or not len(municipalities):
        return _empty(WATER_COLUMNS)
    geoms = np.asarray(water.geometry.array, dtype=object)
    inner = shapely.point_on_surface(geoms)
    mun_geoms = np.asarray(municipalities.geometry.array, dtype=object)
    src, dst = shapely.STRtree(mun_geoms).query(inner, predicate="within")
    first = pd.Series(dst).groupby(src).min()  # one municipality per water area
    codes = np.full(len(water), None, dtype=object)
    codes[first.index.to_numpy()] = (
        municipalities["gemeentecode"].astype(str).to_numpy(dtype=object)[first.to_numpy()]
    )
    keep = codes != None  # noqa: E711 - element-wise
    names = _text(water, "naam").to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    out = gpd.GeoDataFrame(
        {"naam": names[keep], "gemeentecode": codes[keep]},
        geometry=shapely.simplify(geoms[keep], WATER_SIMPLIFY_M, preserve_topology=True),
        crs=CRS,
    )
    # The same rows in the same order whatever the input's row order: by municipality, name,
    # then the geometry itself (its normalised WKB).
    key = pd.DataFrame(
        {
            "g": out["gemeentecode"].astype(str).to_numpy(),
            "n": out["naam"].fillna("").astype(str).to_numpy(),
            "w": shapely.to_wkb(shapely.normalize(np.asarray(out.geometry.array, dtype=object))),
        }
    )
    order = key.sort_values(["g", "n", "w"], kind="mergesort").index.to_numpy()
    return out.iloc[order].reset_index(drop=True)


def orientation_layers(
    units: pd.DataFrame,
    municipalities: gpd.GeoDataFrame,
    zoning: gpd.GeoDataFrame | None,
) -> dict[str, gpd.GeoDataFrame]:
    """``orientatie_namen`` and ``orientatie_water`` by their GeoPackage name."""
    return {
        "orientatie_namen": orientation_names(units, municipalities),
        "orientatie_water": orientation_water(zoning, municipalities),
    }


def build_index_layers(
    parcels: gpd.GeoDataFrame,
    units: pd.DataFrame,
    municipalities: gpd.GeoDataFrame,
    zoning: gpd.GeoDataFrame | None,
) -> dict[str, gpd.GeoDataFrame]:
    """The three layers of this module by their GeoPackage name (what the scan writes)."""
    return {
        "zoekindex": search_index(parcels, units),
        **orientation_layers(units, municipalities, zoning),
    }
