"""Behind a TLS proxy (issue 11, item 6): ``X-Forwarded-Proto`` and the client address are
believed only from configured trusted proxies; HSTS over HTTPS; the ``Secure`` cookie flag does
not depend on the Host header."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.security import SESSION_COOKIE

PASSWORD = "correct horse battery"
LOGIN = {"email": "bm1@test.nl", "password": PASSWORD}
FORWARDED = {"X-Forwarded-For": "198.51.100.23", "X-Forwarded-Proto": "https"}


def _session_cookie(r) -> str:
    return next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)).lower()


def _login_addresses(env) -> list[str | None]:
    return [e.address for e in reversed(env.users.audit_entries()) if e.action == "login"]


def test_a_trusted_proxy_gives_the_client_address_and_https(make_env):
    env = make_env(trusted_proxies="10.0.0.2, 192.168.7.0/24")
    c = env.client(base_url="http://kaart.example.nl", address="10.0.0.2")
    r = c.post("/api/auth/login", json=LOGIN, headers=FORWARDED)
    assert r.status_code == 200
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    assert "secure" in _session_cookie(r)
    # a chain of proxies: the right-most address that is not a trusted proxy is the client
    chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.24, 192.168.7.9", "X-Forwarded-Proto": "https"}
    assert c.post("/api/auth/login", json=LOGIN, headers=chain).status_code == 200
    assert _login_addresses(env) == ["198.51.100.23", "198.51.100.24"]


def test_forwarded_headers_from_any_other_peer_are_ignored(make_env):
    env = make_env(trusted_proxies="10.0.0.2")
    for peer in ("127.0.0.1", "10.0.0.3"):  # loopback is not trusted unless configured
        c = env.client(base_url="http://kaart.example.nl", address=peer)
        r = c.post("/api/auth/login", json=LOGIN, headers=FORWARDED)
        assert r.status_code == 200
        assert "strict-transport-security" not in r.headers
    assert _login_addresses(env) == ["127.0.0.1", "10.0.0.3"]


def test_no_proxy_is_trusted_by_default(env):
    c = env.client(base_url="http://kaart.example.nl", address="127.0.0.1")
    r = c.post("/api/auth/login", json=LOGIN, headers=FORWARDED)
    assert "strict-transport-security" not in r.headers
    assert _login_addresses(env) == ["127.0.0.1"]


def test_https_directly_sends_hsts_on_every_answer(env):
    c = env.client(base_url="https://kaart.example.nl", address="198.51.100.9")
    r = c.post("/api/auth/login", json=LOGIN)
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    assert "secure" in _session_cookie(r)
    assert c.get("/healthz").headers["strict-transport-security"] == "max-age=31536000"
    assert c.get("/api/me").status_code == 200


def test_a_forged_host_header_does_not_drop_the_secure_flag(env):
    c = env.client(base_url="http://localhost", address="198.51.100.9")  # a remote client
    r = c.post("/api/auth/login", json=LOGIN)
    assert r.status_code == 200 and "secure" in _session_cookie(r)
    # development on this machine: plain HTTP from loopback to localhost, no Secure flag
    r = env.client(base_url="http://localhost", address="127.0.0.1").post(
        "/api/auth/login", json=LOGIN
    )
    assert r.status_code == 200 and "secure" not in _session_cookie(r)


def test_an_invalid_trusted_proxy_setting_names_the_value(make_env):
    with pytest.raises(ValidationError, match=r"not an IP address or network: proxy\.local"):
        make_env(trusted_proxies="10.0.0.2,proxy.local")
