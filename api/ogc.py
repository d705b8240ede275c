"""The documents of the OGC API Features service under ``/api/ogc`` (Part 1 Core + GeoJSON +
OpenAPI 3.0, Part 2 CRS by reference), built from the public base address.

The routes (:mod:`api.routes.ogc`) stay thin: they parse, ask the :class:`~api.store.data.DataStore`
and hand the answer to the builders here. Every link is absolute (QGIS follows them as given),
made from ``KANSENKAART_PUBLIC_URL`` or else the request's own address.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from api.store.data import COLLECTIONS, CRS84, LAYER_TITLES, RD_NEW, ItemsPage

PREFIX = "/api/ogc"
JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
#: Page size: the default and the largest a client may ask for (a larger ``limit`` is lowered).
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
#: Query parameters of ``/items`` (anything else is refused with 400, as Part 1 asks).
ITEMS_PARAMETERS = ("limit", "bbox", "bbox-crs", "crs", "cursor", "f")
SUPPORTED_CRS = (CRS84, RD_NEW)

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)

DESCRIPTIONS = {
    "tijdelijke_locaties": "Kavels voor tijdelijke woningen, met score, klasse (A–E), capaciteit en "
    "de redenen; alleen in uw gemeenten.",
    "kantoren": "(Deels) leegstaande kantoorpanden voor transformatie, met score, klasse en "
    "capaciteit; alleen in uw gemeenten.",
    "plinten": "Leegstaande winkelruimtes op de begane grond buiten de kernwinkelgebieden, met "
    "score, klasse en capaciteit; alleen in uw gemeenten.",
    "gemeenten": "Overzicht per gemeente: aantallen en capaciteit per klasse; alleen uw gemeenten.",
    "uitgesloten_percelen": "Elk perceel dat geen (deel van een) kans is, met de redenen "
    "(reason_codes, reasons); alleen in uw gemeenten. Groot: vraag het per gebied op (bbox).",
    "uitgesloten_panden": "Elk pand met kantoorruimte of een winkel dat geen kans is, met de "
    "redenen; alleen in uw gemeenten.",
}

#: Accepted spellings of the two CRSs (URIs of Part 2, plus the usual short forms).
_CRS_ALIASES = {
    **dict.fromkeys(
        (
            CRS84,
            CRS84.replace("http://", "https://"),
            "[OGC:CRS84]",
            "OGC:CRS84",
            "CRS84",
            "urn:ogc:def:crs:OGC:1.3:CRS84",
        ),
        CRS84,
    ),
    **dict.fromkeys(
        (
            RD_NEW,
            RD_NEW.replace("http://", "https://"),
            "[EPSG:28992]",
            "EPSG:28992",
            "urn:ogc:def:crs:EPSG::28992",
        ),
        RD_NEW,
    ),
}


def crs_uri(value: str) -> str | None:
    """The URI of a supported CRS given in any accepted spelling, else ``None``."""
    return _CRS_ALIASES.get(value.strip())


def _link(href: str, rel: str, media: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media, "title": title}


def landing_page(base: str) -> dict[str, Any]:
    root = base + PREFIX
    return {
        "title": "Kansenkaart Flexwonen",
        "description": "Kansen voor tijdelijke woningen in Zuid-Holland (OGC API Features). "
        "Vertrouwelijk: u ziet alleen de gemeenten waar u toegang toe heeft.",
        "links": [
            _link(root + "/", "self", JSON, "Deze pagina"),
            _link(root + "/api", "service-desc", OPENAPI, "De API-definitie (OpenAPI 3.0)"),
            _link(root + "/conformance", "conformance", JSON, "Ondersteunde standaarden"),
            _link(root + "/collections", "data", JSON, "De lagen"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": list(CONFORMANCE)}


def collection(
    base: str, collection_id: str, bounds: tuple[float, float, float, float] | None
) -> dict[str, Any]:
    """One collection; ``bounds`` (lon/lat) are those of the caller's municipalities."""
    url = f"{base}{PREFIX}/collections/{collection_id}"
    doc: dict[str, Any] = {
        "id": collection_id,
        "title": LAYER_TITLES[collection_id],
        "description": DESCRIPTIONS[collection_id],
        "itemType": "feature",
        "crs": list(SUPPORTED_CRS),
        "storageCrs": RD_NEW,
        "links": [
            _link(url, "self", JSON, "Deze laag"),
            _link(url + "/items", "items", GEOJSON, "De objecten (GeoJSON)"),
        ],
    }
    if bounds is not None:
        doc["extent"] = {"spatial": {"bbox": [[round(b, 6) for b in bounds]], "crs": CRS84}}
    return doc


def collections(base: str, bounds: tuple[float, float, float, float] | None) -> dict[str, Any]:
    return {
        "links": [_link(f"{base}{PREFIX}/collections", "self", JSON, "De lagen")],
        "collections": [collection(base, c, bounds) for c in COLLECTIONS],
    }


def items_body(
    page: ItemsPage,
    *,
    collection_url: str,
    self_url: str,
    next_url: str | None,
) -> bytes:
    """The ``/items`` answer: a GeoJSON FeatureCollection with counts, time and links."""
    links = [
        _link(self_url, "self", GEOJSON, "Deze pagina"),
        _link(collection_url, "collection", JSON, "De laag"),
    ]
    if next_url is not None:
        links.append(_link(next_url, "next", GEOJSON, "Volgende pagina"))
    matched = "" if page.number_matched is None else f'"numberMatched":{page.number_matched},'
    head = (
        f'{{"type":"FeatureCollection",{matched}'
        f'"numberReturned":{len(page.features)},'
        f'"timeStamp":"{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}",'
        f'"links":{json.dumps(links, ensure_ascii=False)},"features":['
    )
    return (head + ",".join(page.features) + "]}").encode()


def page_url(url: str, params: list[tuple[str, str]], *, cursor: str | None) -> str:
    """``url`` with the request's query parameters, the cursor replaced by ``cursor``."""
    kept = [(k, v) for k, v in params if k != "cursor"]
    if cursor is not None:
        kept.append(("cursor", cursor))
    return url + ("?" + urlencode(kept) if kept else "")


def content_crs(crs: str) -> str:
    """The ``Content-Crs`` header of Part 2: the URI in angle brackets."""
    return f"<{crs}>"


def openapi_document(base: str) -> dict[str, Any]:
    """An OpenAPI 3.0 description of this OGC API (the ``service-desc`` link): what QGIS reads
    for the page size (``components.parameters.limit``)."""
    collection_ref = {"$ref": "#/components/parameters/collectionId"}
    errors = {
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
    }

    def op(summary: str, media: str, *, params: list[Any] | None = None) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": params or [],
                "responses": {
                    "200": {"description": summary, "content": {media: {"schema": {}}}},
                    **errors,
                },
            }
        }

    item_params = [
        collection_ref,
        *({"$ref": f"#/components/parameters/{p}"} for p in ("limit", "bbox", "bbox-crs", "crs")),
        {"$ref": "#/components/parameters/cursor"},
    ]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Kansenkaart Flexwonen — OGC API Features",
            "version": "1.0.0",
            "description": "Vertrouwelijk; elke laag bevat alleen de gemeenten van de gebruiker. "
            "Authenticatie: HTTP Basic met e-mailadres en persoonlijk API-token, of "
            "'Authorization: Bearer <token>'.",
        },
        "servers": [{"url": base + PREFIX}],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": {
            "/": op("Landing page", JSON),
            "/conformance": op("Conformance classes", JSON),
            "/api": op("This API definition", OPENAPI),
            "/collections": op("The collections", JSON),
            "/collections/{collectionId}": op("One collection", JSON, params=[collection_ref]),
            "/collections/{collectionId}/items": op("Features", GEOJSON, params=item_params),
            "/collections/{collectionId}/items/{featureId}": op(
                "One feature",
                GEOJSON,
                params=[
                    collection_ref,
                    {"$ref": "#/components/parameters/featureId"},
                    {"$ref": "#/components/parameters/crs"},
                ],
            ),
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "parameters": {
                "collectionId": {
                    "name": "collectionId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(COLLECTIONS)},
                },
                "featureId": {
                    "name": "featureId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                },
                "bbox": {
                    "name": "bbox",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {
                        "type": "array",
                        "minItems": 4,
                        "maxItems": 4,
                        "items": {"type": "number"},
                    },
                },
                "bbox-crs": {
                    "name": "bbox-crs",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS)},
                },
                "crs": {
                    "name": "crs",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS)},
                },
                "cursor": {
                    "name": "cursor",
                    "in": "query",
                    "required": False,
                    "description": "Opaque; follow the 'next' link.",
                    "schema": {"type": "string"},
                },
            },
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {"error": {"type": "object"}},
                            }
                        }
                    },
                }
            },
        },
    }
