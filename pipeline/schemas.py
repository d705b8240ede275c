"""Canonical layers: names, keys, columns, dtypes, geometry types and CRS, and their validator.

Every reader in :mod:`pipeline.sources` returns one of these layers (DESIGN.md §3), in
EPSG:28992, and :func:`validate_layer` checks it. The scan only ever sees canonical layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
)


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
    )
}
