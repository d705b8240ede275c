"""``GET /api/gemeenten``: the municipality summary in scope (GeoJSON, WGS84)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import DataDep, DataUser, data_user
from api.errors import Forbidden, error_responses
from api.models import GemeentenCollection
from api.routes.sites import GeoJSONResponse

router = APIRouter(prefix="/api", tags=["gemeenten"], dependencies=[Depends(data_user)])


@router.get(
    "/gemeenten",
    response_class=GeoJSONResponse,
    responses={200: {"model": GemeentenCollection}, **error_responses(401, 403, 422, 503)},
)
def gemeenten(
    user: DataUser,
    data: DataDep,
    gemeente: Annotated[
        list[str], Query(max_length=500, description="Only these codes; repeatable")
    ] = [],  # noqa: B006
) -> Response:
    """Counts and capacity per tier for each municipality you may see."""
    codes = tuple(sorted({c.strip().upper() for c in gemeente if c.strip()}))
    outside = [c for c in codes if not user.scope.allows(c)]
    if outside:
        raise Forbidden(f"Geen toegang tot gemeente(n) {', '.join(outside)}.")
    features = data.gemeenten(scope=user.scope, codes=codes)
    return GeoJSONResponse(
        content=(
            '{{"type":"FeatureCollection","features":[{}]}}'.format(",".join(features))
        ).encode()
    )
