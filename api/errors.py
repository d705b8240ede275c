"""Errors of the service, mapped to HTTP statuses in one place.

Routes and the storage raise these; :func:`install_error_handlers` turns them (and FastAPI's
own validation and HTTP errors) into ``{"error": {"code": …, "message": …}}`` with the right
status. No stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import audit

log = logging.getLogger("kansenkaart.api")


class ApiError(Exception):
    """Base class: an error with an HTTP status, a stable code and a message."""

    status = 500
    code = "internal_error"
    message = "Interne fout."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or type(self).message
        self.extra = extra
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}

    def headers(self) -> dict[str, str] | None:
        return None


class InvalidRequest(ApiError):
    status, code, message = 422, "invalid_request", "Ongeldig verzoek."


class InvalidParameter(ApiError):
    """A query parameter of the OGC API that breaks its rules: 400, as OGC API Features asks
    (the rest of the api answers 422)."""

    status, code, message = 400, "invalid_parameter", "Ongeldige parameter."


class NotAuthenticated(ApiError):
    status, code, message = 401, "not_authenticated", "Log eerst in."

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": 'Bearer realm="kansenkaart"'}


#: Paths whose 401 also offers HTTP Basic (e-mail + API token): the OGC API, used by GIS programs
#: (a browser may then ask for the credentials; the web page itself never calls these paths).
BASIC_CHALLENGE_PATHS = ("/api/ogc",)
BASIC_CHALLENGE = 'Basic realm="kansenkaart", charset="UTF-8"'


class InvalidCredentials(ApiError):
    status, code, message = 401, "invalid_credentials", "E-mailadres of wachtwoord onjuist."


class TooManyAttempts(ApiError):
    status, code, message = (
        429,
        "too_many_attempts",
        "Te veel mislukte pogingen; probeer het later.",
    )

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "Geen toegang tot deze gegevens."


class CsrfFailed(ApiError):
    status, code, message = (
        403,
        "csrf_failed",
        "CSRF-controle mislukt: stuur de X-CSRF-Token-header mee.",
    )


class SessionRequired(ApiError):
    status, code, message = (
        403,
        "session_required",
        "Alleen met een ingelogde sessie (geen API-token).",
    )


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Niet gevonden."


class ResultUnavailable(ApiError):
    status, code, message = 503, "result_unavailable", "Er is nog geen scanresultaat om te tonen."


class ErrorDetail(BaseModel):
    code: str
    message: str
    retry_after: int | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses (all share :class:`ErrorBody`)."""
    text = {
        400: "Invalid parameter",
        401: "Not authenticated",
        403: "Forbidden (outside your municipalities, or missing CSRF token)",
        404: "Not found",
        422: "Invalid request",
        429: "Too many attempts",
        503: "No scan result available yet",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to a JSON body without internals; audit refused requests."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        await audit.denied(request, exc.status, exc.code)
        headers = exc.headers()
        if isinstance(exc, NotAuthenticated) and request.url.path.startswith(BASIC_CHALLENGE_PATHS):
            headers = {"WWW-Authenticate": f'{BASIC_CHALLENGE}, Bearer realm="kansenkaart"'}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "Ongeldig verzoek: " + "; ".join(problems[:5])
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message}}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        if exc.status_code == 413:  # too large a body (api.middleware.BodyLimit)
            await audit.denied(request, exc.status_code, code)
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": {"code": "internal_error", "message": "Interne fout."}}, status_code=500
        )
