"""The audit log: who did what, when, from where (logins, logouts, exports, token changes, and
every refused request).

Entries go to the ``audit`` table of the user database (:meth:`api.store.users.UserStore.audit`)
and to the ``kansenkaart.audit`` logger (``kansenkaart serve`` sends it to standard error). Never
a password, session id or token.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from fastapi import Request

from api.security import SESSION_COOKIE, User

log = logging.getLogger("kansenkaart.audit")


#: Statuses of refused requests that are audited (401, 403, 404 of a route, 413).
DENIED = frozenset({401, 403, 404, 413})


def client_address(request: Request) -> str:
    """The caller's address: the TCP peer, or the client a trusted proxy names
    (:class:`api.middleware.TrustedProxies`)."""
    return request.client.host if request.client else "unknown"


async def denied(request: Request, status: int, code: str) -> None:
    """Audit a refused ``/api/`` request (``denied``, outcome = the error code) with who asked
    what. Not audited twice: refusals the request already audited itself (a failed or throttled
    login or Basic attempt), and not the page's "am I logged in?" probe (``/api/me`` without a
    session)."""
    path = request.url.path
    if status not in DENIED or not path.startswith("/api/"):
        return
    if getattr(request.state, "refusal_audited", False) or (path == "/api/me" and status == 401):
        return
    principal = getattr(request.state, "principal", None)
    detail: dict[str, Any] = {"status": status, "method": request.method, "path": path}
    if request.url.query:
        detail["query"] = request.url.query[:500]
    if principal is None:
        detail["credentials"] = (
            "token"
            if request.headers.get("authorization")
            else "session"
            if request.cookies.get(SESSION_COOKIE)
            else "none"
        )
    user = principal.user if principal is not None else None
    await arecord(request, "denied", outcome=code, user=user, **detail)


async def arecord(
    request: Request,
    action: str,
    *,
    outcome: str,
    user: User | None = None,
    email: str | None = None,
    **detail: Any,
) -> None:
    """:func:`record` from a coroutine: the database write runs on the database threads."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        request.app.state.db_threads,
        functools.partial(
            record, request, action, outcome=outcome, user=user, email=email, **detail
        ),
    )


def record(
    request: Request,
    action: str,
    *,
    outcome: str,
    user: User | None = None,
    email: str | None = None,
    **detail: Any,
) -> None:
    """Write one audit entry for this request."""
    if outcome in ("failure", "throttled"):
        request.state.refusal_audited = True  # the error answer is not audited again
    who = user.email if user is not None else email
    address = client_address(request)
    request.app.state.users.audit(
        action, outcome=outcome, user_email=who, address=address, **detail
    )
    log.info("%s %s user=%s address=%s %s", action, outcome, who, address, detail or "")
