"""The regional match (issue 14): the registries in the service database and the plan.

- ``GET /api/match`` — the plan ("treintjes") over the whole region, shown within the caller's
  scope (docs/contracts.md §G.7): the region for an ``analist``, the chains that touch their
  municipalities for a ``beleidsmaker``.
- ``GET /api/match/{register}`` (``aanbod`` or ``partijen``) — the rows in scope.
- ``PUT /api/match/{register}/{id}`` — create or replace one row in scope (201 / 200);
  ``DELETE`` — remove it (204). A row outside the caller's municipalities answers 404, as one
  that does not exist; a body whose ``gemeentecode`` lies outside them 403. Every change is
  audited (``match_aanbod`` / ``match_partijen``: who, when, the old and the new row).

The plan is computed on a thread of its own (never on the event loop) by
:func:`pipeline.match.plan_match` — a pure function of the registries and the match config —
and kept while the registries' content does not change (a digest of every row), so every
instance on one database serves the same plan.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api import audit
from api.deps import DataDep, DataUser, in_db
from api.errors import Forbidden, InvalidRequest, NotFound, error_responses
from api.store.registers import REGISTERS, RegisterStore
from pipeline.errors import InputError
from pipeline.match import (
    MatchConfig,
    Registries,
    batches_frame,
    offers_frame,
    plan_match,
)
from pipeline.match.report import plan_json

router = APIRouter(prefix="/api/match", tags=["match"])

Register = Literal["aanbod", "partijen"]
RowId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class MatchPlanAnswer(_Open):
    """docs/contracts.md §G.7 (chains, sites, batches, unplaced, objective and its parts)."""

    scope: Literal["regio", "gemeenten"]
    reference_month: str
    horizon_end: str
    objective: dict[str, float]
    chains: list[dict[str, Any]]
    unplaced: list[dict[str, Any]]
    sites: list[dict[str, Any]]
    batches: list[dict[str, Any]]


class RegisterRows(BaseModel):
    rows: list[dict[str, Any]]


class RowBody(BaseModel):
    """One row of a registry with the Dutch columns of §G.1 (the id comes from the path).

    The location: ``lon``/``lat`` (WGS84), or ``x``/``y`` (RD New), or — for a site on offer
    taken from the scan — nothing, and ``site_id`` names a ``tijdelijke_locaties`` site in the
    caller's scope (its representative point and, when not given, its ``gemeentecode``).
    ``geometrie`` (a site entered by hand, GeoJSON in WGS84) gives the location when no point
    is given.
    """

    model_config = ConfigDict(extra="forbid")

    site_id: str | None = Field(default=None, max_length=64)
    gemeentecode: str | None = Field(default=None, max_length=6)
    naam: str | None = Field(default=None, max_length=200)
    beschikbaar_van: str | None = Field(default=None, max_length=10)
    beschikbaar_tot: str | None = Field(default=None, max_length=10)
    capaciteit: int | None = None
    doelgroepen: str | None = Field(default=None, max_length=200)
    aangeboden_door: str | None = Field(default=None, max_length=200)
    eigenaar: str | None = Field(default=None, max_length=200)
    aantal: int | None = None
    woningtype: str | None = Field(default=None, max_length=100)
    doelgroep: str | None = Field(default=None, max_length=100)
    locatie: str | None = Field(default=None, max_length=200)
    vrij_vanaf: str | None = Field(default=None, max_length=10)
    restlevensduur_jaren: float | None = None
    verhuiskosten_per_woning: float | None = None
    lon: float | None = None
    lat: float | None = None
    x: float | None = None
    y: float | None = None
    geometrie: dict[str, Any] | None = None


# Fields of the body that belong to each registry (the others are refused).
_FIELDS: dict[str, frozenset[str]] = {
    "aanbod": frozenset(
        {
            "site_id",
            "gemeentecode",
            "naam",
            "beschikbaar_van",
            "beschikbaar_tot",
            "capaciteit",
            "doelgroepen",
            "aangeboden_door",
            "lon",
            "lat",
            "x",
            "y",
            "geometrie",
        }
    ),
    "partijen": frozenset(
        {
            "eigenaar",
            "aantal",
            "woningtype",
            "doelgroep",
            "gemeentecode",
            "locatie",
            "vrij_vanaf",
            "restlevensduur_jaren",
            "verhuiskosten_per_woning",
            "lon",
            "lat",
            "x",
            "y",
        }
    ),
}


def _store(request: Request) -> RegisterStore:
    return request.app.state.registers  # type: ignore[no-any-return]


def _to_rd(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 28992, always_xy=True).transform(lon, lat)
    return float(x), float(y)


def _point_of(geometry: dict[str, Any]) -> tuple[float, float]:
    """The representative point (RD) of a GeoJSON geometry in WGS84."""
    import shapely
    from shapely.geometry import shape

    try:
        geom = shape(geometry)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidRequest(f"geometrie is geen geldige GeoJSON-geometrie: {exc}") from None
    if geom.is_empty:
        raise InvalidRequest("geometrie is leeg.")
    p = shapely.point_on_surface(shapely.make_valid(geom))
    return _to_rd(p.x, p.y)


def _row(
    register: str, row_id: str, body: RowBody, user: DataUser, data: DataDep
) -> dict[str, Any]:
    """The body as a registry row (Dutch columns, RD ``x``/``y``), validated as the planner
    validates files; raises 422 naming every problem, 403 outside the caller's scope."""
    given = body.model_dump(exclude_none=True)
    foreign = sorted(set(given) - _FIELDS[register])
    if foreign:
        raise InvalidRequest(
            f"Onbekende velden voor {register}: {', '.join(foreign)} "
            f"(toegestaan: {', '.join(sorted(_FIELDS[register]))})."
        )
    row: dict[str, Any] = {k: v for k, v in given.items() if k not in {"lon", "lat", "geometrie"}}
    row["aanbod_id" if register == "aanbod" else "partij_id"] = row_id
    if body.lon is not None or body.lat is not None:
        if (
            body.lon is None
            or body.lat is None
            or not (math.isfinite(body.lon) and math.isfinite(body.lat))
        ):
            raise InvalidRequest("Geef lon én lat (WGS84), of x én y (RD New).")
        row["x"], row["y"] = _to_rd(body.lon, body.lat)
    elif body.geometrie is not None and body.x is None:
        row["x"], row["y"] = _point_of(body.geometrie)
    if register == "aanbod" and body.site_id and ("x" not in row or not body.gemeentecode):
        site = data.feature("tijdelijke_locaties", body.site_id, scope=user.scope)
        if site is None:
            raise InvalidRequest(
                f"Locatie {body.site_id} staat niet in de scan (tijdelijke_locaties) binnen uw "
                "gemeenten; geef dan zelf lon/lat en gemeentecode."
            )
        if "x" not in row:
            row["x"], row["y"] = _point_of(site["geometry"])
        row.setdefault("gemeentecode", site["properties"].get("gemeentecode"))
        row.setdefault("naam", site["properties"].get("label") or "")
    if register == "aanbod" and body.geometrie is not None:
        import json

        row["geometrie"] = json.dumps(body.geometrie, separators=(",", ":"))
    check = offers_frame if register == "aanbod" else batches_frame
    try:
        frame = check([row], where=register)
    except InputError as exc:
        raise InvalidRequest(
            "; ".join(p.message for p in exc.problems),
            problems=[
                {"column": p.column, "message": p.message, "fix": p.fix} for p in exc.problems
            ],
        ) from None
    code = str(frame["gemeentecode"].iloc[0])
    if not user.scope.allows(code):
        raise Forbidden(f"Gemeente {code} valt buiten uw gemeenten.")
    clean = frame.iloc[0].to_dict()
    from pipeline.match.registries import BATCH_COLUMNS, OFFER_COLUMNS

    columns = OFFER_COLUMNS if register == "aanbod" else BATCH_COLUMNS
    out = {dutch: clean[english] for dutch, english in columns.items()}
    if register == "aanbod":
        out["geometrie"] = row.get("geometrie")
    for key, value in out.items():  # numpy scalars → Python (the database and JSON take these)
        if hasattr(value, "item"):
            out[key] = value.item()
    return out


class MatchPlanner:
    """The plan of the current registries, computed once per content (one thread; the same
    plan for every caller until a row changes)."""

    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="kk-match")
        self._lock = threading.Lock()
        self._cached: tuple[str, Any, Registries] | None = None

    def plan(self, store: RegisterStore) -> tuple[Any, Registries]:
        digest, offers, batches = store.snapshot()
        with self._lock:
            if self._cached is not None and self._cached[0] == digest:
                return self._cached[1], self._cached[2]
            regs = Registries(
                offers_frame(offers, where="match_aanbod"),
                batches_frame(batches, where="match_partijen"),
                None,
            )
            plan = plan_match(regs, self.config)
            self._cached = (digest, plan, regs)
            return plan, regs


@router.get(
    "",
    response_model=MatchPlanAnswer,
    summary="The regional match: chains of sites per batch (within your municipalities)",
    responses=error_responses(401, 403),
)
async def get_plan(request: Request, user: DataUser) -> dict[str, Any]:
    planner: MatchPlanner = request.app.state.match_planner
    loop = asyncio.get_running_loop()
    plan, regs = await loop.run_in_executor(planner.executor, planner.plan, _store(request))
    codes = None if user.scope.gemeenten is None else set(user.scope.gemeenten)
    return plan_json(plan, regs, gemeenten=codes)


@router.get(
    "/{register}",
    response_model=RegisterRows,
    summary="The rows of a registry within your municipalities",
    responses=error_responses(401, 403),
)
async def list_rows(request: Request, register: Register, user: DataUser) -> RegisterRows:
    rows = await in_db(request, _store(request).rows, register, user.scope)
    return RegisterRows(rows=rows)


@router.put(
    "/{register}/{row_id}",
    response_model=RegisterRows,
    summary="Create or replace one row (201 when new)",
    responses=error_responses(401, 403, 404, 422),
)
async def put_row(
    request: Request,
    response: Response,
    register: Register,
    row_id: RowId,
    user: DataUser,
    data: DataDep,
    body: Annotated[RowBody, Body()],
) -> RegisterRows:
    row = _row(register, row_id, body, user, data)
    put = functools.partial(_store(request).put, by=user.email)
    changed = await in_db(request, put, register, row, user.scope)
    if changed is None:
        raise NotFound()
    old, new = changed
    response.status_code = 201 if old is None else 200
    await audit.arecord(
        request,
        f"match_{register}",
        outcome="created" if old is None else "updated",
        user=user,
        id=row_id,
        old=_public(old),
        new=_public(new),
    )
    return RegisterRows(rows=[new])


@router.delete(
    "/{register}/{row_id}",
    status_code=204,
    summary="Delete one row",
    responses=error_responses(401, 403, 404),
)
async def delete_row(
    request: Request, register: Register, row_id: RowId, user: DataUser
) -> Response:
    old = await in_db(request, _store(request).delete, register, row_id, user.scope)
    if old is None:
        raise NotFound()
    await audit.arecord(
        request, f"match_{register}", outcome="deleted", user=user, id=row_id, old=_public(old)
    )
    return Response(status_code=204)


def _public(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A row for the audit log: its data columns (the outline left out: it can be long)."""
    if row is None:
        return None
    return {k: v for k, v in row.items() if k not in {"geometrie", "gewijzigd_op"}}


__all__ = ["REGISTERS", "MatchPlanner", "router"]
