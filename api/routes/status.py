"""Site status and notes (``GET``/``PUT /api/sites/{layer}/{id}/status``, ``GET /api/statuses``)
and the progress per municipality (``GET /api/progress``, ``PUT /api/progress/{code}``).

Who may do what (docs/contracts.md §D): every data role reads statuses and progress of the
municipalities it sees; a ``beleidsmaker`` sets the status of sites in their municipalities, the
``provincie`` role of every site; only ``provincie`` edits progress. A site or municipality
outside the caller's scope answers 404 (its existence is not confirmed). Every change is written
to the history tables and the audit log (who, when, old and new value).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from api import audit
from api.deps import DataDep, DataUser, data_user
from api.errors import Forbidden, InvalidRequest, NotFound, error_responses
from api.models import ProgressIn, StatusIn
from api.routes.sites import CandidateLayer
from api.security import User
from api.status import STATUSES, status_store

router = APIRouter(prefix="/api", tags=["status"], dependencies=[Depends(data_user)])

SiteId = Annotated[str, Path(max_length=200)]


def _site(data: Any, layer: str, site_id: str, user: User) -> dict[str, Any] | None:
    feature = data.feature(layer, site_id, scope=user.scope)
    if feature is None:
        return None
    props = feature["properties"]
    return {
        "gemeentecode": props.get("gemeentecode"),
        "label": props.get("label"),
        "capacity": props.get("capacity_units"),
        "parcel_ids": tuple(
            p.strip() for p in str(props.get("parcel_ids") or "").split(",") if p.strip()
        ),
    }


def _answer(
    request: Request, layer: str, site_id: str, site: dict[str, Any] | None, user: User
) -> dict[str, Any]:
    store = status_store(request)
    current = store.status(layer, site_id, parcel_ids=site["parcel_ids"] if site else ())
    if current is not None and not user.scope.allows(current["gemeentecode"]):
        current = None  # inherited through a parcel from a municipality outside the scope
    if site is None and (current is None or not user.scope.allows(current["gemeentecode"])):
        raise NotFound("Locatie niet gevonden.")
    inherited = current is not None and current["site_id"] != site_id
    return {
        "layer": layer,
        "site_id": site_id,
        "in_scan": site is not None,
        "gemeentecode": site["gemeentecode"] if site else current["gemeentecode"],  # type: ignore[index]
        "status": current,
        "inherited_from": current["site_id"] if inherited and current else None,
        "history": store.history(layer, current["site_id"] if current else site_id),
        "can_edit": user.can_set_status,
        "statuses": [{"code": k, "text": v} for k, v in STATUSES.items()],
    }


@router.get("/sites/{layer}/{site_id}/status", responses=error_responses(401, 403, 404, 422, 503))
def get_status(
    layer: CandidateLayer, site_id: SiteId, request: Request, user: DataUser, data: DataDep
) -> dict[str, Any]:
    """The site's status and note with their history; ``in_scan: false`` for a site the current
    scan no longer has (its history is kept)."""
    site = _site(data, layer.value, site_id, user)
    return _answer(request, layer.value, site_id, site, user)


@router.put("/sites/{layer}/{site_id}/status", responses=error_responses(401, 403, 404, 422, 503))
def put_status(
    layer: CandidateLayer,
    site_id: SiteId,
    body: StatusIn,
    request: Request,
    user: DataUser,
    data: DataDep,
) -> dict[str, Any]:
    """Set the status and note (plain text). ``afgevallen`` needs a ``reason``,
    ``gerealiseerd`` the number of ``homes`` and the ``date``."""
    site = _site(data, layer.value, site_id, user)
    store = status_store(request)
    gemeentecode = site["gemeentecode"] if site else None
    if site is None:
        old = store.status(layer.value, site_id)
        if old is None or not user.scope.allows(old["gemeentecode"]):
            raise NotFound("Locatie niet gevonden.")
        gemeentecode = old["gemeentecode"]
    if not user.can_set_status:
        audit.record(
            request, "status", outcome="refused", user=user, site=f"{layer.value}/{site_id}"
        )
        raise Forbidden("Uw rol mag de status van locaties niet wijzigen.")
    if body.status == "afgevallen" and not (body.reason or "").strip():
        raise InvalidRequest("Geef bij 'afgevallen' de reden op.")
    if body.status == "gerealiseerd" and (body.homes is None or not body.date):
        raise InvalidRequest("Geef bij 'gerealiseerd' het aantal woningen en de datum op.")
    old, new = store.set_status(
        layer.value,
        site_id,
        gemeentecode=str(gemeentecode),
        label=site["label"] if site else None,
        parcel_ids=site["parcel_ids"] if site else (),
        capacity=site["capacity"] if site else None,
        status=body.status,
        note=body.note.strip(),
        reason=(body.reason or "").strip() or None if body.status == "afgevallen" else None,
        homes=body.homes if body.status == "gerealiseerd" else None,
        realised_on=body.date if body.status == "gerealiseerd" else None,
        user_email=user.email,
    )
    audit.record(
        request,
        "status",
        outcome="success",
        user=user,
        site=f"{layer.value}/{site_id}",
        gemeentecode=gemeentecode,
        old={"status": old["status"], "note": old["note"]} if old else None,
        new={"status": new["status"], "note": new["note"]},
    )
    return _answer(request, layer.value, site_id, site, user)


@router.get("/statuses", responses=error_responses(401, 403, 503))
def statuses(request: Request, user: DataUser, data: DataDep) -> dict[str, Any]:
    """Every site status in your municipalities, with ``in_scan`` (false: "niet meer in de
    scan", the history is kept)."""
    out = []
    for s in status_store(request).statuses(scope=user.scope):
        s["in_scan"] = data.feature(s["layer"], s["site_id"], scope=user.scope) is not None
        out.append(s)
    return {"statuses": out}


# -- progress per municipality ---------------------------------------------------------------
STAGES = (
    "Nog niets vastgelegd",
    "In woonvisie of prestatieafspraken",
    "In woonvisie en prestatieafspraken",
    "Flexwoningen gerealiseerd",
)


def _progress_rows(request: Request, user: User, data: Any) -> list[dict[str, Any]]:
    names = data.gemeente_names()
    stored = status_store(request).progress()
    sites = status_store(request).statuses(scope=user.scope)
    rows = []
    for code in sorted(c for c in names if user.scope.allows(c)):
        p = stored.get(code, {})
        mine = [s for s in sites if s["gemeentecode"] == code]
        projects = p.get("projecten", [])
        realised = sum(int(s["homes"] or 0) for s in mine if s["status"] == "gerealiseerd") + sum(
            int(x["woningen"]) for x in projects if x["status"] == "gerealiseerd"
        )
        planned = sum(int(s["capacity"] or 0) for s in mine if s["status"] == "in_procedure") + sum(
            int(x["woningen"]) for x in projects if x["status"] == "gepland"
        )
        wv = bool(p.get("woonvisie", {}).get("opgenomen"))
        pa = bool(p.get("prestatieafspraken", {}).get("opgenomen"))
        stage = 3 if realised > 0 else 2 if (wv and pa) else 1 if (wv or pa) else 0
        rows.append(
            {
                "gemeentecode": code,
                "gemeentenaam": names[code],
                "woonvisie": p.get("woonvisie", {"opgenomen": False, "datum": None, "bron": None}),
                "prestatieafspraken": p.get(
                    "prestatieafspraken", {"opgenomen": False, "datum": None, "bron": None}
                ),
                "projecten": projects,
                "opmerking": p.get("opmerking", ""),
                "gerealiseerd": realised,
                "gepland": planned,
                "locaties_met_status": len(mine),
                "fase": stage,
                "fase_tekst": STAGES[stage],
                "updated_at": p.get("updated_at"),
                "updated_by": p.get("updated_by"),
            }
        )
    return rows


@router.get("/progress", responses=error_responses(401, 403, 503))
def progress(request: Request, user: DataUser, data: DataDep) -> dict[str, Any]:
    """Progress per municipality you see: woonvisie, prestatieafspraken, homes realised and
    planned (site statuses plus projects outside the scan), comment, and the map's class."""
    return {
        "gemeenten": _progress_rows(request, user, data),
        "fasen": list(STAGES),
        "can_edit": user.can_edit_progress,
    }


@router.put("/progress/{gemeentecode}", responses=error_responses(401, 403, 404, 422, 503))
def put_progress(
    gemeentecode: Annotated[str, Path(max_length=10)],
    body: ProgressIn,
    request: Request,
    user: DataUser,
    data: DataDep,
) -> dict[str, Any]:
    """Edit one municipality's progress (``provincie`` role only); audited with old and new."""
    code = gemeentecode.strip().upper()
    if (
        not re.fullmatch(r"GM\d{4}", code)
        or code not in data.gemeente_names()
        or not user.scope.allows(code)
    ):
        raise NotFound("Gemeente niet gevonden.")
    if not user.can_edit_progress:
        audit.record(request, "progress", outcome="refused", user=user, gemeentecode=code)
        raise Forbidden("Alleen de provincie legt de voortgang per gemeente vast.")
    old, new = status_store(request).set_progress(code, body.model_dump(), user_email=user.email)
    audit.record(
        request, "progress", outcome="success", user=user, gemeentecode=code, old=old, new=new
    )
    return next(r for r in _progress_rows(request, user, data) if r["gemeentecode"] == code)
