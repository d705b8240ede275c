"""Dependencies: who is calling (sessions, Bearer tokens, CSRF) and the small query parsers.

They are ``async`` and never block the event loop: the session or token look-up (a database read,
and now and then a write that may wait for SQLite's write lock) runs on the database threads
(:func:`in_db`), so a login flood or a slow write stalls no other request. The parsers are pure.

Authentication is a typed dependency applied at router level; route bodies never look at
credentials. Query parsing (bounding boxes, tile addresses, filters) lives here too and raises
domain errors that :mod:`api.errors` maps to statuses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request

from api import audit, ogc
from api.errors import (
    CsrfFailed,
    Forbidden,
    InvalidParameter,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    SessionRequired,
    TooManyAttempts,
)
from api.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    TOKEN_PREFIX,
    User,
    csrf_ok,
    unseal,
)
from api.settings import Settings
from api.store.data import COLLECTIONS, BBox, DataStore, Filters
from api.store.users import LoginThrottled, UserStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


async def in_db(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking database work on the app's database threads, not on the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.db_threads, functools.partial(fn, *args))


async def in_password_thread(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a password check (argon2id) on the password threads (``PASSWORD_CONCURRENCY``)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        request.app.state.password_threads, functools.partial(fn, *args)
    )


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_users(request: Request) -> UserStore:
    return request.app.state.users  # type: ignore[no-any-return]


async def get_data(request: Request) -> DataStore:
    return request.app.state.data  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def public_base(request: Request, settings: SettingsDep) -> str:
    """The service's address as clients see it, without a trailing slash (for absolute links)."""
    return settings.public_url or str(request.base_url).rstrip("/")


PublicBase = Annotated[str, Depends(public_base)]
UsersDep = Annotated[UserStore, Depends(get_users)]
DataDep = Annotated[DataStore, Depends(get_data)]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and how they authenticated."""

    user: User
    via: str  # "session" or "token"
    session: str | None = None


async def current_principal(request: Request, settings: SettingsDep, users: UsersDep) -> Principal:
    """Authenticate by API token (``Authorization: Bearer``, or HTTP Basic with the account's
    e-mail and the token as password) or by the ``kk_session`` cookie (CSRF-checked)."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            return await basic_principal(request, settings, users, value.strip())
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated(
                "Gebruik 'Authorization: Bearer <token>', of HTTP Basic met uw e-mailadres en een "
                "API-token als wachtwoord."
            )
        user = await in_db(request, users.token_user, value.strip())
        if user is None:
            raise NotAuthenticated("Het API-token is ongeldig, verlopen of ingetrokken.")
        principal = request.state.principal = Principal(user, "token")  # audit of refusals
        return principal
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise NotAuthenticated()
    # A session this instance validated within the last KANSENKAART_SESSION_CACHE_SECONDS comes
    # from memory on the event loop (api/store/users.py); otherwise the database is read.
    user = users.remembered_session_user(raw) or await in_db(
        request,
        functools.partial(
            users.session_user,
            idle=settings.session_idle_minutes * 60.0,
            absolute=settings.session_absolute_hours * 3600.0,
        ),
        raw,
    )
    if user is None:
        raise NotAuthenticated("Uw sessie is verlopen of beëindigd; log opnieuw in.")
    principal = request.state.principal = Principal(user, "session", raw)  # audit of refusals
    if request.method not in SAFE_METHODS and not csrf_ok(
        settings.secret, raw, request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
    ):
        raise CsrfFailed()
    return principal


async def basic_principal(
    request: Request, settings: Settings, users: UserStore, value: str
) -> Principal:
    """HTTP Basic for programs that cannot send a Bearer header (QGIS's stored authentication):
    user name = the account's e-mail, password = one of its personal API tokens.

    The account password is never accepted here (a password tried over Basic fails like any wrong
    token), so Basic cannot be used to guess passwords. A failed attempt is counted like a failed
    login of that account from that address (the same throttle, :meth:`UserStore.reserve_login`)
    and audited as ``basic_auth``; while throttled, failures answer 429. A valid token is never
    throttled, so nobody can lock a token's owner out.
    """
    try:
        email, sep, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise NotAuthenticated("Ongeldige Basic-authenticatie: stuur e-mailadres:API-token.")
    email = email.strip()
    if secret.startswith(TOKEN_PREFIX):
        user = await in_db(request, functools.partial(users.token_user, email=email), secret)
        if user is not None:
            principal = request.state.principal = Principal(user, "token")  # audit of refusals
            return principal
    address = audit.client_address(request)
    try:
        reservation = await in_db(request, users.reserve_login, email, address, settings.throttle())
    except LoginThrottled as exc:
        await audit.arecord(request, "basic_auth", outcome="throttled", email=email, by=exc.kind)
        raise TooManyAttempts(max(1, math.ceil(exc.retry_after))) from None
    await in_db(request, users.finish_login, reservation, None)
    await audit.arecord(request, "basic_auth", outcome="failure", email=email)
    raise NotAuthenticated(
        "Basic-authenticatie werkt met uw e-mailadres en een geldig persoonlijk API-token "
        f"({TOKEN_PREFIX}…, aan te maken na inloggen) als wachtwoord; uw accountwachtwoord wordt "
        "hier nooit geaccepteerd."
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_user(principal: PrincipalDep) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


async def data_user(user: CurrentUser) -> User:
    """A caller allowed to see scan data (beleidsmaker, analist)."""
    if not user.has_data_access:
        raise Forbidden("Uw rol (beheerder) heeft geen toegang tot de scangegevens.")
    return user


DataUser = Annotated[User, Depends(data_user)]


async def session_principal(principal: PrincipalDep) -> Principal:
    """Token management needs a logged-in session, so a token cannot mint tokens."""
    if principal.via != "session":
        raise SessionRequired()
    return principal


SessionPrincipal = Annotated[Principal, Depends(session_principal)]


# -- query parsers ------------------------------------------------------------------------------
async def bbox_query(
    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat in WGS84",
            examples=["4.25,51.9,4.45,52.0"],
            max_length=200,
        ),
    ] = None,
) -> BBox | None:
    """Parse ``bbox=minx,miny,maxx,maxy`` (WGS84)."""
    if bbox is None:
        return None
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
    except ValueError:
        raise InvalidRequest("bbox moet vier getallen zijn: minlon,minlat,maxlon,maxlat.") from None
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise InvalidRequest("bbox valt buiten WGS84 of min ≥ max.")
    return BBox(minx, miny, maxx, maxy)


BBoxDep = Annotated[BBox | None, Depends(bbox_query)]


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int


def tile_address(z: int, x: int, y: int) -> TileAddress:
    """A WebMercatorQuad tile address; x and y must exist at zoom z (z in 0–22 and x, y ≥ 0 are
    checked by the route's path parameters: the tile route is the hottest path, so it takes them
    directly instead of through a dependency)."""
    if x >= 1 << z or y >= 1 << z:
        raise InvalidRequest(f"Tegel {z}/{x}/{y} bestaat niet (x en y < {1 << z}).")
    return TileAddress(z, x, y)


async def filters_query(
    user: DataUser,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    min_capacity: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    owner_class: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006 - FastAPI copies defaults
    gemeente: Annotated[
        list[str], Query(max_length=500, description="Municipality code, e.g. GM0599; repeatable")
    ] = [],  # noqa: B006
    tier: Annotated[
        list[str], Query(max_length=5, description="Only these tiers (A–E); repeatable")
    ] = [],  # noqa: B006
) -> Filters:
    """Tile/page filters; asking for a municipality outside your scope is refused (403)."""
    codes = tuple(sorted({c.strip().upper() for c in gemeente if c.strip()}))
    outside = [c for c in codes if not user.scope.allows(c)]
    if outside:
        raise Forbidden(f"Geen toegang tot gemeente(n) {', '.join(outside)}.")
    tiers = tuple(sorted({t.strip().upper() for t in tier if t.strip()}))
    bad = [t for t in tiers if t not in ("A", "B", "C", "D", "E")]
    if bad:
        raise InvalidRequest(f"Onbekende klasse(n) {', '.join(bad)}: gebruik A, B, C, D of E.")
    return Filters(
        tiers=tiers,
        min_score=min_score,
        min_capacity=min_capacity,
        owner_class=tuple(sorted({o.strip() for o in owner_class if o.strip()})),
        gemeenten=codes,
    )


FiltersDep = Annotated[Filters, Depends(filters_query)]


# -- OGC API Features query parsers (400 on a bad value, as the standard asks) ------------------
@dataclass(frozen=True)
class ItemsQuery:
    limit: int
    bbox: BBox | None
    crs: str
    cursor: str | None


def _ogc_crs(value: str | None, name: str) -> str:
    if value is None:
        return ogc.CRS84
    uri = ogc.crs_uri(value)
    if uri is None:
        raise InvalidParameter(
            f"{name}={value!r} wordt niet ondersteund; gebruik {' of '.join(ogc.SUPPORTED_CRS)}."
        )
    return uri


async def ogc_crs_query(
    crs: Annotated[str | None, Query(description="Output CRS (URI)", max_length=200)] = None,
) -> str:
    """The ``crs`` of an OGC API answer: CRS84 (default) or EPSG:28992."""
    return _ogc_crs(crs, "crs")


async def ogc_items_query(
    request: Request,
    settings: SettingsDep,
    crs: Annotated[str, Depends(ogc_crs_query)],
    limit: Annotated[
        str | None,
        Query(description=f"1–{ogc.MAX_LIMIT} (default {ogc.DEFAULT_LIMIT})", max_length=20),
    ] = None,
    bbox: Annotated[
        str | None, Query(description="minx,miny,maxx,maxy in bbox-crs", max_length=200)
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of bbox (URI)", max_length=200)
    ] = None,
    cursor: Annotated[str | None, Query(description="From the 'next' link", max_length=500)] = None,
    f: Annotated[str | None, Query(description="json or geojson", max_length=20)] = None,
) -> ItemsQuery:
    """The parameters of ``/items`` (OGC API Features Part 1 and 2); unknown ones are refused."""
    unknown = sorted(set(request.query_params) - set(ogc.ITEMS_PARAMETERS))
    if unknown:
        raise InvalidParameter(
            f"Onbekende parameter(s) {', '.join(unknown)}; toegestaan: "
            f"{', '.join(ogc.ITEMS_PARAMETERS)}."
        )
    if f is not None and f.lower() not in ("json", "geojson"):
        raise InvalidParameter("f: alleen json/geojson.")
    n = ogc.DEFAULT_LIMIT
    if limit is not None:
        if not limit.strip().isdigit() or int(limit) < 1:
            raise InvalidParameter(f"limit moet een geheel getal ≥ 1 zijn (max {ogc.MAX_LIMIT}).")
        n = min(int(limit), ogc.MAX_LIMIT)  # a larger limit is lowered, not refused (Part 1)
    box_crs = _ogc_crs(bbox_crs, "bbox-crs")
    box = None
    if bbox is not None:
        try:
            minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
        except ValueError:
            raise InvalidParameter("bbox moet vier getallen zijn: minx,miny,maxx,maxy.") from None
        finite = all(map(math.isfinite, (minx, miny, maxx, maxy)))
        if not finite or minx > maxx or miny > maxy:
            raise InvalidParameter("bbox: eindige getallen met min ≤ max.")
        if box_crs == ogc.CRS84 and not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise InvalidParameter("bbox valt buiten lengte -180–180 / breedte -90–90 (CRS84).")
        box = BBox(minx, miny, maxx, maxy, crs=box_crs)
    opened = None
    if cursor is not None:
        opened = unseal(settings.secret, cursor)
        if opened is None:
            raise InvalidParameter("Ongeldige cursor: volg de next-link van de vorige pagina.")
    return ItemsQuery(limit=n, bbox=box, crs=crs, cursor=opened)


async def ogc_collection(
    collection_id: Annotated[
        str, Path(max_length=100, description=f"One of {', '.join(COLLECTIONS)}")
    ],
) -> str:
    """A collection of the OGC API; an unknown one is 404 (as OGC API Features asks)."""
    if collection_id not in COLLECTIONS:
        raise NotFound(f"Collectie '{collection_id}' bestaat niet; zie /api/ogc/collections.")
    return collection_id


ItemsQueryDep = Annotated[ItemsQuery, Depends(ogc_items_query)]
OgcCollectionDep = Annotated[str, Depends(ogc_collection)]
OgcCrsDep = Annotated[str, Depends(ogc_crs_query)]
