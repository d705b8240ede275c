"""``POST /api/auth/login`` and ``POST /api/auth/logout``."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request, Response

from api import audit
from api.deps import PrincipalDep, SettingsDep, UsersDep
from api.errors import InvalidCredentials, TooManyAttempts, error_responses
from api.models import LoginRequest, LoginResponse
from api.routes.me import build_me
from api.security import CSRF_COOKIE, SESSION_COOKIE, csrf_token_for
from api.settings import Settings

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _secure(request: Request, settings: Settings) -> bool:
    if settings.cookie_secure == "always":
        return True
    if settings.cookie_secure == "never":
        return False
    return (request.url.hostname or "") not in ("localhost", "127.0.0.1", "::1")


@router.post("/login", response_model=LoginResponse, responses=error_responses(401, 422, 429))
def login(
    body: LoginRequest, request: Request, response: Response, settings: SettingsDep, users: UsersDep
) -> LoginResponse:
    """Log in with e-mail and password; sets ``kk_session`` (HttpOnly) and ``kk_csrf`` cookies."""
    address = audit.client_address(request)
    email = body.email.strip()
    window = float(settings.login_window_seconds)
    now = users.clock()
    for n, first, limit in (
        (
            *users.recent_failures(window=window, email=email),
            settings.login_max_failures_per_account,
        ),
        (
            *users.recent_failures(window=window, address=address),
            settings.login_max_failures_per_address,
        ),
    ):
        if n >= limit:
            retry = max(1, math.ceil((first or now) + window - now))
            audit.record(request, "login", outcome="throttled", email=email, failures=n)
            raise TooManyAttempts(retry)
    with request.app.state.password_slots:  # argon2id uses 64 MiB per check: bound the concurrency
        user = users.check_password(email, body.password)
    if user is None:
        users.record_attempt(email, address, success=False)
        audit.record(request, "login", outcome="failure", email=email)
        raise InvalidCredentials()
    users.record_attempt(email, address, success=True)
    raw = users.create_session(user, address=address)
    audit.record(request, "login", outcome="success", user=user)
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
    return LoginResponse(user=build_me(user, request))


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
