"""BRK Kadastrale kaart reader: parcels (GML v3/v4/v5 read with ``begrenzingPerceel``, or GPKG)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from pipeline.sources._common import (
    Issues,
    find_column,
    frame,
    require_column,
    strip_prefix,
    text_column,
    to_rd,
)

PARCEL_PREFIX = "NL.IMKAD.KadastraalObject."
ID_COLUMNS = (
    ["identificatie", "perceel_id", "parcel_id"],
    ["lokaalID", "identificatie_lokaal_id"],  # (PDOK's OGC API Features)
    ["lokaalID_nen3610"],
)
SIZE_COLUMNS = [
    "kadastraleGrootteWaarde",
    "kadastraleGrootte",
    "kadastraleGrootte_waarde",
    # GDAL's names for the nested element, as read (``|``) and as written by ogr2ogr (``_``)
    "kadastraleGrootte|TypeOppervlak|waarde",
    "kadastraleGrootte_TypeOppervlak_waarde",
    "kadastrale_grootte_waarde",
    "grootte",
]
_AKR_NESTED = "kadastraleAanduiding{0}TypeKadastraleAanduiding{0}aKRKadastraleGemeenteCode{0}AKRKadastraleGemeenteCode{0}waarde"
AKR_COLUMNS = (
    [
        "AKRKadastraleGemeenteCodeWaarde",
        "akr_code",
        "aKRKadastraleGemeenteCode_waarde",
        _AKR_NESTED.format("|"),
        _AKR_NESTED.format("_"),
        "akr_kadastrale_gemeente_code_waarde",
    ],
    ["akr_code_v3", "AKRKadastraleGemeenteCode"],
)
#: Every perceel field the reader may use (others are not even read).
PERCEEL_COLUMNS = (
    *(c for group in ID_COLUMNS for c in group),
    *SIZE_COLUMNS,
    *(c for group in AKR_COLUMNS for c in group),
    "sectie",
    "perceelnummer",
)

#: A GML application-schema template (GDAL ``.gfs``) that reads the parcel *polygon*
#: (``begrenzingPerceel``) instead of the label point GDAL would detect first, for the
#: Kadastrale kaart v3, DKK v4 and v5 schemas at once (absent paths just stay empty).
PERCEEL_GFS_TEMPLATE = """<GMLFeatureClassList>
  <GMLFeatureClass>
    <Name>Perceel</Name>
    <ElementPath>Perceel</ElementPath>
    <GeomPropertyDefn>
      <Name>begrenzingPerceel</Name>
      <ElementPath>begrenzingPerceel</ElementPath>
      <Type>Polygon</Type>
    </GeomPropertyDefn>
    <PropertyDefn><Name>identificatie</Name><ElementPath>identificatie</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>lokaalID</Name><ElementPath>identificatie|lokaalID</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>lokaalID_nen3610</Name><ElementPath>identificatie|NEN3610ID|lokaalID</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>kadastraleGrootte</Name><ElementPath>kadastraleGrootte|TypeOppervlak|waarde</ElementPath><Type>Real</Type></PropertyDefn>
    <PropertyDefn><Name>akr_code</Name><ElementPath>kadastraleAanduiding|TypeKadastraleAanduiding|aKRKadastraleGemeenteCode|AKRKadastraleGemeenteCode|waarde</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>akr_code_v3</Name><ElementPath>kadastraleAanduiding|TypeKadastraleAanduiding|kadastraleGemeente|KadastraleGemeenteKeuze|AKRKadastraleGemeenteCode</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>sectie</Name><ElementPath>kadastraleAanduiding|TypeKadastraleAanduiding|sectie</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>perceelnummer</Name><ElementPath>kadastraleAanduiding|TypeKadastraleAanduiding|perceelnummer</ElementPath><Type>String</Type></PropertyDefn>
    <PropertyDefn><Name>beginGeldigheid</Name><ElementPath>historie|beginGeldigheid</ElementPath><Type>String</Type></PropertyDefn>
  </GMLFeatureClass>
</GMLFeatureClassList>
"""


def parcels_from_brk(raw: gpd.GeoDataFrame, issues: Issues) -> gpd.GeoDataFrame:
    """Canonical ``parcels`` from a Kadastrale kaart perceel layer.

    ``parcel_id`` is ``identificatie`` (v5, PDOK GeoPackage) or ``lokaalID`` (v3/v4), without
    the ``NL.IMKAD.KadastraalObject.`` prefix; ``area_m2`` is the polygon area in EPSG:28992;
    ``kadastrale_grootte_m2`` is the registered size (``kadastraleGrootte``).
    """
    ids = None
    for cands in ID_COLUMNS:
        col = find_column(raw, cands)
        if col is not None and (ids is None or raw[col].notna().any()):
            ids = raw[col] if ids is None else ids.fillna(raw[col])
    if ids is None:
        require_column(raw, ["identificatie", "lokaalID"], issues, what="the parcel id")
        return gpd.GeoDataFrame(geometry=[], crs=raw.crs)
    raw = to_rd(raw)
    columns: dict[str, pd.Series] = {
        "parcel_id": strip_prefix(ids, PARCEL_PREFIX),
        "area_m2": pd.Series(shapely.area(raw.geometry.values), index=raw.index),
    }
    size = find_column(raw, SIZE_COLUMNS)
    if size is not None:
        columns["kadastrale_grootte_m2"] = raw[size]
    akr = None
    for cands in AKR_COLUMNS:
        col = find_column(raw, cands)
        if col is not None:
            akr = text_column(raw, col) if akr is None else akr.fillna(text_column(raw, col))
    if akr is not None:
        columns["akr_code"] = akr
    for name in ("sectie", "perceelnummer"):
        col = find_column(raw, [name])
        if col is not None:
            columns[name] = text_column(raw, col)
    return frame(raw, columns)
