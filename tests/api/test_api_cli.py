"""``kansenkaart users …`` and demo-serve preparation, through the real CLI and the SQLite database."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from api import cli
from api.main import create_app
from pipeline.cli import app as kansenkaart


@pytest.fixture
def cli_env(tmp_path, monkeypatch, result_file):
    monkeypatch.setenv("KANSENKAART_DATABASE", str(tmp_path / "users.sqlite"))
    monkeypatch.setenv("KANSENKAART_RESULT", str(result_file[0]))
    monkeypatch.setenv("KANSENKAART_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("KANSENKAART_ARGON2_MEMORY_KIB", "64")
    return tmp_path


def _run(args, stdin=""):
    return CliRunner().invoke(kansenkaart, args, input=stdin)


def test_users_add_list_disable_reset(cli_env):
    r = _run(
        ["users", "add", "a@test.nl", "--role", "beleidsmaker", "-g", "GM0901", "--password-stdin"],
        "a good long password\n",
    )
    assert r.exit_code == 0, r.output
    r = _run(
        ["users", "add", "b@test.nl", "--role", "analist", "--password-stdin"],
        "another long password\n",
    )
    assert r.exit_code == 0, r.output
    r = _run(["users", "list"])
    assert r.exit_code == 0
    assert "a@test.nl" in r.output and "GM0901" in r.output and "analist" in r.output
    assert "a good long password" not in r.output
    assert _run(["users", "disable", "a@test.nl"]).exit_code == 0
    assert "disabled" in _run(["users", "list"]).output
    r = _run(
        ["users", "reset-password", "b@test.nl", "--password-stdin"], "a third long password\n"
    )
    assert r.exit_code == 0, r.output
    store = cli._store(Console(file=io.StringIO()))
    assert store.check_password("b@test.nl", "a third long password") is not None
    assert store.check_password("a@test.nl", "a good long password") is None  # disabled
    actions = [e.action for e in store.audit_entries()]
    assert {"user_add", "user_disable", "user_reset_password"} <= set(actions)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["users", "add", "x@test.nl", "--role", "burgemeester", "--password-stdin"],
            "unknown role",
        ),
        (
            ["users", "add", "x@test.nl", "--role", "beleidsmaker", "--password-stdin"],
            "needs at least one municipality",
        ),
        (
            [
                "users",
                "add",
                "x@test.nl",
                "--role",
                "beleidsmaker",
                "-g",
                "0599",
                "--password-stdin",
            ],
            "invalid municipality code",
        ),
        (
            ["users", "add", "x@test.nl", "--role", "analist", "--password-stdin"],
            "at least 10 characters",
        ),
        (["users", "disable", "nobody@test.nl"], "no user with e-mail"),
    ],
)
def test_user_mistakes_exit_2_with_a_message(cli_env, args, message):
    r = _run(args, "short\n")
    assert r.exit_code == 2
    assert message in r.output
    assert "Traceback" not in r.output


def test_duplicate_email_is_refused(cli_env):
    args = ["users", "add", "d@test.nl", "--role", "analist", "--password-stdin"]
    assert _run(args, "a good long password\n").exit_code == 0
    r = _run(
        ["users", "add", "D@test.nl", "--role", "analist", "--password-stdin"],
        "a good long password\n",
    )
    assert r.exit_code == 2 and "already exists" in r.output


def test_password_is_never_taken_from_argv(cli_env):
    r = _run(
        ["users", "add", "p@test.nl", "--role", "analist", "--password", "a good long password"]
    )
    assert r.exit_code == 2
    assert "No such option" in r.output


def test_no_terminal_and_no_stdin_flag_is_refused(cli_env):
    r = _run(["users", "add", "t@test.nl", "--role", "analist"], "")
    assert r.exit_code == 2 and "--password-stdin" in r.output


def test_serve_without_secret_key_is_refused(cli_env, monkeypatch):
    monkeypatch.delenv("KANSENKAART_SECRET_KEY", raising=False)
    monkeypatch.delenv("KANSENKAART_DEV", raising=False)
    r = _run(["serve"])
    assert r.exit_code == 2
    assert "KANSENKAART_SECRET_KEY is required" in r.output


def test_demo_accounts(tmp_path, result_file, monkeypatch):
    monkeypatch.setenv("KANSENKAART_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("KANSENKAART_ARGON2_MEMORY_KIB", "64")
    result = tmp_path / "processed" / "kansenkaart.gpkg"
    result.parent.mkdir()
    result.write_bytes(result_file[0].read_bytes())
    console = Console(file=io.StringIO())
    settings, accounts = cli.prepare_demo(result, console=console)
    assert settings.dev and settings.database == str(
        result.parent / "kansenkaart-demo-users.sqlite"
    )
    # a synthetic result gets sample registries for the match (once)
    from api.security import Scope
    from api.store.registers import RegisterStore
    from api.store.users import open_user_store

    assert settings.match_config is not None and settings.match_config.exists()
    store = open_user_store(settings.database, secret=settings.secret)
    offers = RegisterStore(store.db).rows("aanbod", Scope(None))
    assert len(offers) == 40 and len(RegisterStore(store.db).rows("partijen", Scope(None))) == 12
    store.close()
    # a second start refreshes the passwords
    settings, accounts = cli.prepare_demo(result, console=console)
    store = open_user_store(settings.database, secret=settings.secret)
    assert RegisterStore(store.db).rows("aanbod", Scope(None)) == offers
    store.close()
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        r = c.post(
            "/api/auth/login",
            json={"email": cli.DEMO_BELEIDSMAKER, "password": accounts[cli.DEMO_BELEIDSMAKER]},
        )
        assert r.status_code == 200
        assert [g["code"] for g in r.json()["user"]["gemeenten"]] == ["GM0901"]
        r = c.post(
            "/api/auth/login",
            json={"email": cli.DEMO_ANALIST, "password": accounts[cli.DEMO_ANALIST]},
        )
        assert r.json()["user"]["role"] == "analist"
    with pytest.raises(SystemExit) as exc:
        cli.prepare_demo(tmp_path / "missing.gpkg", console=console)
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "password",
    [
        "Welkom2024!",  # Dutch "welcome" and a year
        "wachtwoord123",  # Dutch "password"
        "p@ssw0rd12345",  # a common password in l33t
        "qwertyuiop12",  # a keyboard row
        "Kansenkaart2026",  # the service's own name
        "devries.pieter1",  # the account's own e-mail address
        "PieterDeVries2026!",
    ],
)
def test_weak_passwords_are_refused_at_add_and_reset(cli_env, password):
    r = _run(
        ["users", "add", "pieter.devries@gemeente.nl", "--role", "analist", "--password-stdin"],
        password + "\n",
    )
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "too easy to guess" in r.output or "own name or e-mail" in r.output
    r = _run(
        ["users", "add", "pieter.devries@gemeente.nl", "--role", "analist", "--password-stdin"],
        "vier losse woorden paraplu\n",
    )
    assert r.exit_code == 0, r.output
    r = _run(
        ["users", "reset-password", "pieter.devries@gemeente.nl", "--password-stdin"],
        password + "\n",
    )
    assert r.exit_code == 2
    assert "too easy to guess" in r.output or "own name or e-mail" in r.output
    store = cli._store(Console(file=io.StringIO()))
    assert store.check_password("pieter.devries@gemeente.nl", "vier losse woorden paraplu")
