"""``GET /api/sites/{layer}/{site_id}/businesscase?…knobs`` — the business case of one site.

Scoped exactly like the site itself (a site outside the caller's municipalities answers 404, as
one that does not exist): the site is read through :meth:`DataStore.feature` with the caller's
scope, then :func:`pipeline.businesscase.site_business_case` (pure numpy, no file access beyond
the key figures) computes the answer. Every knob of ``kengetallen.yaml`` is an optional query
parameter; an unknown parameter, a value of the wrong type or outside the knob's range is a 422
that names the knob (docs/contracts.md §D, §F).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, create_model

from api.deps import DataDep, DataUser, data_user
from api.errors import InvalidRequest, NotFound, error_responses
from api.routes.sites import CandidateLayer
from api.store.data import OPPORTUNITY_TYPES
from pipeline.businesscase import KnobError, Knobs, load_key_figures, site_business_case

router = APIRouter(prefix="/api/sites", tags=["businesscase"], dependencies=[Depends(data_user)])


def _query_field(annotation: Any) -> Any:
    """A knob's type as an optional query parameter (numbers arrive as text and are parsed)."""
    return (annotation | None, None)


#: The knobs as query parameters: every field of :class:`Knobs`, optional; unknown ones are refused.
_KnobQuery: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "KnobQuery",
    __config__=ConfigDict(extra="forbid"),
    **{
        name: _query_field(
            str
            if getattr(field.annotation, "__origin__", None) is Literal
            else (field.annotation if field.annotation in (int, float, bool, str) else float)
        )
        for name, field in Knobs.model_fields.items()
    },
)
if TYPE_CHECKING:
    KnobQuery = BaseModel
else:
    KnobQuery = _KnobQuery


# -- the answer (so the OpenAPI schema tells the truth) -----------------------------------------
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CashflowYear(BaseModel):
    year: int
    investment: float
    rent: float
    operating_costs: float
    land: float
    relocation: float
    residual: float
    net: float
    cumulative_pv: float


class CaseResult(BaseModel):
    homes: int
    first_term_years: int
    end_year: int
    npv: float | None
    irr: float | None
    break_even_rent: float | None
    break_even_term: int | None
    investment: float | None
    cashflow: list[CashflowYear]


class ScenarioRow(BaseModel):
    scenario: str
    label: str
    selected: bool
    npv: float | None
    irr: float | None
    break_even_rent: float | None
    break_even_term: int | None
    end_year: int


class KnobOut(_Open):
    name: str
    label: str
    group: str
    type: Literal["number", "integer", "choice", "boolean"]
    value: float | int | str | bool | None
    source: str
    assumption: bool


class RentCheckOut(BaseModel):
    year: int
    kwaliteitskortingsgrens: float
    maximale_huurgrens: float
    rent_eur_month: float
    status: Literal["doelgroep", "huurtoeslag", "boven_huurtoeslaggrens"]
    text: str
    source: str


class Suggestion(BaseModel):
    knob: str
    value: str | bool | float
    npv: float | None
    text: str


class BusinessCaseAnswer(BaseModel):
    """``GET /api/sites/{layer}/{site_id}/businesscase`` (docs/contracts.md §D)."""

    site_id: str | None
    layer: str
    opportunity_type: str
    inputs: dict[str, Any]
    knobs: list[KnobOut]
    result: CaseResult
    rent_check: RentCheckOut
    scenarios: list[ScenarioRow]
    suggestions: list[Suggestion]
    notes: list[str]
    disclaimer: str


@router.get(
    "/{layer}/{site_id}/businesscase",
    responses={200: {"model": BusinessCaseAnswer}, **error_responses(401, 403, 404, 422, 503)},
    response_class=Response,
)
def businesscase(
    request: Request,
    layer: CandidateLayer,
    site_id: Annotated[str, Path(max_length=200)],
    user: DataUser,
    data: DataDep,
    knobs: Annotated[KnobQuery, Query()],
) -> Response:
    """The business case of one site: cash flow per year, NPV, IRR, break-even rent and term,
    the rent check, the three endings side by side and suggestions (the grondabonnement where
    the owner is public). Every knob is an optional query parameter (``kengetallen.yaml``).
    """
    feature = data.feature(layer.value, site_id, scope=user.scope)
    if feature is None:
        raise NotFound("Locatie niet gevonden.")
    today = dt.datetime.fromtimestamp(request.app.state.clock(), dt.UTC).date()
    try:
        answer = site_business_case(
            feature["properties"],
            opportunity_type=OPPORTUNITY_TYPES[layer.value],
            overrides=knobs.model_dump(exclude_none=True),
            key_figures=load_key_figures(),
            today=today,
        )
    except KnobError as exc:
        raise InvalidRequest("Ongeldige draaiknop: " + "; ".join(exc.problems)) from None
    answer["layer"] = layer.value
    answer["site_id"] = site_id
    body = json.dumps(answer, ensure_ascii=False, allow_nan=False)
    return Response(content=body.encode(), media_type="application/json")
