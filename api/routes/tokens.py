"""Personal API tokens: ``POST /api/tokens``, ``GET /api/tokens``, ``DELETE /api/tokens/{id}``.

Tokens are for scripts and QGIS (``Authorization: Bearer kk_…``); they carry the owner's role and
scope, die with the owner's account, and are stored hashed. Managing them needs a logged-in
session (with CSRF), so a leaked token cannot mint more.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from api import audit
from api.deps import SessionPrincipal, SettingsDep, UsersDep, session_principal
from api.errors import InvalidRequest, NotFound, error_responses
from api.models import TokenCreate, TokenCreated, TokenList, TokenOut
from api.store.users import TokenInfo

router = APIRouter(prefix="/api/tokens", tags=["tokens"], dependencies=[Depends(session_principal)])


def _iso(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts is not None else None


def _out(info: TokenInfo) -> TokenOut:
    return TokenOut(
        id=info.id,
        name=info.name,
        created_at=_iso(info.created_at) or "",
        expires_at=_iso(info.expires_at) or "",
        last_used=_iso(info.last_used),
    )


@router.post(
    "", status_code=201, response_model=TokenCreated, responses=error_responses(401, 403, 422)
)
def create_token(
    body: TokenCreate,
    request: Request,
    principal: SessionPrincipal,
    users: UsersDep,
    settings: SettingsDep,
) -> TokenCreated:
    """Create a token; the response holds it once, only its hash is kept. A lifetime above
    ``TOKEN_MAX_DAYS`` (365) is refused (422)."""
    days = body.days or settings.token_days
    if days > settings.token_max_days:
        raise InvalidRequest(
            f"Een API-token leeft ten hoogste {settings.token_max_days} dagen; kies 'days' "
            f"tussen 1 en {settings.token_max_days}."
        )
    info, raw = users.create_token(principal.user, name=body.name, days=days)
    audit.record(request, "token_create", outcome="success", user=principal.user, token_id=info.id)
    return TokenCreated(**_out(info).model_dump(), token=raw)


@router.get("", response_model=TokenList, responses=error_responses(401, 403))
def list_tokens(principal: SessionPrincipal, users: UsersDep) -> TokenList:
    """Your live tokens (never the secret)."""
    return TokenList(tokens=[_out(t) for t in users.list_tokens(principal.user)])


@router.delete(
    "/{token_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
def delete_token(
    token_id: Annotated[str, Path(max_length=64)],
    request: Request,
    principal: SessionPrincipal,
    users: UsersDep,
) -> Response:
    """Revoke one of your tokens; it stops working at once."""
    if not users.revoke_token(principal.user, token_id):
        raise NotFound("Token niet gevonden.")
    audit.record(request, "token_revoke", outcome="success", user=principal.user, token_id=token_id)
    return Response(status_code=204)
