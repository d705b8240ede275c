"""``GET /api/me`` (who am I, what may I see) and ``GET /api/config`` (public page settings)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import CurrentUser, SettingsDep
from api.errors import ResultUnavailable, error_responses
from api.models import ConfigResponse, GemeenteRef, Me, RunRef
from api.security import User

router = APIRouter(prefix="/api", tags=["me"])
public = APIRouter(prefix="/api", tags=["me"])


def build_me(user: User, request: Request) -> Me:
    """The ``Me`` body for a user (their municipalities with names, export right, run)."""
    data = request.app.state.data
    try:
        names = data.gemeente_names()
        run = data.run_info()
    except ResultUnavailable:
        names, run = {}, None
    if user.is_province:
        codes = sorted(names)
    elif user.role == "beleidsmaker":
        codes = sorted(user.gemeenten)
    else:
        codes = []
    return Me(
        email=user.email,
        role=user.role,  # type: ignore[arg-type]
        gemeenten=[GemeenteRef(code=c, naam=names.get(c, c)) for c in codes],
        can_export=user.can_export,
        can_set_status=user.can_set_status,
        can_edit_progress=user.can_edit_progress,
        province=user.is_province,
        synthetic=bool(run and run.synthetic),
        run=RunRef(run_id=run.run_id, finished_at=run.finished_at) if run else None,
    )


@router.get("/me", response_model=Me, responses=error_responses(401))
def me(user: CurrentUser, request: Request) -> Me:
    """The logged-in user: role, municipalities, whether they may export, and the current run."""
    return build_me(user, request)


@public.get("/config", response_model=ConfigResponse)
def config(settings: SettingsDep) -> ConfigResponse:
    """Settings the page needs before login (basemap)."""
    return ConfigResponse(
        basemap_url=settings.basemap_url, basemap_attribution=settings.basemap_attribution
    )
