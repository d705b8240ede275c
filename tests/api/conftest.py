"""Fixtures of the api tests: a §C result, an app on each backend, users and clients.

Every test that uses ``env``/``make_env`` runs twice, once per backend:

- ``gpkg``: the result GeoPackage, served by :class:`~api.store.gpkg.GeoPackageStore`, and the
  service state in SQLite;
- ``postgis``: the same GeoPackage published (``kansenkaart publish``) to a private PostgreSQL
  cluster with PostGIS (``tests/pgcluster.py``, one per test worker) and served by
  :class:`~api.store.postgis.PostGISStore`, with the users, sessions, tokens, throttling and audit
  in a PostgreSQL database of that cluster too (a fresh copy of a migrated one per app). Without
  PostgreSQL these skip on a developer machine and fail in CI (``tests/needs.py``).

The result is built with geopandas by :mod:`synthetic_result` (three municipalities GM0901–GM0903,
30 candidates per layer each, excluded parcels and buildings, summary, run metadata, styles).
Tests read the truth from ``env.result`` (the GeoPackage) whatever the backend serves.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: needs.py

from needs import need
from pgcluster import PgCluster, PgUnavailable
from synthetic_result import Municipality, write_result

from api.main import create_app
from api.security import CSRF_COOKIE, CSRF_HEADER
from api.settings import Settings
from api.store.data import DataStore
from api.store.gpkg import GeoPackageStore

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"
USERS = {
    "analist@test.nl": ("analist", []),
    "bm1@test.nl": ("beleidsmaker", ["GM0901"]),
    "bm2@test.nl": ("beleidsmaker", ["GM0902"]),
    "bm13@test.nl": ("beleidsmaker", ["GM0901", "GM0903"]),
    "beheer@test.nl": ("beheerder", []),
}
BACKENDS = ("gpkg", "postgis")


class FakeClock:
    """An injectable clock: starts at a fixed time, moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Env:
    """One app with its settings, clock and client factory."""

    app: Any
    settings: Settings
    clock: FakeClock
    result: Path  # the result GeoPackage (the truth; what the gpkg backend serves)
    gemeenten: list[Municipality]
    backend: str = "gpkg"
    clients: list[TestClient] = field(default_factory=list)

    def client(
        self, base_url: str = "http://localhost", *, address: str = "127.0.0.1"
    ) -> TestClient:
        """A client whose requests come from ``address`` (the TCP peer the server sees)."""
        c = TestClient(self.app, base_url=base_url, client=(address, 50000))  # type: ignore[arg-type]
        c.__enter__()
        self.clients.append(c)
        return c

    def login(self, email: str, password: str = PASSWORD) -> TestClient:
        """A client with a live session; sends the CSRF header on every request."""
        c = self.client()
        r = c.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        c.headers[CSRF_HEADER] = c.cookies[CSRF_COOKIE]
        return c

    def publish(self) -> None:
        """Make the service see ``self.result`` as it is now (the postgis backend publishes it;
        the gpkg backend serves the file itself)."""
        if self.backend == "postgis":
            from api.publish import publish_result

            publish_result(self.result, self.settings.result)

    @property
    def users(self) -> Any:
        return self.app.state.users


@pytest.fixture(scope="session")
def result_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Municipality]]:
    path = tmp_path_factory.mktemp("result") / "kansenkaart.gpkg"
    gems = write_result(path, n_gemeenten=3, per_layer=30, grid=10, seed=1)
    return path, gems


@pytest.fixture(scope="session")
def shared_store(result_file: tuple[Path, list[Municipality]]) -> Iterator[GeoPackageStore]:
    """One loaded store for the shared (read-only) result, reused by the apps of a worker."""
    store = GeoPackageStore(result_file[0])
    store.current()
    yield store
    store.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster with PostGIS for this test worker."""
    try:
        cluster = PgCluster.start()
        cluster.create_database("postgis_check", postgis=True)
    except PgUnavailable as exc:
        need(f"PostgreSQL with PostGIS (the postgis backend): {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_state_template(pg_cluster: PgCluster) -> str:
    """A database migrated to the newest schema; each app's state database is a copy of it."""
    from api.db import open_database

    name = "state_template"
    open_database(pg_cluster.create_database(name)).close()
    return name


@pytest.fixture(scope="session")
def shared_pg(
    pg_cluster: PgCluster, result_file: tuple[Path, list[Municipality]]
) -> Iterator[tuple[str, DataStore]]:
    """The shared result published once to PostGIS, and one store that serves it."""
    from api.publish import publish_result
    from api.store.postgis import PostGISStore

    url = pg_cluster.create_database("shared_result")
    publish_result(result_file[0], url)
    store = PostGISStore(url, pool_size=4, poll_seconds=0)
    store.current()
    yield url, store
    store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_env(
    backend: str,
    tmp_path: Path,
    result_file: tuple[Path, list[Municipality]],
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Env]]:
    """Build apps on the test's backend.

    ``copy_result=True`` gives the app its own copy of the result (to change and ``publish``);
    ``empty_result=True`` starts without any result (a missing file / an empty database).
    """
    envs: list[Env] = []
    owned: list[DataStore] = []

    def factory(
        *, copy_result: bool = False, empty_result: bool = False, **overrides: object
    ) -> Env:
        src, gems = result_file
        result = src
        if copy_result or empty_result:
            result = tmp_path / f"result-{len(envs)}" / "kansenkaart.gpkg"
            result.parent.mkdir()
            if copy_result:
                shutil.copy(src, result)
        values: dict[str, object] = {
            "result": result,
            "database": str(tmp_path / f"users-{len(envs)}.sqlite"),
            "secret_key": SECRET,
            "static_dir": tmp_path / "no-static",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
        }
        data: DataStore | None = None
        if backend == "gpkg":
            if not (copy_result or empty_result or "result" in overrides):
                data = request.getfixturevalue("shared_store")
        else:
            cluster: PgCluster = request.getfixturevalue("pg_cluster")
            values["database"] = cluster.create_database(
                template=request.getfixturevalue("pg_state_template")
            )
            if copy_result or empty_result:
                from api.publish import publish_result

                values["result"] = cluster.create_database()
                values["result_poll_seconds"] = 0
                if copy_result:
                    publish_result(result, str(values["result"]))
            else:
                values["result"], data = request.getfixturevalue("shared_pg")
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        clock = FakeClock()
        app = create_app(settings, clock=clock, data=data)
        if data is None:
            owned.append(app.state.data)
        for email, (role, codes) in USERS.items():
            app.state.users.add_user(email, PASSWORD, role=role, gemeenten=codes)
        env = Env(app, settings, clock, result, gems, backend=backend)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        for c in env.clients:
            c.__exit__(None, None, None)
        env.users.close()
    for store in owned:
        close = getattr(store, "close", None)
        if close is not None:
            close()


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()
