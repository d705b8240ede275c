"""``GET /api/tiles/{layer}/{z}/{x}/{y}.mvt``: scoped, cached vector tiles, gzipped for clients
that accept gzip (the cache holds them gzipped; the rare other client gets them unpacked)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import DataUser, FiltersDep, tile_address
from api.errors import error_responses
from api.http import accepts_gzip
from api.tiles import gzip_tile

#: No router-level dependency: the one route asks for ``DataUser`` itself (a second, cached copy
#: still cost a walk of the dependency tree on every tile). Settings and stores come from
#: ``request.app.state`` and the tile address from plain path parameters for the same reason: a
#: tile is the most frequent request, and FastAPI's dependency solving was 13 % of its CPU.
router = APIRouter(prefix="/api/tiles", tags=["tiles"])

MVT_TYPE = "application/vnd.mapbox-vector-tile"


class TileLayer(StrEnum):
    tijdelijke_locaties = "tijdelijke_locaties"
    kantoren = "kantoren"
    plinten = "plinten"
    gemeenten = "gemeenten"


@router.get(
    "/{layer}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={
        200: {
            "content": {MVT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "MVT (gzip-encoded when Accept-Encoding allows it)",
        },
        304: {"description": "Not modified (If-None-Match)"},
        **error_responses(401, 403, 422, 503),
    },
)
async def tile(
    layer: TileLayer,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    request: Request,
    user: DataUser,
    filters: FiltersDep,
) -> Response:
    """One WebMercatorQuad tile with only the caller's municipalities in it."""
    t = tile_address(z, x, y)
    state = request.app.state
    data, settings = state.data, state.settings
    scope = user.scope
    version = data.loaded_version()  # a stat(); None when the result changed or is not loaded
    if version is None:
        version = await run_in_threadpool(data.version)  # (re)load off the event loop
    key = (version, layer.value, t.z, t.x, t.y, scope.key(), filters.key())
    gzipped = accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = (
        '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + ("" if gzipped else "-id") + '"'
    )
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Cookie, Authorization, Accept-Encoding",
    }
    if etag in [v.strip() for v in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    cache = state.tile_cache
    body = cache.get(key)
    if body is None:

        def render() -> bytes:
            raw = data.tile(
                layer.value,
                t.z,
                t.x,
                t.y,
                scope=scope,
                filters=filters,
                max_bytes=settings.tile_max_bytes,
            )
            return gzip_tile(raw)

        # On the tile threads, not the shared pool: 32 renders at once on 40 threads spent half
        # of the CPU handing the GIL around.
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(state.tile_threads, render)
        cache.put(key, body)
    if not gzipped:  # rare (the page and QGIS take gzip): unpack for this client only
        return Response(content=gzip.decompress(body), media_type=MVT_TYPE, headers=headers)
    headers["Content-Encoding"] = "gzip"
    return Response(content=body, media_type=MVT_TYPE, headers=headers)
