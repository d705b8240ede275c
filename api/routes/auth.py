"""``POST /api/auth/login`` and ``POST /api/auth/logout``.

Login is ``async`` and keeps the event loop free: the database work runs on the database
threads and the password check (argon2id, 64 MiB) on the password threads, whose number bounds
the memory and CPU a login flood can take (``KANSENKAART_PASSWORD_CONCURRENCY``). Waiting logins
are cheap coroutines, not blocked threads.
"""

from __future__ import annotations

import ipaddress
import math

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api import audit
from api.deps import PrincipalDep, SettingsDep, UsersDep, in_db, in_password_thread
from api.errors import InvalidCredentials, TooManyAttempts, error_responses
from api.models import LoginRequest, LoginResponse
from api.routes.me import build_me
from api.security import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for
from api.settings import Settings
from api.store.users import LoginThrottled

router = APIRouter(prefix="/api/auth", tags=["auth"])


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _secure(request: Request, settings: Settings) -> bool:
    """Whether the cookies get the ``Secure`` flag (``COOKIE_SECURE``; ``auto``: always, except
    over plain HTTP on this machine itself — a loopback client *and* a loopback host name — so
    a forged ``Host`` header alone cannot turn it off). A peer that is no IP address (a Unix
    socket, an in-process test client) counts as this machine."""
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    try:
        local_peer = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local_peer = True
    return not (local_peer and (request.url.hostname or "") in LOOPBACK_NAMES)


@router.post("/login", response_model=LoginResponse, responses=error_responses(401, 422, 429))
async def login(
    body: LoginRequest, request: Request, response: Response, settings: SettingsDep, users: UsersDep
) -> LoginResponse:
    """Log in with e-mail and password; sets ``kk_session`` (HttpOnly) and ``kk_csrf`` cookies.

    The attempt is counted before the password is checked (docs/contracts.md §D, throttling);
    429 ``too_many_attempts`` with ``retry_after`` when it must wait.
    """
    address = audit.client_address(request)
    email = body.email.strip()
    try:
        reservation = await in_db(request, users.reserve_login, email, address, settings.throttle())
    except LoginThrottled as exc:
        await audit.arecord(request, "login", outcome="throttled", email=email, by=exc.kind)
        raise TooManyAttempts(max(1, math.ceil(exc.retry_after))) from None
    user = await in_password_thread(request, users.check_password, email, body.password)
    raw = await in_db(request, users.finish_login, reservation, user)
    if user is None or raw is None:
        await audit.arecord(request, "login", outcome="failure", email=email)
        raise InvalidCredentials()
    await audit.arecord(request, "login", outcome="success", user=user)
    secure = _secure(request, settings)
    max_age = settings.session_absolute_hours * 3600
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token_for(settings.secret, raw),
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )
    return LoginResponse(user=await run_in_threadpool(build_me, user, request))


@router.post(
    "/logout", status_code=204, response_class=Response, responses=error_responses(401, 403)
)
def logout(
    request: Request, principal: PrincipalDep, settings: SettingsDep, users: UsersDep
) -> Response:
    """End the session at once (server-side) and clear the cookies; with a Bearer token: no-op."""
    if principal.session is not None:
        users.delete_session(principal.session)
        audit.record(request, "logout", outcome="success", user=principal.user)
    response = Response(status_code=204)
    secure = _secure(request, settings)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict"
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")
    return response
