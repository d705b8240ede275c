"""Fixtures of the api tests: a §C result GeoPackage, an app on real SQLite, users and clients.

The result is built with geopandas by :mod:`synthetic_result` (three municipalities GM0901–GM0903,
30 candidates per layer each, excluded parcels and buildings, summary, run metadata, styles).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: needs.py

from synthetic_result import Municipality, write_result

from api.main import create_app
from api.security import CSRF_COOKIE, CSRF_HEADER
from api.settings import Settings
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

    app: object
    settings: Settings
    clock: FakeClock
    result: Path
    gemeenten: list[Municipality]
    clients: list[TestClient] = field(default_factory=list)

    def client(
        self, base_url: str = "http://localhost", *, address: str = "testclient"
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

    @property
    def users(self):
        return self.app.state.users  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def result_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Municipality]]:
    path = tmp_path_factory.mktemp("result") / "kansenkaart.gpkg"
    gems = write_result(path, n_gemeenten=3, per_layer=30, grid=10, seed=1)
    return path, gems


@pytest.fixture(scope="session")
def shared_store(result_file: tuple[Path, list[Municipality]]) -> GeoPackageStore:
    """One loaded store for the shared (read-only) result, reused by the apps of a worker."""
    store = GeoPackageStore(result_file[0])
    store.current()
    return store


@pytest.fixture
def make_env(
    tmp_path: Path, result_file: tuple[Path, list[Municipality]], shared_store: GeoPackageStore
) -> Iterator[Callable[..., Env]]:
    envs: list[Env] = []

    def factory(*, copy_result: bool = False, **overrides: object) -> Env:
        src, gems = result_file
        result = src
        if copy_result:
            result = tmp_path / f"result-{len(envs)}" / "kansenkaart.gpkg"
            result.parent.mkdir()
            shutil.copy(src, result)
        values: dict[str, object] = {
            "result": result,
            "database": str(tmp_path / f"users-{len(envs)}.sqlite"),
            "secret_key": SECRET,
            "static_dir": tmp_path / "no-static",
            "argon2_time_cost": 1,
            "argon2_memory_kib": 64,
        }
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        clock = FakeClock()
        app = create_app(
            settings,
            clock=clock,
            data=None if copy_result or "result" in overrides else shared_store,
        )
        for email, (role, codes) in USERS.items():
            app.state.users.add_user(email, PASSWORD, role=role, gemeenten=codes)
        env = Env(app, settings, clock, result, gems)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        for c in env.clients:
            c.__exit__(None, None, None)


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()
