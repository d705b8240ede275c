"""Command-line entry points of the service, called by :mod:`pipeline.cli`.

``kansenkaart serve`` / ``demo-serve`` and ``kansenkaart users add|list|disable|reset-password``.
Passwords come from standard input (``--password-stdin``) or an interactive prompt with
confirmation, never from the command line. User mistakes end with a clear message and exit
code 2, without a traceback.
"""

from __future__ import annotations

import copy
import getpass
import logging
import secrets
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from api.postgres import is_postgres_url, redact
from api.settings import Settings, StoreSettings
from api.store.users import UserStore, UserStoreError, open_user_store

DEMO_BELEIDSMAKER = "beleidsmaker@demo.kansenkaart.nl"
DEMO_ANALIST = "analist@demo.kansenkaart.nl"
DEMO_PROVINCIE = "provincie@demo.kansenkaart.nl"


def _fail(console: Console, message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(2)


def _settings_error(console: Console, exc: ValidationError) -> NoReturn:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        problems.append(f"  - {('KANSENKAART_' + where.upper() + ': ') if where else ''}{msg}")
    _fail(console, "the service settings are not valid:\n" + "\n".join(problems))


def _store(console: Console) -> UserStore:
    try:
        settings = StoreSettings()
    except ValidationError as exc:
        _settings_error(console, exc)
    # User management hashes no session or token values, so it needs no secret key.
    try:
        return open_user_store(settings.database, secret=b"cli", passwords=settings.passwords())
    except (UserStoreError, OSError) as exc:
        _fail(console, f"cannot open the user database: {exc}")


def _read_password(console: Console, *, password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            _fail(
                console,
                "no password on standard input (pipe one line, e.g. from a password manager)",
            )
        return password
    if not sys.stdin.isatty():
        _fail(
            console, "no terminal to prompt for the password: use --password-stdin and pipe it in"
        )
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        _fail(console, "the passwords do not match; nothing was changed")
    return first


def _result_codes(result: Path | str) -> list[str]:
    """Municipality codes in the result (empty when it is absent or unreadable)."""
    if isinstance(result, str) and is_postgres_url(result):
        from api.store.postgis import published_codes

        return published_codes(result)
    try:
        con = sqlite3.connect(f"file:{result}?mode=ro", uri=True)
        try:
            return sorted(
                str(r[0]) for r in con.execute("SELECT DISTINCT gemeentecode FROM gemeenten")
            )
        finally:
            con.close()
    except sqlite3.Error:
        return []


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


# -- users --------------------------------------------------------------------------------------
def users_add(
    email: str, *, role: str, gemeenten: list[str], password_stdin: bool, console: Console
) -> None:
    """Add a user; the password is read from stdin or prompted (twice)."""
    store = _store(console)
    try:
        from api.store.users import validate_account

        codes = validate_account(role, gemeenten)
    except UserStoreError as exc:
        _fail(console, str(exc))
    if store.get_user(email) is not None:
        _fail(
            console, f"a user with e-mail '{email}' already exists (use reset-password or disable)"
        )
    password = _read_password(console, password_stdin=password_stdin)
    try:
        user = store.add_user(email, password, role=role, gemeenten=codes)
    except UserStoreError as exc:
        _fail(console, str(exc))
    store.audit(
        "user_add",
        outcome="success",
        user_email=_actor(),
        address="cli",
        target=user.email,
        role=role,
        gemeenten=codes,
    )
    known = _result_codes(StoreSettings().result)
    unknown = [c for c in codes if known and c not in known]
    console.print(f"added [bold]{user.email}[/] ({role}{': ' + ', '.join(codes) if codes else ''})")
    if unknown:
        console.print(f"[yellow]warning:[/] {', '.join(unknown)} not in the current scan result")


def users_list(*, console: Console) -> None:
    """Print every account (never a password or token)."""
    store = _store(console)
    table = Table("e-mail", "role", "gemeenten", "status", "last login")
    for user, last in store.list_users():
        when = datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d %H:%M") if last else "-"
        scope = (
            "(alle)"
            if user.role in ("analist", "provincie")
            else (", ".join(user.gemeenten) or "-")
        )
        table.add_row(user.email, user.role, scope, "disabled" if user.disabled else "active", when)
    Console().print(table)


def users_disable(email: str, *, console: Console) -> None:
    """Disable an account; its sessions and tokens stop working at once."""
    store = _store(console)
    try:
        store.disable_user(email)
    except UserStoreError as exc:
        _fail(console, str(exc))
    store.audit("user_disable", outcome="success", user_email=_actor(), address="cli", target=email)
    console.print(f"disabled [bold]{email}[/]; sessions and tokens revoked")


def users_reset_password(email: str, *, password_stdin: bool, console: Console) -> None:
    """Set a new password; revokes the user's sessions and tokens."""
    store = _store(console)
    if store.get_user(email) is None:
        _fail(console, f"no user with e-mail '{email}' (see `kansenkaart users list`)")
    password = _read_password(console, password_stdin=password_stdin)
    try:
        store.set_password(email, password)
    except UserStoreError as exc:
        _fail(console, str(exc))
    store.audit(
        "user_reset_password", outcome="success", user_email=_actor(), address="cli", target=email
    )
    console.print(f"new password set for [bold]{email}[/]; sessions and tokens revoked")


# -- serving ------------------------------------------------------------------------------------
def _serve(settings: Settings, *, host: str, port: int, console: Console) -> None:
    import uvicorn

    from api.main import create_app

    try:
        app = create_app(settings)
    except (UserStoreError, OSError) as exc:
        _fail(console, str(exc))
    console.print(f"serving on [bold]http://{host}:{port}/[/] (Ctrl+C stops)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        log_config=log_config(),
        server_header=False,
        proxy_headers=False,  # api.middleware.TrustedProxies decides (KANSENKAART_TRUSTED_PROXIES)
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the service's own loggers (``kansenkaart.audit``: one line per
    audited event; ``kansenkaart.api``: errors) on standard error with UTC timestamps."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["kansenkaart"] = {
        "()": "api.cli.UtcFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    }
    config["handlers"]["kansenkaart"] = {
        "class": "logging.StreamHandler",
        "formatter": "kansenkaart",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["kansenkaart"] = {
        "handlers": ["kansenkaart"],
        "level": "INFO",
        "propagate": False,
    }
    return config


class UtcFormatter(logging.Formatter):
    """Log times in UTC, ISO 8601 (``2026-01-31T12:00:00Z``), like the audit table."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


def run_serve_command(*, host: str, port: int, console: Console) -> None:
    """``kansenkaart serve``: settings from ``KANSENKAART_*``; the secret key is required."""
    try:
        settings = Settings()
    except ValidationError as exc:
        _settings_error(console, exc)
    if not settings.result_is_postgres and not settings.result_path.exists():
        console.print(
            f"[yellow]warning:[/] no result at {settings.result} yet; data requests answer 503 until a scan writes it"
        )
    _serve(settings, host=host, port=port, console=console)


def _demo_match_config(result: Path) -> Path | None:
    """For a synthetic result: the match config with the scan's reference date (the sample
    registries are dated from it), written beside the result; ``None`` otherwise."""
    from pipeline.catalog.registers import read_result_sites
    from pipeline.errors import KansenkaartError
    from pipeline.match import DEFAULT_CONFIG_PATH

    try:
        _sites, ref, synthetic = read_result_sites(result)
    except KansenkaartError:
        return None
    if not synthetic:
        return None
    if ref is None:  # a result without its reference date: the horizon starts this month
        import datetime as dt

        ref = dt.date.today()
    path = result.parent / "kansenkaart-demo-match.yaml"
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8").replace(
        "reference_date: null", f"reference_date: {ref.isoformat()}"
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _demo_registers(result: Path, store: Any, *, console: Console) -> None:
    """Sample registries for the match (``kansenkaart registers sample``) into the demo database
    when it has none yet."""
    from api.security import Scope
    from api.store.registers import RegisterStore
    from pipeline.catalog.registers import read_result_sites
    from pipeline.sample.registries import sample_registers

    registers = RegisterStore(store.db)
    if registers.rows("aanbod", Scope(None)) or registers.rows("partijen", Scope(None)):
        return
    sites, ref, _ = read_result_sites(result)
    if len(sites) == 0:
        return
    if ref is None:
        import datetime as dt

        ref = dt.date.today()
    offers, batches = sample_registers(sites, reference_date=ref)
    rows = []
    for frame in (offers, batches):
        import shapely

        pts = shapely.point_on_surface(frame.geometry.to_numpy())
        plain = frame.drop(columns=frame.geometry.name).astype(object)
        plain["x"], plain["y"] = shapely.get_x(pts), shapely.get_y(pts)
        rows.append(
            [
                {str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in plain.to_dict(orient="records")
            ]
        )
    n_offers, n_batches = registers.replace_all(rows[0], rows[1], by="demo")
    console.print(f"match: {n_offers} sample sites on offer and {n_batches} batches loaded")


def prepare_demo(result: Path, *, console: Console) -> tuple[Settings, dict[str, str]]:
    """Development-mode settings and fresh demo accounts (e-mail → new random password)."""
    if not result.exists():
        _fail(console, f"no result at {result}: run `kansenkaart scan` first (or `make demo`)")
    codes = _result_codes(result)
    if not codes:
        _fail(
            console,
            f"{result} has no municipalities in layer 'gemeenten' (is it a kansenkaart result?)",
        )
    match_config = _demo_match_config(result)
    try:
        settings = Settings(
            dev=True,
            result=str(result),
            database=str(result.parent / "kansenkaart-demo-users.sqlite"),
            match_config=match_config,
        )
    except ValidationError as exc:
        _settings_error(console, exc)
    store = open_user_store(
        settings.database, secret=settings.secret, passwords=settings.passwords()
    )
    if match_config is not None:
        _demo_registers(result, store, console=console)
    accounts = {
        DEMO_BELEIDSMAKER: secrets.token_urlsafe(12),
        DEMO_ANALIST: secrets.token_urlsafe(12),
        DEMO_PROVINCIE: secrets.token_urlsafe(12),
    }
    store.upsert_user(
        DEMO_BELEIDSMAKER, accounts[DEMO_BELEIDSMAKER], role="beleidsmaker", gemeenten=[codes[0]]
    )
    store.upsert_user(DEMO_ANALIST, accounts[DEMO_ANALIST], role="analist", gemeenten=[])
    store.upsert_user(DEMO_PROVINCIE, accounts[DEMO_PROVINCIE], role="provincie", gemeenten=[])
    store.audit(
        "demo_accounts", outcome="success", user_email=_actor(), address="cli", gemeente=codes[0]
    )
    return settings, accounts


def run_demo_serve_command(*, result: Path, host: str, port: int, console: Console) -> None:
    """``kansenkaart demo-serve``: development mode with demo accounts, printed once."""
    settings, accounts = prepare_demo(result, console=console)
    codes = _result_codes(result)
    out = Console(soft_wrap=True, highlight=False)
    out.print("[bold]Demo accounts[/] (passwords are new on every start):")
    out.print(
        f"  beleidsmaker ({codes[0]}): {DEMO_BELEIDSMAKER}  password: {accounts[DEMO_BELEIDSMAKER]}"
    )
    out.print(f"  analist (alle gemeenten): {DEMO_ANALIST}  password: {accounts[DEMO_ANALIST]}")
    out.print(
        f"  provincie (alle gemeenten, voortgang): {DEMO_PROVINCIE}  password: {accounts[DEMO_PROVINCIE]}"
    )
    if not (settings.page_dir() / "index.html").is_file():
        console.print(
            f"[yellow]warning:[/] the web map is not built ({settings.static_dir}): run `make setup`"
        )
    _serve(settings, host=host, port=port, console=console)


# -- the match's registries --------------------------------------------------------------------
def run_registers_load_command(
    *,
    registers: Path | None,
    aanbod: Path | None,
    partijen: Path | None,
    console: Console,
) -> None:
    """``kansenkaart registers load``: replace the registries in ``KANSENKAART_DATABASE`` with
    the files (validated first; nothing changes when a row is wrong; one transaction)."""
    from api.db import DatabaseError, describe, open_database
    from api.store.registers import RegisterStore
    from pipeline.catalog.registers import read_registers
    from pipeline.match.registries import BATCH_COLUMNS, OFFER_COLUMNS, to_dutch

    if registers is None and (aanbod is None or partijen is None):
        _fail(console, "give --registers FOLDER, or both --aanbod FILE and --partijen FILE")
    regs, _meta = read_registers(aanbod=aanbod, partijen=partijen, folder=registers)
    try:
        settings = StoreSettings()
    except ValidationError as exc:
        _settings_error(console, exc)
    try:
        db = open_database(settings.database)
    except DatabaseError as exc:
        _fail(console, str(exc))

    def rows(frame: Any, columns: dict[str, str]) -> list[dict[str, Any]]:
        dutch = to_dutch(frame, columns).astype(object)
        return [
            {str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in dutch.where(dutch.notna(), None).to_dict(orient="records")
        ]

    try:
        n_offers, n_batches = RegisterStore(db).replace_all(
            rows(regs.offers, OFFER_COLUMNS), rows(regs.batches, BATCH_COLUMNS), by=_actor()
        )
    finally:
        db.close()
    console.print(
        f"{n_offers} aangeboden locaties and {n_batches} partijen in {describe(settings.database)}"
    )


# -- publishing ---------------------------------------------------------------------------------
def run_publish_command(result: Path, *, to: str, console: Console) -> None:
    """``kansenkaart publish RESULT.gpkg --to postgresql://…``."""
    from api.publish import PublishError, publish_result

    if not is_postgres_url(to):
        _fail(
            console, f"--to must be a PostgreSQL URL (postgresql://user@host:5432/db), not '{to}'"
        )
    console.print(f"publishing {result} to {redact(to)} …")
    try:
        info = publish_result(result, to, progress=console.print)
    except PublishError as exc:
        _fail(console, str(exc))
    total = sum(v for k, v in info.counts.items() if k not in ("run_metadata", "layer_styles"))
    console.print(
        f"published run {info.run_id} as version {info.version} (schema {info.schema}): "
        f"{total:,} features in {info.seconds:.1f} s; services pick it up within seconds"
    )
    if info.dropped:
        console.print(f"dropped older results: {', '.join(info.dropped)}")


# -- the service database -----------------------------------------------------------------------
def run_db_upgrade_command(*, console: Console) -> None:
    """``kansenkaart db upgrade``: migrate ``KANSENKAART_DATABASE`` to the newest schema."""
    from api.db import Database, DatabaseError, describe, head_revision

    try:
        settings = StoreSettings()
    except ValidationError as exc:
        _settings_error(console, exc)
    try:
        before, after = Database(settings.database).upgrade()
    except (DatabaseError, OSError) as exc:
        _fail(console, str(exc))
    except Exception as exc:  # a driver error: say which database and why, never a traceback
        reason = str(getattr(exc, "orig", exc)).strip()
        _fail(console, f"cannot migrate the database {describe(settings.database)}: {reason}")
    where = describe(settings.database)
    if before == after:
        console.print(f"{where} is at the newest schema ({after}); nothing to do")
    else:
        console.print(
            f"{where} migrated from {before or '(empty)'} to {after} (head {head_revision()})"
        )


def run_db_revision_command(message: str, *, console: Console) -> None:
    """``kansenkaart db revision MESSAGE``: a new migration from the table definitions (for
    developers; compares a scratch SQLite database at the current head with the code)."""
    import re
    import tempfile

    from alembic import command

    from api.db import Database, alembic_config, head_revision

    head = head_revision() or "0000"
    rev_id = f"{int(head) + 1:04d}" if head.isdigit() else None
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_") or "migration"
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(str(Path(tmp) / "scratch.sqlite"))
        db.upgrade()
        with db.engine.begin() as con:
            cfg = alembic_config()
            cfg.attributes["connection"] = con
            cfg.set_main_option("file_template", "%%(rev)s_" + slug)
            script = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
        db.close()
    path = getattr(script, "path", None)
    console.print(f"wrote {path}: check it, then commit it")
