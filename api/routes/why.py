"""``GET /api/why?x=&y=``: what is at this point, and why it is or is not a candidate."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import DataDep, DataUser, data_user
from api.errors import InvalidRequest, error_responses
from api.models import WhyResponse

router = APIRouter(prefix="/api", tags=["why"], dependencies=[Depends(data_user)])


@router.get("/why", response_model=WhyResponse, responses=error_responses(401, 403, 422, 503))
def why(
    user: DataUser,
    data: DataDep,
    x: Annotated[
        float, Query(description="Longitude (or RD x with crs=EPSG:28992)", allow_inf_nan=False)
    ],
    y: Annotated[
        float, Query(description="Latitude (or RD y with crs=EPSG:28992)", allow_inf_nan=False)
    ],
    crs: Literal["EPSG:4326", "EPSG:28992"] = "EPSG:4326",
) -> WhyResponse:
    """Candidates at the point, the excluded parcel/building with its reasons, and a Dutch summary.

    403 when the point lies outside the caller's municipalities.
    """
    if crs == "EPSG:4326" and not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidRequest("x/y moeten lengte- en breedtegraad zijn (WGS84).")
    if crs == "EPSG:28992" and not (-100_000 <= x <= 400_000 and 200_000 <= y <= 700_000):
        raise InvalidRequest("x/y liggen buiten het RD-bereik.")
    answer = data.why(x, y, crs=crs, scope=user.scope)
    return WhyResponse.model_validate(data.why_places(answer, scope=user.scope))
