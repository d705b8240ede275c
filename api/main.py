"""The service, assembled top-down: settings → lifespan → app → routers → middleware → errors → health.

``create_app(settings)`` is the only entry point (``kansenkaart serve`` and the tests call it).
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from api.errors import install_error_handlers
from api.http import PageFiles
from api.middleware import MAX_BODY, BodyLimit, SecurityHeaders, TrustedProxies
from api.models import Health
from api.routes import (
    auth,
    businesscase,
    export,
    gemeenten,
    layers,
    lists,
    match,
    me,
    ogc,
    search,
    sheet,
    sites,
    styles,
    tiles,
    tokens,
    why,
)
from api.routes import status as site_status
from api.routes.match import MatchPlanner
from api.security import CSRF_HEADER
from api.settings import Settings
from api.status import WorkStore
from api.store.data import DataStore, open_data_store
from api.store.registers import RegisterStore
from api.store.users import open_user_store
from api.tiles import TileCache
from pipeline.match import load_match_config

#: Threads for the user database (sessions, tokens, logins, audit); SQLite has one writer at a
#: time, so more would only wait.
DB_THREADS = 4


_frozen = False


def _freeze_loaded_objects() -> None:
    """Move what exists after the first start-up (modules, the loaded result's millions of
    objects) out of the garbage collector's sight (:func:`gc.freeze`), once per process.

    Otherwise every full collection walks the loaded store again: ~100 ms pauses that stalled all
    requests of a process in the province benchmark (the 32-client maximum went from ~270 to
    ~150 ms without them). Garbage is collected first, so nothing dead is pinned; a process that
    builds many apps (the tests) freezes only at the first one, so later garbage is collected as
    usual.
    """
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    data: DataStore | None = None,
) -> FastAPI:
    """Build the api for ``settings``.

    ``clock`` is injectable so tests can move time; ``data`` replaces the store that
    ``settings.result`` names (another :class:`~api.store.data.DataStore`, or one shared between
    apps).
    """

    # -- lifespan: the stores live as long as the app ------------------------------------------
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.data.available()  # load the result now if it is there (else on first request)
        _freeze_loaded_objects()
        yield
        close = getattr(app.state.data, "close", None)
        if close is not None and data is None:  # a store handed in belongs to the caller
            close()
        app.state.users.close()  # the database connections (reopened on the next use)

    # -- app -----------------------------------------------------------------------------------
    app = FastAPI(
        title="Kansenkaart Flexwonen",
        version="0.1.0",
        description="Authenticated, municipality-scoped access to the flexwonen scan (docs/contracts.md §D).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.users = open_user_store(
        settings.database,
        secret=settings.secret,
        clock=clock,
        passwords=settings.passwords(),
        auto_upgrade=settings.db_auto_upgrade,
        pool_size=settings.db_pool_size,
        session_cache_seconds=settings.session_cache_seconds,
    )
    app.state.data = data if data is not None else open_data_store(settings)
    # Site statuses, notes and progress: the service's database, beside users (api/status.py).
    app.state.work = WorkStore(app.state.users.db, clock=clock)
    app.state.tile_cache = TileCache(settings.tile_cache_mb * 1024 * 1024)
    # The regional match (issue 14): its registries share the service database.
    app.state.registers = RegisterStore(app.state.users.db, clock=clock)
    app.state.match_planner = MatchPlanner(load_match_config(settings.match_config))
    # Blocking work of async routes runs here, never on the event loop (api/deps.py).
    app.state.db_threads = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="kk-db")
    # Tiles are rendered on their own few threads (the store says how many), in arrival order.
    app.state.tile_threads = ThreadPoolExecutor(
        app.state.data.tile_threads, thread_name_prefix="kk-tile"
    )
    app.state.password_threads = ThreadPoolExecutor(
        settings.password_concurrency, thread_name_prefix="kk-password"
    )

    # -- routers -------------------------------------------------------------------------------
    # sheet, lists and status before sites: /api/sites/{layer}/{id}.pdf is not a site id
    for module in (
        auth,
        me,
        layers,
        tiles,
        styles,
        sheet,
        lists,
        site_status,
        sites,
        why,
        gemeenten,
        export,
    ):
        app.include_router(module.router)
    for module in (search, tokens, ogc):
        app.include_router(module.router)
    app.include_router(me.public)
    app.include_router(businesscase.router)  # the business case of one site (issue 13)
    app.include_router(match.router)  # the regional match (issue 14)

    # -- middleware ----------------------------------------------------------------------------
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", CSRF_HEADER],
        )
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings))
    app.add_middleware(TrustedProxies, networks=settings.proxy_networks())  # outermost

    # -- error handlers ------------------------------------------------------------------------
    install_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    # -- health (no auth) and the page ---------------------------------------------------------
    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        """Liveness: the process answers; says whether a scan result is loaded."""
        return Health(status="ok", result="loaded" if app.state.data.available() else "missing")

    page = settings.page_dir()
    if page.is_dir():
        app.mount("/", PageFiles(directory=page, html=True), name="webmap")
    return app


def content_security_policy(settings: Settings) -> str:
    """CSP for the page: own origin only, plus the basemap host for images and fetches."""
    basemap = f" {settings.basemap_origin}" if settings.basemap_origin else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob:{basemap}",
            f"connect-src 'self'{basemap}",
            "worker-src blob:",
            "child-src blob:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema, with every 4xx/5xx answer documented as the JSON error body."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "ErrorBody",
        {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "retry_after": {"type": ["integer", "null"]},
                    },
                }
            },
        },
    )
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                for media in resp.get("content", {}).values():
                    sch = media.get("schema", {})
                    if "$ref" in sch:  # FastAPI adds "type": "string" for non-JSON response classes
                        sch.pop("type", None)
                if status[0] in "45":
                    resp["content"] = error
                    if status == "422":
                        resp["description"] = "Invalid request"
    app.openapi_schema = schema
    return schema
