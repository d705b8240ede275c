"""The audit log reaches the server log, and every refused data request is audited
(issue 11, item 5)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.security import CSRF_HEADER
from api.settings import StoreSettings
from api.store.users import open_user_store

PASSWORD = "correct horse battery"


def _denied(env):
    return [e for e in reversed(env.users.audit_entries()) if e.action == "denied"]


def test_every_refused_data_request_is_audited_with_who_and_what(env):
    bm1 = env.login("bm1@test.nl")
    assert bm1.get("/api/tiles/kantoren/12/2100/1350.mvt?gemeente=GM0902").status_code == 403
    assert bm1.get("/api/export/GM0902.gpkg").status_code == 403
    assert bm1.get("/api/why", params={"x": 0.0, "y": 0.0}).status_code == 403  # outside GM0901
    foreign = env.login("bm2@test.nl").get("/api/sites?limit=1").json()["features"][0]["id"]
    assert bm1.get(f"/api/sites/tijdelijke_locaties/{foreign}").status_code == 404
    assert env.client().get("/api/sites").status_code == 401
    assert (
        env.client().get("/api/sites", headers={"Authorization": "Bearer kk_x"}).status_code == 401
    )
    assert env.login("beheer@test.nl").get("/api/gemeenten").status_code == 403
    csrf = bm1.headers.pop(CSRF_HEADER)
    assert bm1.post("/api/tokens", json={"name": "x"}).status_code == 403
    bm1.headers[CSRF_HEADER] = csrf
    assert (
        env.client().get("/api/me").status_code == 401
    )  # the page's logged-out probe: not audited

    got = [
        (
            e.outcome,
            e.user_email,
            e.detail["status"],
            e.detail["path"],
            e.detail.get("query"),
            e.detail.get("credentials"),
        )
        for e in _denied(env)
    ]
    assert got == [
        (
            "forbidden",
            "bm1@test.nl",
            403,
            "/api/tiles/kantoren/12/2100/1350.mvt",
            "gemeente=GM0902",
            None,
        ),
        ("forbidden", "bm1@test.nl", 403, "/api/export/GM0902.gpkg", None, None),
        ("forbidden", "bm1@test.nl", 403, "/api/why", "x=0.0&y=0.0", None),
        ("not_found", "bm1@test.nl", 404, f"/api/sites/tijdelijke_locaties/{foreign}", None, None),
        ("not_authenticated", None, 401, "/api/sites", None, "none"),
        ("not_authenticated", None, 401, "/api/sites", None, "token"),
        ("forbidden", "beheer@test.nl", 403, "/api/gemeenten", None, None),
        ("csrf_failed", "bm1@test.nl", 403, "/api/tokens", None, None),
    ]
    assert all(e.address == "127.0.0.1" for e in _denied(env))


def test_a_too_large_body_is_audited(env):
    c = env.client(address="203.0.113.4")
    r = c.post("/api/auth/login", content=iter([b" " * 100_000]))
    assert r.status_code == 413
    r = c.post("/api/auth/login", content=b" " * 100_000)  # declared by Content-Length
    assert r.status_code == 413
    got = [(e.outcome, e.address, e.detail["path"]) for e in _denied(env)]
    assert got == [("too_large", "203.0.113.4", "/api/auth/login")] * 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kansenkaart_serve_writes_the_audit_log_to_standard_error(tmp_path, result_file):
    env = {
        **os.environ,
        "KANSENKAART_RESULT": str(result_file[0]),
        "KANSENKAART_DATABASE": str(tmp_path / "users.sqlite"),
        "KANSENKAART_SECRET_KEY": "s" * 48,
        "KANSENKAART_STATIC_DIR": str(tmp_path / "none"),
        "KANSENKAART_ARGON2_TIME_COST": "1",
        "KANSENKAART_ARGON2_MEMORY_KIB": "64",
    }
    store_settings = StoreSettings(
        database=env["KANSENKAART_DATABASE"], argon2_time_cost=1, argon2_memory_kib=64
    )
    store = open_user_store(
        store_settings.database, secret=b"x", passwords=store_settings.passwords()
    )
    store.add_user("bm1@test.nl", PASSWORD, role="beleidsmaker", gemeenten=["GM0901"])
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            with httpx.Client(base_url=base) as c:
                login = {"email": "bm1@test.nl", "password": "wrong password!"}
                assert c.post("/api/auth/login", json=login).status_code == 401
                login["password"] = PASSWORD
                assert c.post("/api/auth/login", json=login).status_code == 200
                assert c.get("/api/export/GM0902.gpkg").status_code == 403
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    lines = [line for line in log.read_text().splitlines() if "kansenkaart.audit" in line]
    assert any("login failure user=bm1@test.nl address=127.0.0.1" in line for line in lines), lines
    assert any("login success user=bm1@test.nl" in line for line in lines), lines
    assert any(
        "denied forbidden user=bm1@test.nl" in line and "/api/export/GM0902.gpkg" in line
        for line in lines
    ), lines
    assert all(line[:20].endswith("Z") for line in lines)  # UTC time stamps
    assert PASSWORD not in log.read_text()
