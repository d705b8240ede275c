"""The storage interface every data route goes through.

A :class:`DataStore` answers the data questions of the api — feature pages, one feature, vector
tiles, "why (not) here?", the municipality summary and exports — always for one caller's
:class:`~api.security.Scope`, which the implementation applies inside its queries. The routes never
filter by municipality themselves. :mod:`api.store.gpkg` implements it for the result
GeoPackage, :mod:`api.store.postgis` for a result published to PostGIS (``kansenkaart publish``);
:func:`open_data_store` picks one from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from api.search import Query
from api.security import Scope

if TYPE_CHECKING:
    from api.settings import StoreSettings

#: Candidate layers of the result (docs/contracts.md §C), in display order.
CANDIDATE_LAYERS = ("tijdelijke_locaties", "kantoren", "plinten")
#: Layers served as vector tiles.
TILE_LAYERS = (*CANDIDATE_LAYERS, "gemeenten")
LAYER_TITLES = {
    "tijdelijke_locaties": "Tijdelijke locaties",
    "kantoren": "Kantoortransformatie",
    "plinten": "Plinttransformatie",
    "gemeenten": "Gemeenten",
    "uitgesloten_percelen": "Uitgesloten percelen",
    "uitgesloten_panden": "Uitgesloten panden",
}
OPPORTUNITY_TYPES = {
    "tijdelijke_locaties": "tijdelijke_locatie",
    "kantoren": "kantoortransformatie",
    "plinten": "plinttransformatie",
}
#: Tile attributes at every zoom, and the extra ones from :data:`DETAIL_ZOOM` on.
TILE_FIELDS = ("site_id", "gemeentecode", "score", "tier", "capacity_units", "owner_class")
TILE_DETAIL_FIELDS = ("label", "rank")
GEMEENTE_TILE_FIELDS = ("gemeentecode", "gemeentenaam", "capacity_ab")
DETAIL_ZOOM = 12
ZOOMS = {"candidates": (10, 16), "gemeenten": (5, 14)}
#: Layers of every parcel and building in scope that is not a candidate, with the reasons.
EXCLUDED_LAYERS = ("uitgesloten_percelen", "uitgesloten_panden")
#: Collections of the OGC API (``/api/ogc/collections``): every layer of the result a caller may
#: see (in their municipalities).
COLLECTIONS = (*CANDIDATE_LAYERS, "gemeenten", *EXCLUDED_LAYERS)
#: Coordinate reference systems of the OGC API (OGC API Features Part 2): lon/lat WGS84 (the
#: default) and RD New (the result's own, EPSG:28992, x east / y north).
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
RD_NEW = "http://www.opengis.net/def/crs/EPSG/0/28992"


@dataclass(frozen=True)
class Filters:
    """Optional filters of tiles and feature pages (all combined with AND)."""

    min_score: float | None = None
    min_capacity: int | None = None
    owner_class: tuple[str, ...] = ()
    gemeenten: tuple[str, ...] = ()
    #: Only these tiers (A–E); empty = all.
    tiers: tuple[str, ...] = ()

    def key(self) -> str:
        return (
            f"{self.min_score}|{self.min_capacity}|{','.join(sorted(self.owner_class))}|"
            f"{','.join(sorted(self.gemeenten))}|{','.join(sorted(self.tiers))}"
        )


@dataclass(frozen=True)
class BBox:
    """A bounding box in ``crs``: lon/lat WGS84 (:data:`CRS84`, the default) or RD New
    (:data:`RD_NEW`; only :meth:`DataStore.items` takes that)."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    crs: str = CRS84


@dataclass
class FeaturePage:
    """One page of GeoJSON features, already serialised per feature."""

    features: list[str]
    next_cursor: str | None


@dataclass
class ItemsPage:
    """One page of an OGC API collection: serialised GeoJSON features, how many match in all
    (over every page; ``None`` when that would cost a pass over all of them), and the cursor of
    the next page (``None`` on the last)."""

    features: list[str]
    number_matched: int | None
    next_cursor: str | None


@dataclass
class RunInfo:
    run_id: str | None
    finished_at: str | None
    synthetic: bool
    sources: list[dict[str, Any]] = field(default_factory=list)
    #: Score thresholds of the tiers (``{"A": 80, …}``), from the run metadata; empty if unknown.
    tiers: dict[str, float] = field(default_factory=dict)


@dataclass
class ExportInfo:
    path: Path
    counts: dict[str, int]


class DataStore(Protocol):
    """What the routes may ask of the scan data (every call is scoped)."""

    #: How many tiles the service renders at once (its other requests are not limited). More
    #: renders of a store that computes in Python only fight for the GIL; a database-backed
    #: store waits on its connections.
    tile_threads: int

    def version(self) -> str:
        """Changes whenever the underlying data changes (part of ETags and cache keys)."""
        ...

    def loaded_version(self) -> str | None:
        """The version if the loaded data is current, else ``None`` (cheap; never loads)."""
        ...

    def run_info(self) -> RunInfo: ...

    def gemeente_names(self) -> dict[str, str]:
        """Code → name of every municipality in the result."""
        ...

    def bounds(self, scope: Scope) -> tuple[float, float, float, float] | None:
        """WGS84 bounds of the municipalities in scope."""
        ...

    def features(
        self,
        layer: str | None,
        *,
        scope: Scope,
        filters: Filters,
        bbox: BBox | None,
        limit: int,
        cursor: str | None,
    ) -> FeaturePage: ...

    def feature(self, layer: str, site_id: str, *, scope: Scope) -> dict[str, Any] | None:
        """One candidate with all columns, or ``None`` when absent or outside the scope."""
        ...

    def items(
        self,
        collection: str,
        *,
        scope: Scope,
        bbox: BBox | None,
        crs: str,
        limit: int,
        cursor: str | None,
    ) -> ItemsPage:
        """A page of one of :data:`COLLECTIONS` (OGC API Features ``/items``), in scope.

        Feature ids: ``site_id``; ``gemeentecode`` for ``gemeenten``; ``parcel_id`` /
        ``pand_id`` for the :data:`EXCLUDED_LAYERS`. Features are ordered by that id (the
        excluded layers, too large to sort per request, in a stable order of their own) and carry
        every column but ``explanation`` as properties; geometries in ``crs`` (:data:`CRS84` with
        7 decimals, or :data:`RD_NEW` in metres with 3); ``bbox`` (in its own ``crs``) keeps the
        features whose geometry intersects it. ``cursor`` is a previous page's ``next_cursor``.
        A layer the result lacks is an empty collection.
        """
        ...

    def item(self, collection: str, item_id: str, *, scope: Scope, crs: str) -> str | None:
        """One feature of a collection as a serialised GeoJSON feature (as in :meth:`items`), or
        ``None`` when absent or outside the scope."""
        ...

    def tile(
        self, layer: str, z: int, x: int, y: int, *, scope: Scope, filters: Filters, max_bytes: int
    ) -> bytes:
        """An (uncompressed) MVT tile with one layer named ``layer``."""
        ...

    def why(self, x: float, y: float, *, crs: str, scope: Scope) -> dict[str, Any]: ...

    def gemeenten(self, *, scope: Scope, codes: tuple[str, ...] = ()) -> list[str]:
        """The summary features in scope, serialised as GeoJSON features."""
        ...

    def gemeente_properties(self, scope: Scope) -> list[dict[str, Any]]:
        """The attributes (no geometry) of the summary features in scope, ordered by code."""
        ...

    def export(
        self, gemeentecode: str, *, scope: Scope, include_excluded: bool = False
    ) -> ExportInfo:
        """A GeoPackage with only this municipality (with ``include_excluded`` also its excluded
        parcels and buildings); the path stays readable while it is sent."""
        ...

    # -- the working tool (issue 12; GeoPackage: api/store/gpkg_worktool.py) ------------------
    def search(self, query: Query, *, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
        """Places (addresses, parcels) and sites matching ``query`` in the ``zoekindex``, each
        ``{soort, naam, gemeentecode, gemeentenaam, lon, lat, parcel_id, sites: [...]}``."""
        ...

    def why_places(self, answer: dict[str, Any], *, scope: Scope) -> dict[str, Any]:
        """A ``why`` answer with ``naam`` and ``geometry`` of its parcel and building."""
        ...

    def orientation(self, bbox: BBox, *, scope: Scope, zoom: int) -> dict[str, Any]:
        """``{"names": [{soort, naam, lon, lat}], "water": FeatureCollection}`` in ``bbox``."""
        ...

    def site_rows(
        self, layer: str | None, *, scope: Scope, filters: Filters, bbox: BBox | None
    ) -> Any:
        """The site list (a pandas DataFrame of the list columns) in scope and filtered."""
        ...

    def surroundings(
        self, layer: str, site_id: str, *, scope: Scope, margin: float = 120.0
    ) -> dict[str, Any] | None:
        """RD geometries around one site for its sheet's map, or ``None`` (absent/out of scope)."""
        ...


def open_data_store(settings: StoreSettings) -> DataStore:
    """The store for ``settings.result``: PostGIS for a ``postgresql://`` URL, else the GeoPackage."""
    if settings.result_is_postgres:
        from api.store.postgis import PostGISStore

        return PostGISStore(
            settings.result,
            pool_size=settings.db_pool_size,
            poll_seconds=settings.result_poll_seconds,
        )
    from api.store.gpkg import GeoPackageStore

    return GeoPackageStore(settings.result_path)
