"""``GET /api/styles/{layer}.json``: a MapLibre / Mapbox GL style for a tiled layer.

The colours come from the project's one palette (``pipeline/styles/palette.json``), as in the
GeoPackage's QGIS styles and the web map; the ``gemeenten`` overview's classes are fitted to the
caller's municipalities (so they tell nothing about others). QGIS loads the document for a vector
tile layer (Layer Properties → Symbology → Style → Load Style…), MapLibre as its style.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Response

from api.deps import DataDep, DataUser, PublicBase, data_user
from api.errors import error_responses
from api.models import MapLibreStyle
from api.routes.tiles import TileLayer
from api.store.data import LAYER_TITLES, ZOOMS
from pipeline.styles import capacity_classes
from pipeline.styles.maplibre import style_document

router = APIRouter(prefix="/api/styles", tags=["styles"], dependencies=[Depends(data_user)])


class StyleResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False).encode()


@router.get(
    "/{layer}.json",
    response_class=StyleResponse,
    responses={200: {"model": MapLibreStyle}, **error_responses(401, 403, 422, 503)},
)
def style(layer: TileLayer, base: PublicBase, user: DataUser, data: DataDep) -> StyleResponse:
    """The style of one tiled layer: its tiles (absolute URL) and its colours by tier, or for
    ``gemeenten`` a translucent choropleth of ``capacity_ab`` fitted to your municipalities."""
    lo, hi = ZOOMS["gemeenten" if layer is TileLayer.gemeenten else "candidates"]
    classes = (
        capacity_classes(p.get("capacity_ab") for p in data.gemeente_properties(user.scope))
        if layer is TileLayer.gemeenten
        else []
    )
    return StyleResponse(
        style_document(
            layer.value,
            name=f"Kansenkaart Flexwonen — {LAYER_TITLES[layer.value]}",
            tiles=f"{base}/api/tiles/{layer.value}/{{z}}/{{x}}/{{y}}.mvt",
            minzoom=lo,
            maxzoom=hi,
            bounds=data.bounds(user.scope),
            classes=classes,
            thresholds=data.run_info().tiers or None,
        )
    )
