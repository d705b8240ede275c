"""HTTP Basic with the account's e-mail and a personal API token (what QGIS's stored
authentication configurations send); never the account password."""

from __future__ import annotations

import base64

import pytest

PASSWORD = "correct horse battery"  # the fixture accounts' password (conftest.py)


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def _token(env, email: str) -> str:
    r = env.login(email).post("/api/tokens", json={"name": "QGIS"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def test_email_and_token_give_the_owners_scope(env):
    token = _token(env, "bm1@test.nl")
    c = env.client()
    for user in ("bm1@test.nl", "BM1@Test.nl "):  # e-mail case and spaces do not matter
        r = c.get("/api/sites?limit=10000", headers=_basic(user, token))
        assert r.status_code == 200, r.text
        codes = {f["properties"]["gemeentecode"] for f in r.json()["features"]}
        assert codes == {"GM0901"}
    assert (
        c.get("/api/sites?gemeente=GM0902", headers=_basic("bm1@test.nl", token)).status_code == 403
    )
    assert c.get("/api/me", headers=_basic("bm1@test.nl", token)).json()["email"] == "bm1@test.nl"
    # a token, not a session: it cannot mint tokens, and no cookie is set
    r = c.post("/api/tokens", json={"name": "x"}, headers=_basic("bm1@test.nl", token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "session_required"
    assert "set-cookie" not in r.headers


def test_the_account_password_is_never_accepted_over_basic(env):
    c = env.client()
    r = c.get("/api/sites", headers=_basic("bm1@test.nl", PASSWORD))
    assert r.status_code == 401
    assert "accountwachtwoord wordt hier nooit geaccepteerd" in r.json()["error"]["message"]
    assert PASSWORD not in r.text
    entries = [e for e in env.users.audit_entries() if e.action == "basic_auth"]
    assert [(e.user_email, e.outcome) for e in entries] == [("bm1@test.nl", "failure")]
    assert PASSWORD not in repr(entries)


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Digest username=x",
    ],
)
def test_malformed_authorization_is_401(env, header):
    r = env.client().get("/api/sites", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"


def test_a_token_works_only_with_its_owners_email_and_while_live(env):
    token = _token(env, "bm1@test.nl")
    c = env.client()
    assert c.get("/api/sites", headers=_basic("bm2@test.nl", token)).status_code == 401
    assert c.get("/api/sites", headers=_basic("bm1@test.nl", token + "x")).status_code == 401
    env.users.disable_user("bm1@test.nl")
    assert c.get("/api/sites", headers=_basic("bm1@test.nl", token)).status_code == 401


def test_failures_are_throttled_like_logins_but_a_valid_token_still_works(env):
    token = _token(env, "bm1@test.nl")
    c = env.client()
    free = env.settings.login_free_attempts  # per account and address
    for _ in range(free):
        assert c.get("/api/sites", headers=_basic("bm1@test.nl", "kk_guess")).status_code == 401
    r = c.get("/api/sites", headers=_basic("bm1@test.nl", "kk_guess"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # the owner's QGIS keeps working: a guessed-at account is not locked out of its token
    assert c.get("/api/sites", headers=_basic("bm1@test.nl", token)).status_code == 200
    # Basic failures count like failed logins of that account from that address
    assert (
        c.post("/api/auth/login", json={"email": "bm1@test.nl", "password": PASSWORD}).status_code
        == 429
    )
    outcomes = [e.outcome for e in env.users.audit_entries() if e.action == "basic_auth"]
    assert outcomes.count("failure") == free and outcomes.count("throttled") == 1
