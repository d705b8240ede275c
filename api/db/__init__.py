"""The service's own database: users, sessions, API tokens, login throttling, audit (and later
site statuses, notes, progress and registries) on SQLite or PostgreSQL.

``KANSENKAART_DATABASE`` is a SQLite file path (the default, for the demo and one instance) or a
``postgresql://…`` URL (several instances share it). The tables are SQLAlchemy Core
:class:`~sqlalchemy.Table` objects on :data:`metadata`, each defined in the store module that
uses it (:data:`STORE_MODULES`); their schema is created and changed only by the Alembic
migrations in ``api/db/migrations/versions/`` (``kansenkaart db upgrade``, or at start-up with
``KANSENKAART_DB_AUTO_UPGRADE``). How to add a table: ``api/README.md``.

:class:`Database` gives short transactions: :meth:`Database.write` (one atomic unit; on SQLite
``BEGIN IMMEDIATE``, so the write lock is taken at once and concurrent writers queue instead of
failing half-way) and :meth:`Database.read` (autocommit: no lock held between statements).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from api.postgres import is_postgres_url, redact, sqlalchemy_url

log = logging.getLogger("kansenkaart.db")

#: Names of constraints and indexes, the same on both databases (Alembic compares them).
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
#: Modules that define tables on :data:`metadata` (imported by the migrations' environment).

STORE_MODULES = ("api.store.users", "api.store.registers", "api.status")
MIGRATIONS = Path(__file__).parent / "migrations"
#: An auto-increment primary key on both databases (SQLite's rowid alias needs plain INTEGER).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ADVISORY_LOCK = 815_002  # pg_advisory_lock key that serialises migrations


class DatabaseError(RuntimeError):
    """The database cannot be used as configured (the message says why and how to fix it)."""


def database_url(database: str) -> str:
    """``KANSENKAART_DATABASE`` as a SQLAlchemy URL."""
    if is_postgres_url(database):
        return sqlalchemy_url(database)
    if database.startswith("sqlite:///"):
        database = database[len("sqlite:///") :]
    return f"sqlite:///{Path(database)}"


def describe(database: str) -> str:
    """The database for messages (a URL without its password)."""
    return redact(database) if is_postgres_url(database) else str(database)


class Database:
    """One engine for the service's database, with short read and write transactions."""

    def __init__(self, database: str, *, pool_size: int = 5) -> None:
        self.name = describe(database)
        self.is_postgres = is_postgres_url(database)
        url = database_url(database)
        if self.is_postgres:
            self.engine = sa.create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_recycle=1800,
                connect_args={"connect_timeout": 10},
            )
        else:
            path = Path(url[len("sqlite:///") :])
            path.parent.mkdir(parents=True, exist_ok=True)
            self.sqlite_path: Path = path
            self.engine = sa.create_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            _sqlite_transactions(self.engine)
        _no_nul_in_text(self.engine)
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        with self.engine.begin() as con:
            yield con

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for reads that need no transaction."""
        with self._reader.connect() as con:
            yield con

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------------
    def revision(self) -> str | None:
        """The Alembic revision the database is at (``None`` for an empty database)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as con:
            return MigrationContext.configure(con).get_current_revision()

    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Migrate to ``revision`` (serialised between processes); returns (before, after)."""
        from alembic import command

        with self._migration_lock():
            before = self.revision()
            with self.engine.begin() as con:
                cfg = alembic_config()
                cfg.attributes["connection"] = con
                command.upgrade(cfg, revision)
            after = self.revision()
        if before != after:
            log.info("database %s migrated from %s to %s", self.name, before, after)
        return before, after

    def check_current(self) -> None:
        """Raise :class:`DatabaseError` unless the schema is at the newest migration."""
        have, want = self.revision(), head_revision()
        if have != want:
            raise DatabaseError(
                f"the database {self.name} is at schema revision {have or '(empty)'}, this "
                f"version needs {want}: run `kansenkaart db upgrade` (or set "
                "KANSENKAART_DB_AUTO_UPGRADE=1)"
            )

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """One migration at a time, also between processes that start together."""
        if self.is_postgres:
            with self.engine.connect() as con:
                con.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK})
                con.commit()
                try:
                    yield
                finally:
                    con.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK})
                    con.commit()
        else:
            lock = self.sqlite_path.with_name(self.sqlite_path.name + ".migrate.lock")
            with open(lock, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)


def _sqlite_transactions(engine: Engine) -> None:
    """SQLite: WAL, foreign keys, and ``BEGIN IMMEDIATE`` for write transactions.

    pysqlite's own transaction handling is switched off (it begins lazily, at the first write, and
    a transaction that read first can then fail with "database is locked" when another process
    wrote meanwhile); SQLAlchemy's ``begin`` emits ``BEGIN IMMEDIATE`` instead, except on the
    autocommit connections of :meth:`Database.read`.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.isolation_level = None
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(con: Connection) -> None:
        if con.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            con.exec_driver_sql("BEGIN IMMEDIATE")


#: What a NUL character in a text parameter becomes (U+FFFD, the replacement character).
NUL_REPLACEMENT = "\ufffd"


def _clean(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", NUL_REPLACEMENT)
    return value


def _clean_set(params: Any) -> Any:
    if isinstance(params, dict):
        return {k: _clean(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return type(params)(_clean(v) for v in params)
    return params


def _no_nul_in_text(engine: Engine) -> None:
    """A NUL character in a text parameter becomes U+FFFD, on both databases.

    PostgreSQL cannot hold NUL in text and refuses the whole statement (a request with ``%00`` in
    an e-mail address, a token name or a note would end in a server error); SQLite would store it.
    Replacing it before every statement gives the same answer on both: a look-up of
    ``"a\x00b"`` finds nothing (no stored value holds NUL), a stored text keeps its length.
    """

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _replace(
        _con: Connection, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
    ) -> tuple[str, Any]:
        if many and isinstance(params, (list, tuple)):
            return statement, type(params)(_clean_set(p) for p in params)
        return statement, _clean_set(params)


def register_tables() -> sa.MetaData:
    """Import every module of :data:`STORE_MODULES` so their tables are on :data:`metadata`."""
    for name in STORE_MODULES:
        importlib.import_module(name)
    return metadata


def alembic_config() -> Any:
    """The Alembic configuration (no ini file: the scripts live in ``api/db/migrations``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def open_database(database: str, *, auto_upgrade: bool = True, pool_size: int = 5) -> Database:
    """Open ``KANSENKAART_DATABASE``; migrate it first with ``auto_upgrade``, else insist it is
    current. Raises :class:`DatabaseError` with the reason and the fix."""
    try:
        db = Database(database, pool_size=pool_size)
        if auto_upgrade:
            db.upgrade()
        else:
            db.check_current()
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot open the database {describe(database)}: {str(exc.orig).strip()}"
        ) from None
    return db
