"""The site list: ``GET /api/sites.json`` (the page's table), ``/api/sites.csv`` and
``/api/sites.xlsx`` — the same rows and columns, with the filters of ``/api/sites`` plus
``sort`` and ``q``. Downloads are audited like exports."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api import audit, lists
from api.deps import BBoxDep, DataDep, DataUser, FiltersDep, data_user
from api.errors import Forbidden, error_responses
from api.status import status_store

router = APIRouter(prefix="/api", tags=["sites"], dependencies=[Depends(data_user)])


class ListLayer(StrEnum):
    tijdelijke_locaties = "tijdelijke_locaties"
    kantoren = "kantoren"
    plinten = "plinten"


def _rows(
    request: Request,
    user: Any,
    data: Any,
    filters: Any,
    bbox: Any,
    layer: ListLayer | None,
    sort: str | None,
    text: str | None,
) -> Any:
    rows = data.site_rows(
        layer.value if layer else None, scope=user.scope, filters=filters, bbox=bbox
    )
    statuses = status_store(request).current_labels(scope=user.scope)
    return lists.prepare(rows, sort=sort, text=text, statuses=statuses)


SortQ = Annotated[str | None, Query(max_length=40, description="column, '-column' = descending")]
TextQ = Annotated[
    str | None, Query(max_length=100, description="text in description, id or municipality")
]


@router.get("/sites.json", responses=error_responses(401, 403, 422, 503))
def sites_table(
    request: Request,
    user: DataUser,
    data: DataDep,
    filters: FiltersDep,
    bbox: BBoxDep,
    layer: ListLayer | None = None,
    sort: SortQ = None,
    q: TextQ = None,
) -> dict[str, Any]:
    """The site list as the page's table shows it (at most 5,000 rows; the files hold all)."""
    df = _rows(request, user, data, filters, bbox, layer, sort, q)
    return lists.table_json(df, total=len(df))


def _download(request: Request, user: Any, df: Any, fmt: str) -> Response:
    if not user.can_export:
        audit.record(request, "list download", outcome="refused", user=user, format=fmt)
        raise Forbidden("U mag geen lijsten downloaden.")
    if fmt == "csv":
        body, media = lists.to_csv(df), "text/csv; charset=utf-8"
    else:
        body = lists.to_xlsx(
            df,
            title="Kansenkaart Flexwonen — locaties",
            disclaimer=f"{lists.FRAMING}.",
        )
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    audit.record(request, "list download", outcome="success", user=user, format=fmt, rows=len(df))
    return Response(
        content=body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="kansenkaart_locaties.{fmt}"'},
    )


@router.get(
    "/sites.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **error_responses(401, 403, 422, 503)},
)
def sites_csv(
    request: Request,
    user: DataUser,
    data: DataDep,
    filters: FiltersDep,
    bbox: BBoxDep,
    layer: ListLayer | None = None,
    sort: SortQ = None,
    q: TextQ = None,
) -> Response:
    """The site list as CSV (``;``, decimal comma, UTF-8 with BOM): the table's rows and texts."""
    df = _rows(request, user, data, filters, bbox, layer, sort, q)
    return _download(request, user, df, "csv")


@router.get(
    "/sites.xlsx",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
        **error_responses(401, 403, 422, 503),
    },
)
def sites_xlsx(
    request: Request,
    user: DataUser,
    data: DataDep,
    filters: FiltersDep,
    bbox: BBoxDep,
    layer: ListLayer | None = None,
    sort: SortQ = None,
    q: TextQ = None,
) -> Response:
    """The site list as an Excel workbook: the same rows and columns, numbers as numbers."""
    df = _rows(request, user, data, filters, bbox, layer, sort, q)
    return _download(request, user, df, "xlsx")
