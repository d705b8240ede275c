"""``GET /api/export/{gemeentecode}.gpkg``: a styled GeoPackage of one municipality, audited."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from api import audit
from api.deps import DataDep, DataUser, data_user
from api.errors import Forbidden, InvalidRequest, error_responses

router = APIRouter(prefix="/api/export", tags=["export"], dependencies=[Depends(data_user)])

GPKG_TYPE = "application/geopackage+sqlite3"


class GeoPackageFile(FileResponse):
    chunk_size = 4 * 1024 * 1024  # fewer thread hops for files of tens of MB


@router.get(
    "/{gemeentecode}.gpkg",
    response_class=FileResponse,
    responses={
        200: {
            "content": {GPKG_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "GeoPackage",
        },
        **error_responses(401, 403, 404, 422, 503),
    },
)
def export(
    gemeentecode: Annotated[str, PathParam(max_length=10, examples=["GM0599"])],
    request: Request,
    user: DataUser,
    data: DataDep,
    uitgesloten: Annotated[
        bool,
        Query(description="Also the excluded parcels and buildings with their reasons (large)"),
    ] = False,
) -> FileResponse:
    """The styled layers of one municipality you may see (candidates and the summary), with run
    metadata and QGIS styles; ``uitgesloten=true`` adds the excluded parcels and buildings.

    Who may export: ``analist`` (any municipality) and ``beleidsmaker`` (only their own). Every
    export (and every refused one, as ``denied``) is written to the audit log.
    """
    code = gemeentecode.strip().upper()
    if not re.fullmatch(r"GM\d{4}", code):
        raise InvalidRequest("Gebruik een CBS-gemeentecode, bv. GM0599.")
    if not user.can_export or not user.scope.allows(code):
        raise Forbidden("U mag deze gemeente niet downloaden.")  # audited as denied
    info = data.export(code, scope=user.scope, include_excluded=uitgesloten)
    audit.record(
        request, "export", outcome="success", user=user, gemeentecode=code, counts=info.counts
    )
    return GeoPackageFile(
        info.path,
        media_type=GPKG_TYPE,
        filename=f"kansenkaart_{code}{'_volledig' if uitgesloten else ''}.gpkg",
        headers={"Cache-Control": "no-store"},
    )
