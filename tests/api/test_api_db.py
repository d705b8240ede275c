"""The service database (api/db): migrations on SQLite and PostgreSQL, ``kansenkaart db upgrade``,
adopting a database of the version before migrations, and throttling that holds across processes.
"""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from api.db import Database, head_revision, open_database, register_tables
from api.security import Throttle
from api.store.users import LoginThrottled, UserStore, UserStoreError, open_user_store
from pipeline.cli import app as kansenkaart

#: The schema the service created itself before it used migrations (api/store/users.py then).
LEGACY_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL, role TEXT NOT NULL, gemeenten TEXT NOT NULL DEFAULT '[]',
    disabled INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, password_changed_at REAL NOT NULL);
CREATE TABLE sessions (id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, created_at REAL NOT NULL,
    last_seen REAL NOT NULL, address TEXT);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE tokens (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, last_used REAL, revoked_at REAL);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE login_attempts (id INTEGER PRIMARY KEY, email TEXT NOT NULL COLLATE NOCASE,
    address TEXT NOT NULL, ts REAL NOT NULL, success INTEGER NOT NULL);
CREATE INDEX attempts_email ON login_attempts(email, ts);
CREATE INDEX attempts_address ON login_attempts(address, ts);
CREATE TABLE audit (id INTEGER PRIMARY KEY, ts REAL NOT NULL, at TEXT NOT NULL, user_email TEXT,
    address TEXT, action TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}');
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    return request.getfixturevalue("pg_cluster").create_database()


def test_migrations_create_exactly_the_tables_the_code_uses(database):
    db = open_database(database)
    try:
        assert db.revision() == head_revision()
        with db.engine.connect() as con:
            diff = compare_metadata(MigrationContext.configure(con), register_tables())
        assert diff == []
        names = set(sa.inspect(db.engine).get_table_names())
        assert {"users", "sessions", "tokens", "login_attempts", "login_throttle", "audit"} <= names
        assert db.upgrade() == (head_revision(), head_revision())  # idempotent
    finally:
        db.close()


def test_e_mail_addresses_are_unique_whatever_their_case(database):
    store = open_user_store(database, secret=b"s" * 40)
    try:
        store.add_user("Ann@Test.nl", "a long password", role="analist", gemeenten=[])
        with pytest.raises(UserStoreError, match="already exists"):
            store.add_user("ann@test.NL", "a long password", role="analist", gemeenten=[])
        assert store.check_password("ANN@test.nl", "a long password") is not None
    finally:
        store.close()


def test_db_upgrade_cli(database, monkeypatch):
    monkeypatch.setenv("KANSENKAART_DATABASE", database)
    runner = CliRunner()
    r = runner.invoke(kansenkaart, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    assert f"from (empty) to {head_revision()}" in r.output
    r = runner.invoke(kansenkaart, ["db", "upgrade"])
    assert r.exit_code == 0 and "nothing to do" in r.output


def test_db_upgrade_cli_names_an_unreachable_database_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "KANSENKAART_DATABASE", f"postgresql://kk:s3cret@/nodb?host={tmp_path}&port=1"
    )
    r = CliRunner().invoke(kansenkaart, ["db", "upgrade"])
    assert r.exit_code == 2, r.output
    assert "kk:***@" in r.output and "s3cret" not in r.output and "Traceback" not in r.output


def test_without_auto_upgrade_an_old_schema_is_refused(database):
    with pytest.raises(UserStoreError, match="kansenkaart db upgrade"):
        open_user_store(database, secret=b"s" * 40, auto_upgrade=False)
    open_user_store(database, secret=b"s" * 40).close()  # migrates
    open_user_store(database, secret=b"s" * 40, auto_upgrade=False).close()


def test_a_database_of_the_version_before_migrations_is_adopted(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(LEGACY_SCHEMA)
    store = UserStore(Database(str(path)), secret=b"s" * 40)
    hashed = store.passwords.hash("an old long password")
    con.execute(
        "INSERT INTO users (email, password_hash, role, gemeenten, created_at, password_changed_at) "
        "VALUES ('Old@Test.nl', ?, 'beleidsmaker', '[\"GM0599\"]', 1, 1)",
        (hashed,),
    )
    con.commit()
    con.close()
    store = open_user_store(str(path), secret=b"s" * 40)
    try:
        assert store.db.revision() == head_revision()
        user = store.check_password("old@test.nl", "an old long password")
        assert user is not None and user.gemeenten == ("GM0599",)
        assert store.finish_login(store.reserve_login("old@test.nl", "1.2.3.4", Throttle()), user)
    finally:
        store.close()


#: After the free attempts, a minute's wait (longer than the burst takes on a busy machine).
SLOW = Throttle(delay=60.0, max_delay=600.0)


def _burst(database: str, attempts: int, start, out) -> None:  # runs in another process
    store = open_user_store(database, secret=b"s" * 40, auto_upgrade=False)
    start.wait()
    passed = 0
    for _ in range(attempts):
        try:
            store.reserve_login("victim@test.nl", "10.0.0.1", SLOW)
            passed += 1
        except LoginThrottled:
            pass
    out.put(passed)
    store.close()


def test_throttling_holds_across_processes(database):
    """Four processes guess at once: together they get exactly the free attempts."""
    open_user_store(database, secret=b"s" * 40).close()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_burst, args=(database, 6, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    passed = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert passed == SLOW.pair_free


def test_a_nul_character_in_text_is_replaced_the_same_way_on_both_databases(database):
    """PostgreSQL refuses NUL in text; the layer turns it into U+FFFD on both databases, so a
    look-up with NUL finds nothing and a stored name keeps its place of the character."""
    store = open_user_store(database, secret=b"s" * 40)
    try:
        user = store.add_user("ann@test.nl", "a long password", role="analist", gemeenten=[])
        assert store.get_user("ann@test.nl\x00") is None
        assert store.check_password("ann\x00@test.nl", "a long password") is None
        store.reserve_login("ann\x00@test.nl", "10.0.0.\x001", Throttle())  # counted, no error
        store.create_token(user, name="qgis\x00laptop", days=1)
        assert [t.name for t in store.list_tokens(user)] == ["qgis\ufffdlaptop"]
        store.audit("login", outcome="failure", user_email="x\x00@test.nl", address="cli")
        assert store.audit_entries()[0].user_email == "x\ufffd@test.nl"
    finally:
        store.close()
