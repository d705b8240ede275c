"""The audit log: who did what, when, from where (logins, logouts, exports, token changes).

Entries go to the ``audit`` table of the user database (:meth:`api.store.users.UserStore.audit`)
and to the ``kansenkaart.audit`` logger. Never a password, session id or token.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from fastapi import Request

from api.security import User

log = logging.getLogger("kansenkaart.audit")


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (put a trusted proxy's address rules in front)."""
    return request.client.host if request.client else "unknown"


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
    who = user.email if user is not None else email
    address = client_address(request)
    request.app.state.users.audit(
        action, outcome=outcome, user_email=who, address=address, **detail
    )
    log.info("%s %s user=%s address=%s %s", action, outcome, who, address, detail or "")
