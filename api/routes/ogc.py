"""OGC API Features under ``/api/ogc``: landing page, conformance, the API definition, the
collections (candidate layers and the municipality summary), their items and single items.

Same authentication, scoping and error rules as every data route (``DataUser``; the store applies
the caller's scope); what GIS programs need on top: absolute links, ``next`` links for paging,
``crs``/``bbox-crs`` in CRS84 or EPSG:28992 (Part 2) and 400 for a bad parameter.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from api import ogc
from api.deps import (
    DataDep,
    DataUser,
    ItemsQueryDep,
    OgcCollectionDep,
    OgcCrsDep,
    PublicBase,
    SettingsDep,
    data_user,
)
from api.errors import NotFound, error_responses
from api.models import (
    Feature,
    OgcCollection,
    OgcCollections,
    OgcConformance,
    OgcFeatureCollection,
    OgcLandingPage,
    OpenAPIDocument,
)
from api.security import seal

router = APIRouter(prefix=ogc.PREFIX, tags=["ogc"], dependencies=[Depends(data_user)])

ERRORS = error_responses(400, 401, 403, 503)


def _doc(model: type[Any], media: str = ogc.JSON) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=``: the 200 body documented by ``model``, and the errors."""
    return {200: {"model": model, "content": {media: {}}}, **ERRORS}


class JSONDoc(Response):
    media_type = ogc.JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False).encode()


class GeoJSONDoc(Response):
    media_type = ogc.GEOJSON


class OpenAPIDoc(JSONDoc):
    media_type = ogc.OPENAPI


@router.get("", response_class=JSONDoc, include_in_schema=False)
@router.get("/", response_class=JSONDoc, responses=_doc(OgcLandingPage))
def landing(base: PublicBase) -> JSONDoc:
    """Landing page: links to the API definition, the conformance classes and the collections."""
    return JSONDoc(ogc.landing_page(base))


@router.get("/conformance", response_class=JSONDoc, responses=_doc(OgcConformance))
def conformance() -> JSONDoc:
    """The conformance classes (Part 1 Core, GeoJSON, OpenAPI 3.0; Part 2 CRS)."""
    return JSONDoc(ogc.conformance())


@router.get("/api", response_class=OpenAPIDoc, responses=_doc(OpenAPIDocument, ogc.OPENAPI))
def api_definition(base: PublicBase) -> OpenAPIDoc:
    """This OGC API described in OpenAPI 3.0 (the landing page's ``service-desc``)."""
    return OpenAPIDoc(ogc.openapi_document(base))


@router.get("/collections", response_class=JSONDoc, responses=_doc(OgcCollections))
def collections(base: PublicBase, user: DataUser, data: DataDep) -> JSONDoc:
    """One collection per layer; the extent is that of your municipalities."""
    return JSONDoc(ogc.collections(base, data.bounds(user.scope)))


@router.get(
    "/collections/{collection_id}",
    response_class=JSONDoc,
    responses={**_doc(OgcCollection), **error_responses(404)},
)
def collection(
    collection_id: OgcCollectionDep, base: PublicBase, user: DataUser, data: DataDep
) -> JSONDoc:
    """One collection."""
    return JSONDoc(ogc.collection(base, collection_id, data.bounds(user.scope)))


@router.get(
    "/collections/{collection_id}/items",
    response_class=GeoJSONDoc,
    responses={**_doc(OgcFeatureCollection, ogc.GEOJSON), **error_responses(404)},
)
def items(
    collection_id: OgcCollectionDep,
    query: ItemsQueryDep,
    request: Request,
    settings: SettingsDep,
    base: PublicBase,
    user: DataUser,
    data: DataDep,
) -> GeoJSONDoc:
    """Features of your municipalities, ordered by id, in pages: follow the ``next`` link."""
    page = data.items(
        collection_id,
        scope=user.scope,
        bbox=query.bbox,
        crs=query.crs,
        limit=query.limit,
        cursor=query.cursor,
    )
    url = f"{base}{request.url.path}"
    params = list(request.query_params.multi_items())
    body = ogc.items_body(
        page,
        collection_url=url.removesuffix("/items"),
        self_url=ogc.page_url(url, params, cursor=request.query_params.get("cursor")),
        next_url=(
            ogc.page_url(url, params, cursor=seal(settings.secret, page.next_cursor))
            if page.next_cursor
            else None
        ),
    )
    return GeoJSONDoc(content=body, headers={"Content-Crs": ogc.content_crs(query.crs)})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=GeoJSONDoc,
    responses={**_doc(Feature, ogc.GEOJSON), **error_responses(404)},
)
def item(
    collection_id: OgcCollectionDep,
    feature_id: Annotated[str, Path(max_length=200)],
    crs: OgcCrsDep,
    user: DataUser,
    data: DataDep,
) -> GeoJSONDoc:
    """One feature; outside your municipalities it answers 404, like a missing one."""
    feature = data.item(collection_id, feature_id, scope=user.scope, crs=crs)
    if feature is None:
        raise NotFound("Object niet gevonden.")
    return GeoJSONDoc(content=feature.encode(), headers={"Content-Crs": ogc.content_crs(crs)})
