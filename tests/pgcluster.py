"""A private PostgreSQL cluster with PostGIS for tests and benchmarks.

``PgCluster.start()`` runs ``initdb`` in a new temporary directory and ``pg_ctl start`` on a free
port, with the unix socket in that directory, so parallel test runs never share a server. Every
connection uses the socket (``postgresql://kansenkaart@/DB?host=DIR&port=PORT``).

PostgreSQL refuses to run as root (CI runs as root): then the server runs as the ``postgres``
system user that Debian's package creates (or ``nobody``) through ``runuser``, and the directory
is handed to that user. Binaries come from ``KANSENKAART_PG_BINDIR``, ``pg_config --bindir`` or
``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "kansenkaart"


class PgUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed or does not start (the message says which)."""


def _bindir() -> Path:
    env = os.environ.get("KANSENKAART_PG_BINDIR")
    candidates = [Path(env)] if env else []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian packages "
        "postgresql-15 and postgresql-15-postgis-3, or set KANSENKAART_PG_BINDIR"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One running private cluster; :meth:`stop` removes it."""

    def __init__(self, base: Path, bindir: Path, port: int, run_as: list[str]) -> None:
        self.base = base
        self.bindir = bindir
        self.port = port
        self.run_as = run_as

    @property
    def data(self) -> Path:
        return self.base / "data"

    @classmethod
    def start(cls, *, settings: dict[str, str] | None = None) -> PgCluster:
        """Create and start a cluster; raises :class:`PgUnavailable` with the reason."""
        bindir = _bindir()
        base = Path(tempfile.mkdtemp(prefix="kk-pg-"))
        run_as: list[str] = []
        if os.geteuid() == 0:
            user = "postgres"
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                user, entry = "nobody", pwd.getpwnam("nobody")
            os.chown(base, entry.pw_uid, entry.pw_gid)
            run_as = ["runuser", "-u", user, "--"]
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(base),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "128MB",
            "timezone": "UTC",
            **(settings or {}),
        }
        last = ""
        for _ in range(3):  # a free port can be taken by someone else before we bind it
            port = _free_port()
            cluster = cls(base, bindir, port, run_as)
            try:
                if not cluster.data.exists():
                    cluster._run(
                        "initdb", "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
                        "-N", "-E", "UTF8", "--locale=C.UTF-8",
                    )  # fmt: skip
                flags = " ".join(f"-c {k}={v}" for k, v in options.items())
                cluster._run(
                    "pg_ctl", "-D", str(cluster.data), "-o", f"-p {port} {flags}",
                    "-l", str(base / "server.log"), "-w", "-t", "60", "start",
                )  # fmt: skip
                return cluster
            except PgUnavailable as exc:
                last = str(exc)
        shutil.rmtree(base, ignore_errors=True)
        raise PgUnavailable(last)

    def _run(self, program: str, *args: str) -> None:
        cmd = [*self.run_as, str(self.bindir / program), *args]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PgUnavailable(f"{program} failed: {exc}") from exc
        if out.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise PgUnavailable(f"{program} failed: {out.stderr.strip()[-1500:]}\n{tail}")

    def url(self, dbname: str = "postgres", *, user: str = SUPERUSER) -> str:
        """A libpq URL for a database of this cluster (through the private socket)."""
        return (
            f"postgresql://{user}@/{dbname}?host={quote(str(self.base), safe='')}&port={self.port}"
        )

    def tcp_url(self, dbname: str = "postgres", *, user: str = SUPERUSER) -> str:
        """The same database over TCP on 127.0.0.1."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(
        self, name: str | None = None, *, postgis: bool = False, template: str = "template0"
    ) -> str:
        """Create a database (a fresh name by default; a copy of ``template``); returns its URL."""
        import psycopg

        name = name or f"db_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        if postgis:
            try:
                with psycopg.connect(self.url(name), autocommit=True) as con:
                    con.execute("CREATE EXTENSION postgis")
            except psycopg.Error as exc:
                raise PgUnavailable(
                    f"PostGIS is not available ({exc}): install postgresql-15-postgis-3"
                ) from exc
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(PgUnavailable):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)
