"""PostgreSQL connection URLs: recognise them, hand them to psycopg or SQLAlchemy, and print them
without their password.

Accepted: ``postgresql://user[:password]@host[:port]/db[?param=…]`` (libpq's URL form, including
``?host=/path/to/socket/dir``), ``postgres://…`` and SQLAlchemy's ``postgresql+psycopg://…``.
Passwords are better kept out of URLs altogether (``PGPASSWORD`` or ``~/.pgpass``, read by libpq).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SCHEMES = ("postgresql://", "postgres://", "postgresql+")


def is_postgres_url(value: str) -> bool:
    """Whether a setting names a PostgreSQL database rather than a file."""
    return value.strip().lower().startswith(_SCHEMES)


def libpq_url(url: str) -> str:
    """The URL as psycopg/libpq takes it (``postgresql://…``, no SQLAlchemy driver suffix)."""
    return re.sub(r"^(postgres|postgresql)(\+\w+)?://", "postgresql://", url.strip(), flags=re.I)


def sqlalchemy_url(url: str) -> str:
    """The URL as SQLAlchemy takes it, with the psycopg 3 driver."""
    return "postgresql+psycopg://" + libpq_url(url)[len("postgresql://") :]


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
