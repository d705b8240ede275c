"""Request and response bodies (docs/contracts.md §D), so the OpenAPI schema tells the truth."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class GemeenteRef(BaseModel):
    code: str
    naam: str


class RunRef(BaseModel):
    run_id: str | None
    finished_at: str | None


class Me(BaseModel):
    email: str
    role: Literal["beleidsmaker", "provincie", "analist", "beheerder"]
    gemeenten: list[GemeenteRef]
    can_export: bool
    can_set_status: bool = False
    can_edit_progress: bool = False
    province: bool = Field(False, description="A province role: sees every municipality")
    synthetic: bool
    run: RunRef | None


class LoginResponse(BaseModel):
    user: Me


class ConfigResponse(BaseModel):
    basemap_url: str
    basemap_attribution: str


class Health(BaseModel):
    status: Literal["ok"]
    result: Literal["loaded", "missing"]


class VectorLayer(BaseModel):
    id: str
    fields: dict[str, str]
    minzoom: int
    maxzoom: int


class TileJSON(BaseModel):
    tilejson: Literal["3.0.0"] = "3.0.0"
    id: str
    name: str
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: list[float] | None
    vector_layers: list[VectorLayer]


class LayersResponse(BaseModel):
    layers: list[TileJSON]


class Feature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class SitesPage(BaseModel):
    """A GeoJSON FeatureCollection page (WGS84)."""

    type: Literal["FeatureCollection"]
    features: list[Feature]
    numberReturned: int
    next_cursor: str | None


class SourceRef(BaseModel):
    source: str | None
    date: str | None
    path: str | None


class SiteFeature(Feature):
    """One candidate with every column, ``explanation`` parsed."""

    layer: str
    sources: list[SourceRef]


class GemeentenCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[Feature]


class WhyCandidate(BaseModel):
    layer: str
    site_id: str
    score: float | None
    tier: str | None
    label: str | None


class WhyParcel(BaseModel):
    parcel_id: str | None
    naam: str | None = Field(None, description="Kadastrale aanduiding, e.g. 'Perceel KLA01 N 5440'")
    geometry: dict[str, Any] | None = Field(None, description="The parcel (GeoJSON, WGS84)")
    reason_codes: list[str]
    reasons: list[str]


class WhyBuilding(BaseModel):
    pand_id: str | None
    naam: str | None = Field(None, description="An address of the building")
    geometry: dict[str, Any] | None = Field(None, description="The building (GeoJSON, WGS84)")
    kantoor_reason_codes: list[str]
    kantoor_reasons: list[str]
    plint_reason_codes: list[str]
    plint_reasons: list[str]


class WhyLocation(BaseModel):
    lon: float
    lat: float
    rd_x: float
    rd_y: float


class WhyResponse(BaseModel):
    location: WhyLocation
    gemeentecode: str | None
    gemeentenaam: str | None
    candidates: list[WhyCandidate]
    parcel: WhyParcel | None
    building: WhyBuilding | None
    summary: str


class TokenCreate(BaseModel):
    name: str = Field(
        min_length=1, max_length=100, description="What the token is for, e.g. 'QGIS laptop'"
    )
    days: int | None = Field(
        None,
        ge=1,
        le=3650,
        description="Lifetime in days (default TOKEN_DAYS; more than TOKEN_MAX_DAYS is refused)",
    )


class TokenOut(BaseModel):
    id: str
    name: str
    created_at: str
    expires_at: str
    last_used: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself; shown only this once")


class TokenList(BaseModel):
    tokens: list[TokenOut]


# -- OGC API Features (api/ogc.py builds these documents; the models document them) -------------
class OgcLink(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class OgcLandingPage(BaseModel):
    title: str
    description: str
    links: list[OgcLink]


class OgcConformance(BaseModel):
    conformsTo: list[str]


class OgcSpatialExtent(BaseModel):
    bbox: list[list[float]]
    crs: str


class OgcExtent(BaseModel):
    spatial: OgcSpatialExtent


class OgcCollection(BaseModel):
    id: str
    title: str
    description: str
    itemType: Literal["feature"]
    crs: list[str]
    storageCrs: str
    links: list[OgcLink]
    extent: OgcExtent | None = None


class OgcCollections(BaseModel):
    links: list[OgcLink]
    collections: list[OgcCollection]


class OgcFeatureCollection(BaseModel):
    """A page of ``/items`` (GeoJSON; WGS84 lon/lat, or RD New with ``crs``)."""

    type: Literal["FeatureCollection"]
    numberMatched: int | None = None  # left out when counting would read every feature
    numberReturned: int
    timeStamp: str
    links: list[OgcLink]
    features: list[Feature]


class OpenAPIDocument(BaseModel):
    """An OpenAPI 3.0 document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class MapLibreStyle(BaseModel):
    """A MapLibre / Mapbox GL style document (style specification version 8)."""

    version: Literal[8]
    name: str
    metadata: dict[str, Any]
    sources: dict[str, Any]
    layers: list[dict[str, Any]]


class SiteRef(BaseModel):
    layer: str
    site_id: str
    label: str | None
    tier: str | None
    score: float | None
    capacity_units: int | None


class SearchHit(BaseModel):
    soort: Literal["adres", "perceel", "locatie"]
    naam: str
    gemeentecode: str | None
    gemeentenaam: str | None
    lon: float | None
    lat: float | None
    parcel_id: str | None
    sites: list[SiteRef]


class SearchResponse(BaseModel):
    query: str
    kind: Literal["site", "perceel", "postcode", "straat"]
    results: list[SearchHit]


class OrientationName(BaseModel):
    soort: Literal["plaats", "straat"]
    naam: str
    lon: float
    lat: float


class OrientationResponse(BaseModel):
    names: list[OrientationName]
    water: dict[str, Any] = Field(description="GeoJSON FeatureCollection (WGS84)")


class StatusIn(BaseModel):
    status: Literal[
        "nieuw", "in_onderzoek", "in_gesprek", "afgevallen", "in_procedure", "gerealiseerd"
    ]
    note: str = Field("", max_length=4000, description="Plain text")
    reason: str | None = Field(None, max_length=500, description="Why it fell off (afgevallen)")
    homes: int | None = Field(None, ge=0, le=100_000, description="Homes realised (gerealiseerd)")
    date: str | None = Field(
        None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Date realised (gerealiseerd)"
    )


class ProgressDoc(BaseModel):
    opgenomen: bool = False
    datum: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    bron: str | None = Field(default=None, max_length=300, description="A link or a document name")


def _no_doc() -> ProgressDoc:
    return ProgressDoc(opgenomen=False, datum=None, bron=None)


class ProgressProject(BaseModel):
    naam: str = Field(min_length=1, max_length=200)
    woningen: int = Field(ge=0, le=100_000)
    status: Literal["gepland", "gerealiseerd"]


class ProgressIn(BaseModel):
    woonvisie: ProgressDoc = Field(default_factory=_no_doc)
    prestatieafspraken: ProgressDoc = Field(default_factory=_no_doc)
    projecten: list[ProgressProject] = Field(default_factory=list, max_length=200)
    opmerking: str = Field("", max_length=4000)
