"""The service database (api/db): migrations on SQLite and PostgreSQL, ``kansenkaart db upgrade``,
adopting a database of the version before migrations, and throttling that holds across processes.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

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


def _session(store: UserStore, email: str) -> str:
    user = store.get_user(email)
    assert user is not None
    with store.db.write() as con:
        return store._insert_session(con, user, "127.0.0.1")


def test_a_remembered_session_ends_at_once_on_its_own_instance_and_within_the_bound_on_another(
    database,
):
    """Two stores on one database are two instances. ``session_cache_seconds`` lets an instance
    reuse a session it has just validated; a logout or disabled account made on that instance
    ends it there at once, one made on the other instance within the bound (and not sooner than
    the database says, i.e. the memory is really used)."""
    ttl = 1.5
    a = open_user_store(database, secret=b"s" * 40, session_cache_seconds=ttl)
    b = open_user_store(database, secret=b"s" * 40, session_cache_seconds=ttl)
    try:
        a.add_user("ann@test.nl", "a long password", role="analist", gemeenten=[])
        a.add_user("bob@test.nl", "a long password", role="analist", gemeenten=[])
        check = {"idle": 1800.0, "absolute": 43200.0}
        # On its own instance: logout, a disabled account and a new password take effect at once.
        for end in (
            lambda raw: a.delete_session(raw),
            lambda raw: a.set_password("ann@test.nl", "another long password"),
        ):
            raw = _session(a, "ann@test.nl")
            assert a.remembered_session_user(raw) is None  # not validated yet
            assert a.session_user(raw, **check).email == "ann@test.nl"
            assert a.remembered_session_user(raw).email == "ann@test.nl"  # the event-loop path
            end(raw)
            assert a.remembered_session_user(raw) is None
            assert a.session_user(raw, **check) is None
        raw = _session(a, "bob@test.nl")
        assert a.session_user(raw, **check) is not None
        a.disable_user("bob@test.nl")
        assert a.session_user(raw, **check) is None
        # On the other instance: remembered for at most ttl seconds after its last read.
        raw = _session(b, "ann@test.nl")
        read = time.monotonic()
        assert a.session_user(raw, **check) is not None  # a remembers it from here
        b.delete_session(raw)
        assert b.session_user(raw, **check) is None
        stale = a.session_user(raw, **check)
        if time.monotonic() - read < ttl:
            assert stale is not None  # still remembered: the cache is really used
        while a.session_user(raw, **check) is not None or a.remembered_session_user(raw):
            assert time.monotonic() - read <= ttl + 0.05, "a logout elsewhere outlived the bound"
            time.sleep(0.02)
        # Without the setting (the CLI's stores, the default) every look-up reads the database.
        c = open_user_store(database, secret=b"s" * 40)
        try:
            raw = _session(c, "ann@test.nl")
            assert c.session_user(raw, **check) is not None
            b.delete_session(raw)
            assert c.session_user(raw, **check) is None
        finally:
            c.close()
    finally:
        a.close()
        b.close()


def test_a_remembered_session_never_outlives_its_idle_deadline_nor_skips_the_touch(tmp_path):
    """The clock moves while the memory (monotonic seconds) has not run out: a session idle for
    longer than allowed is refused, and one used within the idle time is still touched (so a
    session kept in use does not expire because the memory hid its requests from the database)."""
    now = [1_000_000.0]
    store = open_user_store(
        str(tmp_path / "s.sqlite"), secret=b"s" * 40, clock=lambda: now[0], session_cache_seconds=5
    )
    try:
        store.add_user("ann@test.nl", "a long password", role="analist", gemeenten=[])
        raw = _session(store, "ann@test.nl")
        assert store.session_user(raw, idle=60, absolute=3600) is not None
        for _ in range(4):  # in use every 50 s: touched each time, never idle for 60 s
            now[0] += 50
            assert store.session_user(raw, idle=60, absolute=3600) is not None
        now[0] += 61
        assert store.session_user(raw, idle=60, absolute=3600) is None
        # Deadlines shorter than the touch interval (15 s) hold for a remembered session too.
        raw = _session(store, "ann@test.nl")
        assert store.session_user(raw, idle=10, absolute=3600) is not None
        now[0] += 11
        assert store.session_user(raw, idle=10, absolute=3600) is None
        raw = _session(store, "ann@test.nl")
        assert store.session_user(raw, idle=60, absolute=12) is not None
        now[0] += 13
        assert store.session_user(raw, idle=60, absolute=12) is None
    finally:
        store.close()
