"""``GET /api/sites/{layer}/{site_id}.pdf``: the site sheet for the council (audited)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from api import audit
from api.deps import DataDep, DataUser, data_user
from api.errors import NotFound, error_responses
from api.routes.sites import CandidateLayer
from api.sheet import render_sheet
from api.status import status_store

router = APIRouter(prefix="/api/sites", tags=["sites"], dependencies=[Depends(data_user)])


@router.get(
    "/{layer}/{site_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        **error_responses(401, 403, 404, 422, 503),
    },
)
def site_sheet(
    layer: CandidateLayer,
    site_id: Annotated[str, Path(max_length=200)],
    request: Request,
    user: DataUser,
    data: DataDep,
) -> Response:
    """A PDF of one site: score, tier, capacity, status and note, every criterion with its
    reason, aandachtspunten, sources, and a map drawn from the data; 404 outside your scope."""
    feature = data.feature(layer.value, site_id, scope=user.scope)
    if feature is None:
        raise NotFound("Locatie niet gevonden.")
    props = feature["properties"]
    parcels = tuple(p for p in str(props.get("parcel_ids") or "").split(",") if p)
    status = {"status": status_store(request).status(layer.value, site_id, parcel_ids=parcels)}
    around = data.surroundings(layer.value, site_id, scope=user.scope)
    body = render_sheet(
        feature, layer=layer.value, around=around, status=status, run=asdict(data.run_info())
    )
    audit.record(
        request, "site sheet", outcome="success", user=user, site=f"{layer.value}/{site_id}"
    )
    return Response(
        content=body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="locatie_{site_id}.pdf"'},
    )
