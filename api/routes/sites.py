"""``GET /api/sites`` (GeoJSON pages) and ``GET /api/sites/{layer}/{site_id}`` (one site, explained)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import BBoxDep, DataDep, DataUser, FiltersDep, data_user
from api.errors import NotFound, error_responses
from api.models import SiteFeature, SitesPage

router = APIRouter(prefix="/api/sites", tags=["sites"], dependencies=[Depends(data_user)])


class CandidateLayer(StrEnum):
    tijdelijke_locaties = "tijdelijke_locaties"
    kantoren = "kantoren"
    plinten = "plinten"


class GeoJSONResponse(Response):
    media_type = "application/geo+json"


@router.get(
    "",
    response_class=GeoJSONResponse,
    responses={200: {"model": SitesPage}, **error_responses(401, 403, 422, 503)},
)
def sites(
    user: DataUser,
    data: DataDep,
    filters: FiltersDep,
    bbox: BBoxDep,
    layer: CandidateLayer | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Candidates as GeoJSON (WGS84), in pages of at most 10,000; follow ``next_cursor``."""
    page = data.features(
        layer.value if layer else None,
        scope=user.scope,
        filters=filters,
        bbox=bbox,
        limit=limit,
        cursor=cursor,
    )
    body = (
        f'{{"type":"FeatureCollection","numberReturned":{len(page.features)},'
        f'"next_cursor":{json.dumps(page.next_cursor)},"features":[{",".join(page.features)}]}}'
    )
    return GeoJSONResponse(content=body.encode())


@router.get(
    "/{layer}/{site_id}",
    response_class=GeoJSONResponse,
    responses={200: {"model": SiteFeature}, **error_responses(401, 403, 404, 422, 503)},
)
def site(
    layer: CandidateLayer,
    site_id: Annotated[str, Path(max_length=200)],
    user: DataUser,
    data: DataDep,
) -> Response:
    """One candidate with all its columns, the parsed explanation and the input sources.

    A site outside your municipalities answers 404, exactly like one that does not exist, so its
    existence is not confirmed.
    """
    feature = data.feature(layer.value, site_id, scope=user.scope)
    if feature is None:
        raise NotFound("Locatie niet gevonden.")
    return GeoJSONResponse(content=json.dumps(feature, ensure_ascii=False).encode())
