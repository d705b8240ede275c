"""HTTP details shared by the routes and the page: whether a client takes gzip, and the built
web map served compressed and cacheable.

The page build (``webmap/build.mjs``) names the bundle by its content (``app-<hash>.js``,
``app-<hash>.css``, ``assets/<name>-<hash>.png``) and writes a gzip copy ``<file>.gz`` of every
text file. :class:`PageFiles` sends that copy to clients that accept gzip, lets browsers keep the
hashed files for a year (a new build has new names) and has them revalidate the rest
(``index.html``, ``favicon.svg``) on every use.
"""

from __future__ import annotations

import mimetypes
import os
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

#: esbuild's ``[hash]``: 8 characters of upper-case base32 before the extension.
HASHED_NAME = re.compile(r"-[A-Z2-7]{8}\.[a-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip: ``gzip`` or ``x-gzip`` named with a
    q above 0, or else ``*`` with a q above 0 (RFC 9110 §12.5.3; a q that cannot be read
    counts as 0)."""
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name in ("gzip", "x-gzip", "*"):
            weights[name] = max(q, weights.get(name, 0.0))
    named = [weights[n] for n in ("gzip", "x-gzip") if n in weights]
    return (max(named) if named else weights.get("*", 0.0)) > 0


class PageFiles(StaticFiles):
    """The built web map (``StaticFiles`` with ``html=True``), with the precompressed copies and
    cache headers described above. The ``.gz`` copies are listed once, when the page is mounted
    (the build swaps the whole folder in; a page rebuilt while the service runs is served
    uncompressed until the next start)."""

    def __init__(self, *, directory: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(directory=directory, **kwargs)
        root = os.path.realpath(directory)
        self.gzipped = {
            os.path.join(folder, name[: -len(".gz")])
            for folder, _, names in os.walk(root)
            for name in names
            if name.endswith(".gz")
        }

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        request_headers = Headers(scope=scope)
        path = os.fspath(full_path)
        name = os.path.basename(path)
        compressed = path in self.gzipped
        gz_stat = None
        if compressed and accepts_gzip(request_headers.get("accept-encoding", "")):
            try:
                gz_stat = os.stat(path + ".gz")
            except OSError:  # rebuilt since the service started: send the file itself
                gz_stat = None
        response: Response
        if gz_stat is not None:
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            response = FileResponse(
                path + ".gz", status_code=status_code, stat_result=gz_stat, media_type=media_type
            )
            response.headers["content-encoding"] = "gzip"
        else:
            response = FileResponse(path, status_code=status_code, stat_result=stat_result)
        if compressed:
            response.headers["vary"] = "Accept-Encoding"
        response.headers["cache-control"] = IMMUTABLE if HASHED_NAME.search(name) else REVALIDATE
        if status_code == 200 and self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response
