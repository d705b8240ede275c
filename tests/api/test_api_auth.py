"""Login, throttling, sessions, CSRF, API tokens and the audit log."""

from __future__ import annotations

import pytest

from api.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE

PASSWORD = "correct horse battery"  # the fixture accounts' password (conftest.py)


def _login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_login_sets_strict_httponly_session_cookie_and_readable_csrf_cookie(env):
    r = _login(env.client(), "bm1@test.nl")
    assert r.status_code == 200
    assert r.json()["user"]["email"] == "bm1@test.nl"
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    session, csrf = cookies[SESSION_COOKIE], cookies[CSRF_COOKIE]
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "secure" not in session  # served on localhost
    assert "httponly" not in csrf and "samesite=strict" in csrf


def test_cookies_are_secure_when_not_on_localhost(env):
    r = _login(env.client(base_url="http://kaart.example.nl"), "bm1@test.nl")
    assert all("secure" in c.lower() for c in r.headers.get_list("set-cookie"))


def test_wrong_password_and_unknown_user_look_the_same_and_are_audited(env):
    c = env.client()
    a = _login(c, "bm1@test.nl", "wrong password!")
    b = _login(c, "nobody@test.nl", "wrong password!")
    assert a.status_code == b.status_code == 401
    assert (
        a.json()
        == b.json()
        == {"error": {"code": "invalid_credentials", "message": a.json()["error"]["message"]}}
    )
    assert _login(c, "bm1@test.nl").status_code == 200
    entries = env.users.audit_entries()
    outcomes = [
        (e.action, e.outcome, e.user_email) for e in reversed(entries) if e.action == "login"
    ]
    assert outcomes == [
        ("login", "failure", "bm1@test.nl"),
        ("login", "failure", "nobody@test.nl"),
        ("login", "success", "bm1@test.nl"),
    ]
    assert all(e.address == "127.0.0.1" and e.at.endswith("Z") for e in entries)
    assert all(PASSWORD not in str(e.detail) for e in entries)


def test_disabled_user_cannot_log_in(env):
    env.users.disable_user("bm2@test.nl")
    assert _login(env.client(), "bm2@test.nl").status_code == 401


def test_login_throttling_per_account(env):
    c = env.client()
    limit = env.settings.login_free_attempts
    for _ in range(limit):
        assert _login(c, "bm1@test.nl", "wrong password!").status_code == 401
    r = _login(c, "bm1@test.nl")  # the right password, but before the delay has passed
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_attempts"
    retry = r.json()["error"]["retry_after"]
    assert retry == env.settings.login_delay_seconds
    assert r.headers["retry-after"] == str(retry)
    assert SESSION_COOKIE not in r.cookies
    # another account from the same address is not locked out by this
    assert _login(c, "bm2@test.nl").status_code == 200
    assert any(
        e.outcome == "throttled" and e.user_email == "bm1@test.nl"
        for e in env.users.audit_entries()
    )
    env.clock.advance(retry)
    assert _login(c, "bm1@test.nl").status_code == 200


def test_successful_login_resets_the_account_counter(env):
    c = env.client()
    limit = env.settings.login_free_attempts
    for _ in range(limit - 1):
        assert _login(c, "bm1@test.nl", "wrong password!").status_code == 401
    assert _login(c, "bm1@test.nl").status_code == 200
    for _ in range(limit - 1):
        assert _login(c, "bm1@test.nl", "wrong password!").status_code == 401
    assert _login(c, "bm1@test.nl").status_code == 200


def test_login_throttling_per_address(make_env):
    env = make_env(login_free_attempts_per_address=3)
    c = env.client()
    for email in ("a@test.nl", "b@test.nl", "c@test.nl"):
        assert _login(c, email, "wrong password!").status_code == 401
    r = _login(c, "analist@test.nl")
    assert r.status_code == 429


def test_csrf_required_for_state_changing_requests(env):
    c = env.login("bm1@test.nl")
    token = c.headers.pop(CSRF_HEADER)
    r = c.post("/api/auth/logout")
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = c.post("/api/tokens", json={"name": "x"}, headers={CSRF_HEADER: "not-the-token"})
    assert r.status_code == 403
    assert c.get("/api/me").status_code == 200  # the session survived
    # a matching cookie/header pair that does not belong to this session is refused too
    forged = "f" * 43
    raw = env.client()
    cookie = f"{SESSION_COOKIE}={c.cookies[SESSION_COOKIE]}; {CSRF_COOKIE}={forged}"
    r = raw.post("/api/tokens", json={"name": "x"}, headers={CSRF_HEADER: forged, "Cookie": cookie})
    assert r.status_code == 403
    cookie = f"{SESSION_COOKIE}={c.cookies[SESSION_COOKIE]}; {CSRF_COOKIE}={token}"
    assert (
        raw.post(
            "/api/tokens", json={"name": "x"}, headers={CSRF_HEADER: token, "Cookie": cookie}
        ).status_code
        == 201
    )
    r = c.post("/api/auth/logout", headers={CSRF_HEADER: token})
    assert r.status_code == 204
    assert c.get("/api/me").status_code == 401


def test_password_reset_revokes_sessions_and_tokens(env):
    c = env.login("bm1@test.nl")
    token = c.post("/api/tokens", json={"name": "qgis"}).json()["token"]
    env.users.set_password("bm1@test.nl", "a brand new password")
    assert c.get("/api/me").status_code == 401
    assert (
        env.client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    )
    assert _login(env.client(), "bm1@test.nl", "a brand new password").status_code == 200


def test_tokens_lifecycle(env):
    c = env.login("bm1@test.nl")
    r = c.post("/api/tokens", json={"name": "QGIS laptop", "days": 2})
    assert r.status_code == 201
    created = r.json()
    assert created["token"].startswith("kk_") and created["name"] == "QGIS laptop"
    listed = c.get("/api/tokens").json()["tokens"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and created["token"] not in c.get("/api/tokens").text
    bearer = env.client()
    bearer.headers["Authorization"] = f"Bearer {created['token']}"
    body = bearer.get("/api/sites?limit=10000").json()
    assert {f["properties"]["gemeentecode"] for f in body["features"]} == {"GM0901"}
    # a token cannot manage tokens, and needs no CSRF for what it may do
    assert (
        bearer.post("/api/tokens", json={"name": "more"}).json()["error"]["code"]
        == "session_required"
    )
    assert bearer.post("/api/auth/logout").status_code == 204
    assert bearer.get("/api/me").status_code == 200
    assert c.delete("/api/tokens/doesnotexist").status_code == 404
    # tokens expire (and so did the idle session meanwhile)
    env.clock.advance(2 * 86400 + 1)
    assert bearer.get("/api/me").status_code == 401
    assert c.delete("/api/tokens/doesnotexist").status_code == 401


def test_token_of_disabled_user_stops_working(env):
    c = env.login("bm1@test.nl")
    token = c.post("/api/tokens", json={"name": "script"}).json()["token"]
    env.users.disable_user("bm1@test.nl")
    assert (
        env.client().get("/api/sites", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_session_idle_timeout_is_extended_by_activity(env):
    c = env.login("bm1@test.nl")
    idle = env.settings.session_idle_minutes * 60
    for _ in range(3):
        env.clock.advance(idle - 30)
        assert c.get("/api/me").status_code == 200
    env.clock.advance(idle + 1)
    assert c.get("/api/me").status_code == 401


@pytest.mark.parametrize("bad", [{"email": "x"}, {"password": "y"}, {"email": "", "password": "x"}])
def test_login_validation_errors_are_json(env, bad):
    r = env.client().post("/api/auth/login", json=bad)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
