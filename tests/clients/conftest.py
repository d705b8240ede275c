"""Fixtures of the real-client tests: QGIS (PyQGIS of the system Python, headless) and GDAL's
command-line tools against the real api serving a real scan.

QGIS 3.22 comes from Debian's packages ``python3-qgis`` and ``qgis-providers`` for
``/usr/bin/python3``, not the project's venv, so :func:`qgis_client.py <qgis_client>` runs in a
subprocess with ``QT_QPA_PLATFORM=offscreen`` and a private, temporary profile (settings and auth
database), and hands its observations back as JSON. Missing QGIS or GDAL skips here and fails in
CI (tests/needs.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: needs, live_service

from live_service import Recorder, scan_tiny_sample, serve
from needs import need

SYSTEM_PYTHON = os.environ.get("KANSENKAART_QGIS_PYTHON", "/usr/bin/python3")
CLIENT = Path(__file__).with_name("qgis_client.py")
SECRET = "qgis-tests-secret-key-0123456789-abcdefghijklmn"
PASSWORD = "Flexwonen-QGIS-2026!"


def _env(profile: Path) -> dict[str, str]:
    """A headless QGIS with everything it writes inside ``profile`` (never the user's own)."""
    profile.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QGIS"))
    }
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(profile),
        XDG_RUNTIME_DIR=str(profile),
        XDG_CONFIG_HOME=str(profile / "config"),
        QGIS_AUTH_DB_DIR_PATH=str(profile),
        KANSENKAART_QGIS_PROFILE=str(profile),
        PATH="/usr/bin:/bin",
    )
    return env


@dataclass
class Qgis:
    """Runs tasks of ``qgis_client.py`` in a real QGIS."""

    version: str

    def run(self, task: dict[str, Any], workdir: Path) -> dict[str, Any]:
        workdir.mkdir(parents=True, exist_ok=True)
        task_file, result_file = workdir / "task.json", workdir / "result.json"
        task_file.write_text(json.dumps(task))
        proc = subprocess.run(
            [SYSTEM_PYTHON, str(CLIENT), str(task_file), str(result_file)],
            env=_env(workdir / "profile"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0 or not result_file.exists():
            pytest.fail(
                f"QGIS task {task['task']!r} failed (exit {proc.returncode}):\n"
                f"{proc.stderr[-3000:]}\n{proc.stdout[-2000:]}",
                pytrace=False,
            )
        return json.loads(result_file.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def qgis(tmp_path_factory: pytest.TempPathFactory) -> Qgis:
    """The QGIS of this machine (Debian 12: 3.22), checked to start headless."""
    probe = "from qgis.core import Qgis; print(Qgis.QGIS_VERSION)"
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", probe],
            env=_env(tmp_path_factory.mktemp("qgis-probe")),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        need(f"QGIS cannot be started with {SYSTEM_PYTHON}: {exc}")
    if proc.returncode != 0:
        need(
            f"QGIS is not installed for {SYSTEM_PYTHON} (Debian: apt-get install python3-qgis "
            f"qgis-providers): {proc.stderr.strip()[-300:]}"
        )
    version = proc.stdout.strip().splitlines()[-1]
    print(f"\nQGIS {version} (PyQGIS of {SYSTEM_PYTHON})")
    return Qgis(version)


@pytest.fixture(autouse=True)
def _ran_with(request: pytest.FixtureRequest) -> None:
    """Names the QGIS a test drives (listed at the end of the run: tests/conftest.py)."""
    if "qgis" in request.fixturenames:
        version = request.getfixturevalue("qgis").version
        request.node.user_properties.append(
            ("ran_with", f"QGIS {version} (PyQGIS of {SYSTEM_PYTHON}, QT_QPA_PLATFORM=offscreen)")
        )


@pytest.fixture(scope="session")
def result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_tiny_sample(tmp_path_factory.mktemp("qgis-result"))


@dataclass
class Service:
    """The api serving ``result``, with a beleidsmaker of ``own`` (and one of ``other``) and an
    analist, each with a personal API token made the documented way (log in, POST /api/tokens)."""

    base: str
    result: Path
    own: str
    other: str
    recorder: Recorder
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def _token(base: str, email: str) -> str:
    with httpx.Client(base_url=base) as c:
        r = c.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        r = c.post(
            "/api/tokens",
            json={"name": "QGIS"},
            headers={"X-CSRF-Token": c.cookies["kk_csrf"]},
        )
        r.raise_for_status()
        return str(r.json()["token"])


@pytest.fixture(scope="session")
def service(result: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from api.main import create_app
    from api.settings import Settings

    sites = pyogrio.read_dataframe(
        result, layer="tijdelijke_locaties", columns=["gemeentecode"], read_geometry=False
    )["gemeentecode"].value_counts()
    assert len(sites) >= 2, "the tiny scan should find sites in two municipalities"
    own, other = str(sites.index[0]), str(sites.index[1])
    tmp = tmp_path_factory.mktemp("qgis-service")
    settings = Settings(
        result=result,
        database=str(tmp / "users.sqlite"),
        secret_key=SECRET,
        static_dir=tmp / "no-page",
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    app = create_app(settings)
    emails = {
        "own": "beleid@gemeente-een.example",
        "other": "beleid@gemeente-twee.example",
        "analist": "analist@provincie.example",
    }
    app.state.users.add_user(emails["own"], PASSWORD, role="beleidsmaker", gemeenten=[own])
    app.state.users.add_user(emails["other"], PASSWORD, role="beleidsmaker", gemeenten=[other])
    app.state.users.add_user(emails["analist"], PASSWORD, role="analist", gemeenten=[])
    recorder = Recorder(app)
    with serve(app, recorder=recorder) as base:
        tokens = {who: _token(base, email) for who, email in emails.items()}
        yield Service(base, result, own, other, recorder, emails, tokens)
