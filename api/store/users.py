"""Users, sessions, API tokens, login attempts and the audit log in one SQLite database.

The database is created on first use (tables ``users``, ``sessions``, ``tokens``,
``login_attempts``, ``login_throttle``, ``audit``). Session ids and tokens are stored only as keyed hashes
(:func:`api.security.keyed_hash`). Time comes from an injectable clock so tests can expire
sessions without sleeping.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.security import (
    GEMEENTECODE_RE,
    ROLES,
    TOKEN_PREFIX,
    Passwords,
    Throttle,
    User,
    keyed_hash,
    new_secret_value,
    password_problem,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    gemeenten TEXT NOT NULL DEFAULT '[]',
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    password_changed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    address TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_used REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);
CREATE TABLE IF NOT EXISTS login_attempts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL COLLATE NOCASE,
    address TEXT NOT NULL,
    ts REAL NOT NULL,
    success INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_email ON login_attempts(email, ts);
CREATE INDEX IF NOT EXISTS attempts_address ON login_attempts(address, ts);
CREATE TABLE IF NOT EXISTS login_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at REAL NOT NULL,
    next_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_last ON login_throttle(last_at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    at TEXT NOT NULL,
    user_email TEXT,
    address TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
"""

#: Sessions' ``last_seen`` is written at most this often (seconds), to keep reads cheap.
TOUCH_INTERVAL = 15.0


class UserStoreError(ValueError):
    """A user-management request that cannot be done (duplicate e-mail, unknown role, …)."""


class LoginThrottled(Exception):
    """A login attempt that must wait ``retry_after`` seconds (``kind``: which counter)."""

    def __init__(self, retry_after: float, kind: str) -> None:
        super().__init__(f"login throttled by the {kind} counter for {retry_after:.0f} s")
        self.retry_after = retry_after
        self.kind = kind


@dataclass(frozen=True)
class LoginReservation:
    """A login attempt counted on its throttle keys, waiting for the password check."""

    email: str
    address: str
    keys: tuple[str, ...]


def _wait_sql(n: str) -> str:
    """SQL for the seconds to wait after the ``n``-th counted failure (see :class:`Throttle`);
    ``1 << k`` and ``CASE`` work the same in SQLite and PostgreSQL."""
    step = f"({n} - :free)"
    grown = f":delay * (1 << {step})"
    return (
        f"(CASE WHEN {n} < :free THEN 0 WHEN {step} >= 30 THEN :max_delay "
        f"WHEN {grown} > :max_delay THEN :max_delay ELSE {grown} END)"
    )


_FAILURES = (
    "((CASE WHEN login_throttle.last_at < :now - :forget THEN 0 "
    "ELSE login_throttle.failures END) + 1)"
)
#: Count one attempt on a throttle key unless it must still wait (then no row is returned).
_RESERVE_SQL = f"""
INSERT INTO login_throttle (key, failures, last_at, next_at)
VALUES (:key, 1, :now, :now + {_wait_sql("1")})
ON CONFLICT (key) DO UPDATE SET
    failures = {_FAILURES},
    last_at = :now,
    next_at = :now + {_wait_sql(_FAILURES)}
WHERE login_throttle.next_at <= :now
RETURNING failures
"""


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    created_at: float
    expires_at: float
    last_used: float | None


@dataclass(frozen=True)
class AuditEntry:
    ts: float
    at: str
    user_email: str | None
    address: str | None
    action: str
    outcome: str
    detail: dict[str, Any]


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        gemeenten=tuple(json.loads(row["gemeenten"])),
        disabled=bool(row["disabled"]),
    )


def validate_account(role: str, gemeenten: list[str] | tuple[str, ...]) -> list[str]:
    """Check a role and its municipality codes; returns the normalised codes or raises."""
    if role not in ROLES:
        raise UserStoreError(f"unknown role '{role}': use one of {', '.join(ROLES)}")
    codes = sorted({c.strip().upper() for c in gemeenten if c.strip()})
    bad = [c for c in codes if not GEMEENTECODE_RE.match(c)]
    if bad:
        raise UserStoreError(
            f"invalid municipality code(s) {', '.join(bad)}: use the CBS code, e.g. GM0599"
        )
    if role == "beleidsmaker" and not codes:
        raise UserStoreError(
            "a beleidsmaker needs at least one municipality: add --gemeente GM0599 (repeatable)"
        )
    if role != "beleidsmaker" and codes:
        raise UserStoreError(f"role '{role}' sees all municipalities or none; drop --gemeente")
    return codes


class UserStore:
    """The SQLite user database. Thread-safe: one connection per thread."""

    def __init__(
        self,
        path: Path,
        *,
        secret: bytes,
        clock: Callable[[], float] = time.time,
        passwords: Passwords | None = None,
    ):
        self.path = Path(path)
        self.passwords = passwords or Passwords()
        self.secret = secret
        self.clock = clock
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection().executescript(SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
        return con

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        else:
            con.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._connection().execute(sql, params).fetchall()

    def _hash(self, value: str) -> str:
        return keyed_hash(self.secret, value)

    # -- users ------------------------------------------------------------------------------
    def add_user(self, email: str, password: str, *, role: str, gemeenten: list[str]) -> User:
        """Create an account; raises :class:`UserStoreError` on bad input or a duplicate."""
        email = email.strip()
        if "@" not in email or len(email) > 254:
            raise UserStoreError(f"'{email}' is not an e-mail address")
        codes = validate_account(role, gemeenten)
        problem = password_problem(password, user_inputs=(email,))
        if problem:
            raise UserStoreError(problem)
        now = self.clock()
        try:
            with self._conn() as con:
                con.execute(
                    "INSERT INTO users (email, password_hash, role, gemeenten, created_at, "
                    "password_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (email, self.passwords.hash(password), role, json.dumps(codes), now, now),
                )
        except sqlite3.IntegrityError:
            raise UserStoreError(
                f"a user with e-mail '{email}' already exists (use reset-password or disable)"
            ) from None
        user = self.get_user(email)
        assert user is not None
        return user

    def get_user(self, email: str) -> User | None:
        rows = self._read("SELECT * FROM users WHERE email = ?", (email.strip(),))
        return _user(rows[0]) if rows else None

    def list_users(self) -> list[tuple[User, float | None]]:
        """Every account with the time of its last successful login (or ``None``)."""
        rows = self._read(
            "SELECT u.*, (SELECT max(ts) FROM login_attempts a WHERE a.email = u.email "
            "AND a.success = 1) AS last_login FROM users u ORDER BY u.email"
        )
        return [(_user(r), r["last_login"]) for r in rows]

    def _require(self, email: str) -> User:
        user = self.get_user(email)
        if user is None:
            raise UserStoreError(f"no user with e-mail '{email}' (see `kansenkaart users list`)")
        return user

    def disable_user(self, email: str) -> User:
        """Disable an account and revoke its sessions and tokens at once."""
        user = self._require(email)
        with self._conn() as con:
            con.execute("UPDATE users SET disabled = 1 WHERE id = ?", (user.id,))
            self._revoke_all(con, user.id)
        return self._require(email)

    def set_password(self, email: str, password: str) -> User:
        """Set a new password (and re-enable nothing); revokes sessions and tokens."""
        user = self._require(email)
        problem = password_problem(password, user_inputs=(email,))
        if problem:
            raise UserStoreError(problem)
        with self._conn() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                (self.passwords.hash(password), self.clock(), user.id),
            )
            self._revoke_all(con, user.id)
        return user

    def upsert_user(self, email: str, password: str, *, role: str, gemeenten: list[str]) -> User:
        """Create or refresh an account (role, scope, password; enabled). Used by demo mode."""
        if self.get_user(email) is None:
            return self.add_user(email, password, role=role, gemeenten=gemeenten)
        codes = validate_account(role, gemeenten)
        self.set_password(email, password)
        with self._conn() as con:
            con.execute(
                "UPDATE users SET role = ?, gemeenten = ?, disabled = 0 WHERE email = ?",
                (role, json.dumps(codes), email),
            )
        return self._require(email)

    def _revoke_all(self, con: sqlite3.Connection, user_id: int) -> None:
        con.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
        con.execute(
            "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (self.clock(), user_id),
        )

    def check_password(self, email: str, password: str) -> User | None:
        """The enabled user with these credentials, or ``None`` (same cost either way)."""
        rows = self._read("SELECT * FROM users WHERE email = ?", (email.strip(),))
        row = rows[0] if rows else None
        ok = self.passwords.verify(row["password_hash"] if row else None, password)
        if not ok or row is None or row["disabled"]:
            return None
        return _user(row)

    # -- login attempts (throttling) ----------------------------------------------------------
    def reserve_login(self, email: str, address: str, throttle: Throttle) -> LoginReservation:
        """Count this attempt as a failure on every throttle key *before* the password is
        checked, or raise :class:`LoginThrottled` when one of the keys must still wait.

        One transaction; each key is one atomic upsert (``INSERT … ON CONFLICT DO UPDATE … WHERE
        next_at <= now RETURNING``), so concurrent attempts cannot all pass a check made before
        any of them is counted. A refused attempt counts nowhere.
        """
        email = email.strip().lower()
        now = self.clock()
        with self._conn() as con:
            con.execute(
                "DELETE FROM login_throttle WHERE last_at < :cutoff",
                {"cutoff": now - throttle.forget},
            )
            usual = con.execute(
                "SELECT 1 FROM login_attempts WHERE email = ? AND address = ? AND success = 1 "
                "AND ts > ? LIMIT 1",
                (email, address, now - throttle.known_address),
            ).fetchone()
            keys = [
                (f"pair:{email}\n{address}", throttle.pair_free),
                (f"address:{address}", throttle.address_free),
            ]
            if usual is None:
                keys.append((f"account:{email}", throttle.account_free))
            for key, free in keys:
                params = {
                    "key": key,
                    "now": now,
                    "free": free,
                    "delay": throttle.delay,
                    "max_delay": throttle.max_delay,
                    "forget": throttle.forget,
                }
                if con.execute(_RESERVE_SQL, params).fetchone() is None:
                    row = con.execute(
                        "SELECT next_at FROM login_throttle WHERE key = ?", (key,)
                    ).fetchone()
                    raise LoginThrottled(max(0.0, float(row[0]) - now), key.split(":", 1)[0])
        return LoginReservation(email, address, tuple(k for k, _ in keys))

    def finish_login(self, reservation: LoginReservation, user: User | None) -> str | None:
        """Record the outcome of a reserved attempt; on success give the counted attempt back
        (the account-and-address counter starts again from zero) and start a session, whose raw
        id is returned."""
        with self._conn() as con:
            con.execute(
                "INSERT INTO login_attempts (email, address, ts, success) VALUES (?, ?, ?, ?)",
                (reservation.email, reservation.address, self.clock(), int(user is not None)),
            )
            if user is None:
                return None
            for key in reservation.keys:
                if key.startswith("pair:"):
                    con.execute("DELETE FROM login_throttle WHERE key = ?", (key,))
                else:
                    con.execute(
                        "UPDATE login_throttle SET failures = failures - 1 "
                        "WHERE key = ? AND failures > 0",
                        (key,),
                    )
            return self._insert_session(con, user, reservation.address)

    # -- sessions -----------------------------------------------------------------------------
    def _insert_session(self, con: sqlite3.Connection, user: User, address: str) -> str:
        """Start a session; returns the raw session id (only its hash is stored)."""
        raw = new_secret_value()
        now = self.clock()
        con.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen, address) "
            "VALUES (?, ?, ?, ?, ?)",
            (self._hash(raw), user.id, now, now, address),
        )
        return raw

    def session_user(self, raw: str, *, idle: float, absolute: float) -> User | None:
        """The user of a live session, or ``None`` (unknown, expired or disabled user)."""
        id_hash = self._hash(raw)
        rows = self._read(
            "SELECT s.created_at AS s_created, s.last_seen AS s_seen, u.* FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
            (id_hash,),
        )
        if not rows:
            return None
        row = rows[0]
        now = self.clock()
        if row["disabled"] or now - row["s_seen"] > idle or now - row["s_created"] > absolute:
            with self._conn() as con:
                con.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
            return None
        if now - row["s_seen"] > TOUCH_INTERVAL:
            with self._conn() as con:
                con.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now, id_hash))
        return _user(row)

    def delete_session(self, raw: str) -> None:
        with self._conn() as con:
            con.execute("DELETE FROM sessions WHERE id_hash = ?", (self._hash(raw),))

    # -- API tokens ---------------------------------------------------------------------------
    def create_token(self, user: User, *, name: str, days: int) -> tuple[TokenInfo, str]:
        """Create a personal API token; returns its info and the raw token (shown once)."""
        raw = new_secret_value(TOKEN_PREFIX)
        token_id = new_secret_value()[:16]
        now = self.clock()
        info = TokenInfo(token_id, name, now, now + days * 86400.0, None)
        with self._conn() as con:
            con.execute(
                "INSERT INTO tokens (id, user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, user.id, name, self._hash(raw), now, info.expires_at),
            )
        return info, raw

    def list_tokens(self, user: User) -> list[TokenInfo]:
        rows = self._read(
            "SELECT * FROM tokens WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? "
            "ORDER BY created_at",
            (user.id, self.clock()),
        )
        return [
            TokenInfo(r["id"], r["name"], r["created_at"], r["expires_at"], r["last_used"])
            for r in rows
        ]

    def revoke_token(self, user: User, token_id: str) -> bool:
        with self._conn() as con:
            cur = con.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                (self.clock(), token_id, user.id),
            )
        return cur.rowcount > 0

    def token_user(self, raw: str, *, email: str | None = None) -> User | None:
        """The user of a live API token, or ``None``; with ``email``, only when the token belongs
        to that account (e-mail compared without case)."""
        if not raw.startswith(TOKEN_PREFIX):
            return None
        rows = self._read(
            "SELECT t.id AS t_id, t.expires_at, t.revoked_at, t.last_used, u.* FROM tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (self._hash(raw),),
        )
        if not rows:
            return None
        row = rows[0]
        now = self.clock()
        if row["revoked_at"] is not None or row["expires_at"] <= now or row["disabled"]:
            return None
        if email is not None and row["email"].casefold() != email.strip().casefold():
            return None
        if row["last_used"] is None or now - row["last_used"] > TOUCH_INTERVAL:
            with self._conn() as con:
                con.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, row["t_id"]))
        return _user(row)

    # -- audit --------------------------------------------------------------------------------
    def audit(
        self,
        action: str,
        *,
        outcome: str,
        user_email: str | None,
        address: str | None,
        **detail: Any,
    ) -> None:
        """Append one line to the audit log (never a password or token)."""
        now = self.clock()
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        with self._conn() as con:
            con.execute(
                "INSERT INTO audit (ts, at, user_email, address, action, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, at, user_email, address, action, outcome, json.dumps(detail, sort_keys=True)),
            )

    def audit_entries(self, *, limit: int = 1000) -> list[AuditEntry]:
        rows = self._read("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [
            AuditEntry(
                r["ts"],
                r["at"],
                r["user_email"],
                r["address"],
                r["action"],
                r["outcome"],
                json.loads(r["detail"]),
            )
            for r in rows
        ]


def open_user_store(
    database: str,
    *,
    secret: bytes,
    clock: Callable[[], float] = time.time,
    passwords: Passwords | None = None,
) -> UserStore:
    """Open (create on first use) the user database named by ``KANSENKAART_DATABASE``."""
    if database.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise UserStoreError(
            "KANSENKAART_DATABASE is a PostgreSQL URL, but only SQLite is implemented so far: "
            "set it to a file path such as data/processed/kansenkaart-users.sqlite"
        )
    if database.startswith("sqlite:///"):
        database = database[len("sqlite:///") :]
    return UserStore(Path(database), secret=secret, clock=clock, passwords=passwords)
