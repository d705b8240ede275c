"""Users, sessions, API tokens, login throttling and the audit log in the service database.

The tables (``users``, ``sessions``, ``tokens``, ``login_attempts``, ``login_throttle``,
``audit``) are defined here on :data:`api.db.metadata` and created by the migrations
(:mod:`api.db`); the same queries run on SQLite and PostgreSQL. Session ids and tokens are
stored only as keyed hashes (:func:`api.security.keyed_hash`). Every check reads the database,
and every change is one transaction, so several processes on one database agree at once: a
logout or a disabled account ends the session everywhere, and the throttling counters are
counted atomically (:meth:`UserStore.reserve_login`). Time comes from an injectable clock so
tests can expire sessions without sleeping.

One bounded exception: a store opened with ``session_cache_seconds`` > 0 (the service's, setting
``KANSENKAART_SESSION_CACHE_SECONDS``, default 1 s) remembers a session it has just validated for
at most that long, so a burst of tile requests does not read the database once per tile. A change
made through the same store (logout, disabled account, new password) empties that memory at once;
a change made by another instance or the CLI takes effect there within those seconds. A
remembered session is never used past its idle or absolute deadline, nor past the moment its
``last_seen`` would be written (:data:`TOUCH_INTERVAL`), so caching changes no expiry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from api.db import BigId, Database, DatabaseError, metadata, open_database
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

# -- tables (created by api/db/migrations; names of the indexes as the first SQLite schema had) --
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("gemeenten", sa.Text, nullable=False, server_default="[]"),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("password_changed_at", sa.Float, nullable=False),
)
#: E-mail addresses are unique without regard to case.
sa.Index("uq_users_email_lower", sa.func.lower(users.c.email), unique=True)
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("address", sa.Text),
    sa.Index("sessions_user", "user_id"),
)
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("last_used", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Index("tokens_user", "user_id"),
)
login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),  # lower case
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Index("attempts_email", "email", "ts"),
    sa.Index("attempts_address", "address", "ts"),
)
login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Index("throttle_last", "last_at"),
)
audit_log = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("user_email", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
)

#: Sessions' ``last_seen`` is written at most this often (seconds), to keep reads cheap.
TOUCH_INTERVAL = 15.0
#: At most this many validated sessions are remembered per store (then the memory starts again).
SESSION_CACHE_MAX = 10_000


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
_RESERVE_SQL = sa.text(f"""
INSERT INTO login_throttle (key, failures, last_at, next_at)
VALUES (:key, 1, :now, :now + {_wait_sql("1")})
ON CONFLICT (key) DO UPDATE SET
    failures = {_FAILURES},
    last_at = :now,
    next_at = :now + {_wait_sql(_FAILURES)}
WHERE login_throttle.next_at <= :now
RETURNING failures
""")


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


def _user(row: Row[Any]) -> User:
    return User(
        id=int(row.id),
        email=row.email,
        role=row.role,
        gemeenten=tuple(json.loads(row.gemeenten)),
        disabled=bool(row.disabled),
    )


def _email_is(email: str) -> sa.ColumnElement[bool]:
    """The account with this e-mail address, whatever its case."""
    return sa.func.lower(users.c.email) == email.strip().lower()


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
    """Users, sessions, tokens, throttling and audit in a :class:`~api.db.Database`.

    Thread-safe (connections come from the engine's pool); every method is one short read or one
    write transaction.
    """

    def __init__(
        self,
        db: Database,
        *,
        secret: bytes,
        clock: Callable[[], float] = time.time,
        passwords: Passwords | None = None,
        session_cache_seconds: float = 0.0,
    ):
        self.db = db
        self.passwords = passwords or Passwords()
        self.secret = secret
        self.clock = clock
        self.session_cache_seconds = session_cache_seconds
        # id hash -> (monotonic time it may be used until, clock deadline, user); see module doc
        self._sessions: dict[str, tuple[float, float, User]] = {}
        self._sessions_lock = threading.Lock()
        self._sessions_generation = 0  # a look-up that raced a change does not remember its answer

    def forget_sessions(self) -> None:
        """Drop every remembered session (after any change to sessions or accounts)."""
        with self._sessions_lock:
            self._sessions.clear()
            self._sessions_generation += 1

    def close(self) -> None:
        self.db.close()

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
            with self.db.write() as con:
                con.execute(
                    users.insert().values(
                        email=email,
                        password_hash=self.passwords.hash(password),
                        role=role,
                        gemeenten=json.dumps(codes),
                        disabled=False,
                        created_at=now,
                        password_changed_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            raise UserStoreError(
                f"a user with e-mail '{email}' already exists (use reset-password or disable)"
            ) from None
        user = self.get_user(email)
        assert user is not None
        return user

    def get_user(self, email: str) -> User | None:
        with self.db.read() as con:
            row = con.execute(sa.select(users).where(_email_is(email))).first()
        return _user(row) if row else None

    def list_users(self) -> list[tuple[User, float | None]]:
        """Every account with the time of its last successful login (or ``None``)."""
        last = (
            sa.select(sa.func.max(login_attempts.c.ts))
            .where(
                login_attempts.c.email == sa.func.lower(users.c.email),
                login_attempts.c.success.is_(True),
            )
            .scalar_subquery()
        )
        with self.db.read() as con:
            rows = con.execute(
                sa.select(users, last.label("last_login")).order_by(sa.func.lower(users.c.email))
            ).all()
        return [(_user(r), r.last_login) for r in rows]

    def _require(self, email: str) -> User:
        user = self.get_user(email)
        if user is None:
            raise UserStoreError(f"no user with e-mail '{email}' (see `kansenkaart users list`)")
        return user

    def disable_user(self, email: str) -> User:
        """Disable an account and revoke its sessions and tokens at once."""
        user = self._require(email)
        with self.db.write() as con:
            con.execute(users.update().where(users.c.id == user.id).values(disabled=True))
            self._revoke_all(con, user.id)
        self.forget_sessions()
        return self._require(email)

    def set_password(self, email: str, password: str) -> User:
        """Set a new password (and re-enable nothing); revokes sessions and tokens."""
        user = self._require(email)
        problem = password_problem(password, user_inputs=(email,))
        if problem:
            raise UserStoreError(problem)
        with self.db.write() as con:
            con.execute(
                users.update()
                .where(users.c.id == user.id)
                .values(
                    password_hash=self.passwords.hash(password), password_changed_at=self.clock()
                )
            )
            self._revoke_all(con, user.id)
        self.forget_sessions()
        return user

    def upsert_user(self, email: str, password: str, *, role: str, gemeenten: list[str]) -> User:
        """Create or refresh an account (role, scope, password; enabled). Used by demo mode."""
        if self.get_user(email) is None:
            return self.add_user(email, password, role=role, gemeenten=gemeenten)
        codes = validate_account(role, gemeenten)
        self.set_password(email, password)
        with self.db.write() as con:
            con.execute(
                users.update()
                .where(_email_is(email))
                .values(role=role, gemeenten=json.dumps(codes), disabled=False)
            )
        self.forget_sessions()
        return self._require(email)

    def _revoke_all(self, con: Connection, user_id: int) -> None:
        con.execute(sessions.delete().where(sessions.c.user_id == user_id))
        con.execute(
            tokens.update()
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )

    def check_password(self, email: str, password: str) -> User | None:
        """The enabled user with these credentials, or ``None`` (same cost either way)."""
        with self.db.read() as con:
            row = con.execute(sa.select(users).where(_email_is(email))).first()
        ok = self.passwords.verify(row.password_hash if row else None, password)
        if not ok or row is None or row.disabled:
            return None
        return _user(row)

    # -- login attempts (throttling) ----------------------------------------------------------
    def reserve_login(self, email: str, address: str, throttle: Throttle) -> LoginReservation:
        """Count this attempt as a failure on every throttle key *before* the password is
        checked, or raise :class:`LoginThrottled` when one of the keys must still wait.

        One transaction; each key is one atomic upsert (``INSERT … ON CONFLICT DO UPDATE … WHERE
        next_at <= now RETURNING``), so concurrent attempts, also from other processes on the
        same database, cannot all pass a check made before any of them is counted. A refused
        attempt counts nowhere.
        """
        email = email.strip().lower()
        now = self.clock()
        with self.db.write() as con:
            con.execute(
                login_throttle.delete().where(login_throttle.c.last_at < now - throttle.forget)
            )
            usual = con.execute(
                sa.select(sa.literal(1))
                .where(
                    login_attempts.c.email == email,
                    login_attempts.c.address == address,
                    login_attempts.c.success.is_(True),
                    login_attempts.c.ts > now - throttle.known_address,
                )
                .limit(1)
            ).first()
            # From one of the account's usual addresses only its own pair counter applies:
            # others' failures at a shared (office) address never make the owner wait.
            keys = [(f"pair:{email}\n{address}", throttle.pair_free)]
            if usual is None:
                keys.append((f"address:{address}", throttle.address_free))
                keys.append((f"account:{email}", throttle.account_free))
            for key, free in keys:
                params = {
                    "key": key,
                    "now": float(now),
                    "free": int(free),
                    "delay": float(throttle.delay),
                    "max_delay": float(throttle.max_delay),
                    "forget": float(throttle.forget),
                }
                if con.execute(_RESERVE_SQL, params).first() is None:
                    next_at = con.execute(
                        sa.select(login_throttle.c.next_at).where(login_throttle.c.key == key)
                    ).scalar_one()
                    raise LoginThrottled(max(0.0, float(next_at) - now), key.split(":", 1)[0])
        return LoginReservation(email, address, tuple(k for k, _ in keys))

    def finish_login(self, reservation: LoginReservation, user: User | None) -> str | None:
        """Record the outcome of a reserved attempt; on success give the counted attempt back
        (the account-and-address counter starts again from zero) and start a session, whose raw
        id is returned."""
        with self.db.write() as con:
            con.execute(
                login_attempts.insert().values(
                    email=reservation.email,
                    address=reservation.address,
                    ts=self.clock(),
                    success=user is not None,
                )
            )
            if user is None:
                return None
            for key in reservation.keys:
                if key.startswith("pair:"):
                    con.execute(login_throttle.delete().where(login_throttle.c.key == key))
                else:
                    con.execute(
                        login_throttle.update()
                        .where(login_throttle.c.key == key, login_throttle.c.failures > 0)
                        .values(failures=login_throttle.c.failures - 1)
                    )
            return self._insert_session(con, user, reservation.address)

    # -- sessions -----------------------------------------------------------------------------
    def _insert_session(self, con: Connection, user: User, address: str) -> str:
        """Start a session; returns the raw session id (only its hash is stored)."""
        raw = new_secret_value()
        now = self.clock()
        con.execute(
            sessions.insert().values(
                id_hash=self._hash(raw),
                user_id=user.id,
                created_at=now,
                last_seen=now,
                address=address,
            )
        )
        return raw

    def _remembered(self, id_hash: str) -> User | None:
        if self.session_cache_seconds <= 0:
            return None
        hit = self._sessions.get(id_hash)
        if hit is not None and time.monotonic() < hit[0] and self.clock() <= hit[1]:
            return hit[2]
        return None

    def remembered_session_user(self, raw: str) -> User | None:
        """The user of a session this store validated within ``session_cache_seconds`` (and still
        before its deadlines), from memory only; ``None`` means: ask :meth:`session_user`. Never
        blocks, so the service calls it on the event loop and skips a hop to a database thread."""
        return self._remembered(self._hash(raw)) if self.session_cache_seconds > 0 else None

    def session_user(self, raw: str, *, idle: float, absolute: float) -> User | None:
        """The user of a live session, or ``None`` (unknown, expired or disabled user)."""
        id_hash = self._hash(raw)
        hit = self._remembered(id_hash)
        if hit is not None:
            return hit
        generation = self._sessions_generation
        with self.db.read() as con:
            row = con.execute(
                sa.select(
                    sessions.c.created_at.label("s_created"),
                    sessions.c.last_seen.label("s_seen"),
                    users,
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id_hash == id_hash)
            ).first()
        if row is None:
            return None
        now = self.clock()
        if row.disabled or now - row.s_seen > idle or now - row.s_created > absolute:
            with self.db.write() as con:
                con.execute(sessions.delete().where(sessions.c.id_hash == id_hash))
            return None
        seen = row.s_seen
        if now - row.s_seen > TOUCH_INTERVAL:
            with self.db.write() as con:
                con.execute(
                    sessions.update().where(sessions.c.id_hash == id_hash).values(last_seen=now)
                )
            seen = now
        user = _user(row)
        if self.session_cache_seconds > 0:
            # Never past the idle/absolute deadline nor the next touch of last_seen.
            deadline = min(seen + TOUCH_INTERVAL, seen + idle, row.s_created + absolute)
            with self._sessions_lock:
                if generation != self._sessions_generation:
                    return user  # a logout or account change ran meanwhile: answer, not remember
                if len(self._sessions) >= SESSION_CACHE_MAX:
                    self._sessions.clear()
                self._sessions[id_hash] = (
                    time.monotonic() + self.session_cache_seconds,
                    deadline,
                    user,
                )
        return user

    def delete_session(self, raw: str) -> None:
        with self.db.write() as con:
            con.execute(sessions.delete().where(sessions.c.id_hash == self._hash(raw)))
        self.forget_sessions()

    # -- API tokens ---------------------------------------------------------------------------
    def create_token(self, user: User, *, name: str, days: int) -> tuple[TokenInfo, str]:
        """Create a personal API token; returns its info and the raw token (shown once)."""
        raw = new_secret_value(TOKEN_PREFIX)
        token_id = new_secret_value()[:16]
        now = self.clock()
        info = TokenInfo(token_id, name, now, now + days * 86400.0, None)
        with self.db.write() as con:
            con.execute(
                tokens.insert().values(
                    id=token_id,
                    user_id=user.id,
                    name=name,
                    token_hash=self._hash(raw),
                    created_at=now,
                    expires_at=info.expires_at,
                )
            )
        return info, raw

    def list_tokens(self, user: User) -> list[TokenInfo]:
        with self.db.read() as con:
            rows = con.execute(
                sa.select(tokens)
                .where(
                    tokens.c.user_id == user.id,
                    tokens.c.revoked_at.is_(None),
                    tokens.c.expires_at > self.clock(),
                )
                .order_by(tokens.c.created_at)
            ).all()
        return [TokenInfo(r.id, r.name, r.created_at, r.expires_at, r.last_used) for r in rows]

    def revoke_token(self, user: User, token_id: str) -> bool:
        with self.db.write() as con:
            cur = con.execute(
                tokens.update()
                .where(
                    tokens.c.id == token_id,
                    tokens.c.user_id == user.id,
                    tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=self.clock())
            )
        return cur.rowcount > 0

    def token_user(self, raw: str, *, email: str | None = None) -> User | None:
        """The user of a live API token, or ``None``; with ``email``, only when the token belongs
        to that account (e-mail compared without case)."""
        if not raw.startswith(TOKEN_PREFIX):
            return None
        with self.db.read() as con:
            row = con.execute(
                sa.select(
                    tokens.c.id.label("t_id"),
                    tokens.c.expires_at,
                    tokens.c.revoked_at,
                    tokens.c.last_used,
                    users,
                )
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.token_hash == self._hash(raw))
            ).first()
        if row is None:
            return None
        now = self.clock()
        if row.revoked_at is not None or row.expires_at <= now or row.disabled:
            return None
        if email is not None and row.email.casefold() != email.strip().casefold():
            return None
        if row.last_used is None or now - row.last_used > TOUCH_INTERVAL:
            with self.db.write() as con:
                con.execute(tokens.update().where(tokens.c.id == row.t_id).values(last_used=now))
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
        with self.db.write() as con:
            con.execute(
                audit_log.insert().values(
                    ts=now,
                    at=at,
                    user_email=user_email,
                    address=address,
                    action=action,
                    outcome=outcome,
                    detail=json.dumps(detail, sort_keys=True),
                )
            )

    def audit_entries(self, *, limit: int = 1000) -> list[AuditEntry]:
        with self.db.read() as con:
            rows = con.execute(
                sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
            ).all()
        return [
            AuditEntry(
                r.ts, r.at, r.user_email, r.address, r.action, r.outcome, json.loads(r.detail)
            )
            for r in rows
        ]


def open_user_store(
    database: str,
    *,
    secret: bytes,
    clock: Callable[[], float] = time.time,
    passwords: Passwords | None = None,
    auto_upgrade: bool = True,
    pool_size: int = 5,
    session_cache_seconds: float = 0.0,
) -> UserStore:
    """Open the database named by ``KANSENKAART_DATABASE`` (a SQLite path or a PostgreSQL URL),
    migrated to the newest schema first with ``auto_upgrade``; :class:`UserStoreError` when it
    cannot be used (the message says why)."""
    try:
        db = open_database(database, auto_upgrade=auto_upgrade, pool_size=pool_size)
    except DatabaseError as exc:
        raise UserStoreError(str(exc)) from None
    return UserStore(
        db,
        secret=secret,
        clock=clock,
        passwords=passwords,
        session_cache_seconds=session_cache_seconds,
    )
