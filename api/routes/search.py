"""``GET /api/search?q=`` (addresses, postcodes, parcels and site ids) and ``GET
/api/orientation`` (names and water to orient by without a basemap); both scoped."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import BBoxDep, DataDep, DataUser, data_user
from api.errors import InvalidRequest, error_responses
from api.models import OrientationResponse, SearchResponse
from api.search import MAX_QUERY, parse_query

router = APIRouter(prefix="/api", tags=["search"], dependencies=[Depends(data_user)])


@router.get("/search", response_model=SearchResponse, responses=error_responses(401, 403, 422, 503))
def search(
    user: DataUser,
    data: DataDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, examples=["KLA01 N 5440"])],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> SearchResponse:
    """Find an address (street and number, or postcode and number), a parcel by its kadastrale
    aanduiding, or a site by its id, within your municipalities; each hit lists its sites."""
    query = parse_query(q)
    hits = data.search(query, scope=user.scope, limit=limit)
    return SearchResponse.model_validate({"query": q, "kind": query.kind, "results": hits})


@router.get(
    "/orientation",
    response_model=OrientationResponse,
    responses=error_responses(401, 403, 422, 503),
)
def orientation(
    user: DataUser,
    data: DataDep,
    bbox: BBoxDep,
    zoom: Annotated[int, Query(ge=0, le=22)] = 14,
) -> OrientationResponse:
    """Place and street names and water in the box (from the scan's own data), so the map can
    be read without the basemap."""
    if bbox is None:
        raise InvalidRequest("Geef bbox=minlon,minlat,maxlon,maxlat.")
    return OrientationResponse.model_validate(data.orientation(bbox, scope=user.scope, zoom=zoom))
