"""``GET /api/layers``: TileJSON 3.0 for every tiled layer, within the caller's scope."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends

from api.deps import DataDep, DataUser, FiltersDep, data_user
from api.errors import error_responses
from api.models import LayersResponse, TileJSON, VectorLayer
from api.store.data import (
    GEMEENTE_TILE_FIELDS,
    LAYER_TITLES,
    TILE_DETAIL_FIELDS,
    TILE_FIELDS,
    TILE_LAYERS,
    ZOOMS,
    Filters,
)

router = APIRouter(prefix="/api", tags=["layers"], dependencies=[Depends(data_user)])

FIELD_TEXT = {
    "site_id": "String",
    "gemeentecode": "String",
    "gemeentenaam": "String",
    "score": "Number",
    "tier": "String",
    "capacity_units": "Number",
    "capacity_ab": "Number",
    "owner_class": "String",
    "label": "String",
    "rank": "Number",
}


def _query(filters: Filters) -> str:
    pairs: list[tuple[str, str]] = []
    if filters.min_score is not None:
        pairs.append(("min_score", str(filters.min_score)))
    if filters.min_capacity is not None:
        pairs.append(("min_capacity", str(filters.min_capacity)))
    pairs += [("owner_class", o) for o in filters.owner_class]
    pairs += [("gemeente", g) for g in filters.gemeenten]
    pairs += [("tier", t) for t in filters.tiers]
    return ("?" + urlencode(pairs)) if pairs else ""


@router.get("/layers", response_model=LayersResponse, responses=error_responses(401, 403, 422, 503))
def layers(user: DataUser, data: DataDep, filters: FiltersDep) -> LayersResponse:
    """One TileJSON per layer; the tile URLs carry the given filters."""
    bounds = data.bounds(user.scope)
    query = _query(filters)
    out = []
    for layer in TILE_LAYERS:
        lo, hi = ZOOMS["gemeenten" if layer == "gemeenten" else "candidates"]
        fields = (
            GEMEENTE_TILE_FIELDS if layer == "gemeenten" else (*TILE_FIELDS, *TILE_DETAIL_FIELDS)
        )
        out.append(
            TileJSON(
                id=layer,
                name=LAYER_TITLES[layer],
                tiles=[f"/api/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt{query}"],
                minzoom=lo,
                maxzoom=hi,
                bounds=list(bounds) if bounds else None,
                vector_layers=[
                    VectorLayer(
                        id=layer, fields={f: FIELD_TEXT[f] for f in fields}, minzoom=lo, maxzoom=hi
                    )
                ],
            )
        )
    return LayersResponse(layers=out)
