"""Site statuses with notes and their history, and the progress per municipality.

Kept in the service's database (``KANSENKAART_DATABASE``, beside users and the audit log), never
in the scan result, so they survive every re-scan. One module, plain SQL that runs unchanged on
SQLite and PostgreSQL (``CREATE TABLE IF NOT EXISTS``, ``?`` parameters through one helper), so it
moves onto the project's database layer (SQLAlchemy Core + Alembic) as one migration.

Tables:

- ``site_status``: the current status of a site (``layer``, ``site_id``), its municipality and the
  parcel ids it had when last changed (``tijdelijke_locaties``), so the status follows its parcels
  when a re-scan merges or splits sites (docs/contracts.md §C "Site ids").
- ``site_status_history``: every change (who, when, old and new status and note).
- ``gemeente_progress``: per municipality whether flexwonen is in its woonvisie and in its
  prestatieafspraken (with date and source), projects outside the scan, a comment;
  ``gemeente_progress_history``: every change (old and new as JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request

from api.security import Scope

STATUSES = {
    "nieuw": "nieuw",
    "in_onderzoek": "in onderzoek",
    "in_gesprek": "in gesprek met eigenaar",
    "afgevallen": "afgevallen",
    "in_procedure": "in procedure",
    "gerealiseerd": "gerealiseerd",
}
MAX_NOTE = 4000

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS site_status (
        layer TEXT NOT NULL,
        site_id TEXT NOT NULL,
        gemeentecode TEXT NOT NULL,
        label TEXT,
        parcel_ids TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        reason TEXT,
        homes INTEGER,
        realised_on TEXT,
        capacity INTEGER,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (layer, site_id)
    )""",
    "CREATE INDEX IF NOT EXISTS site_status_gemeente ON site_status (gemeentecode)",
    """CREATE TABLE IF NOT EXISTS site_status_parcels (
        layer TEXT NOT NULL,
        site_id TEXT NOT NULL,
        parcel_id TEXT NOT NULL,
        PRIMARY KEY (layer, parcel_id, site_id)
    )""",
    """CREATE TABLE IF NOT EXISTS site_status_history (
        id INTEGER PRIMARY KEY,
        layer TEXT NOT NULL,
        site_id TEXT NOT NULL,
        gemeentecode TEXT NOT NULL,
        at TEXT NOT NULL,
        user_email TEXT NOT NULL,
        old_status TEXT,
        new_status TEXT NOT NULL,
        old_note TEXT,
        new_note TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS site_status_history_site ON site_status_history (layer, site_id)",
    """CREATE TABLE IF NOT EXISTS gemeente_progress (
        gemeentecode TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS gemeente_progress_history (
        id INTEGER PRIMARY KEY,
        gemeentecode TEXT NOT NULL,
        at TEXT NOT NULL,
        user_email TEXT NOT NULL,
        old_data TEXT,
        new_data TEXT NOT NULL
    )""",
)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkStore:
    """Statuses, notes and progress in one SQLite file (thread-safe: a connection per call)."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._init_lock = threading.Lock()
        with self._connect() as con:
            for statement in SCHEMA:
                con.execute(statement)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    # -- statuses ---------------------------------------------------------------------------
    def status(
        self, layer: str, site_id: str, *, parcel_ids: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The current status of a site: its own, else (a site re-formed by a re-scan) the most
        recent one recorded for any of its parcels."""
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM site_status WHERE layer = ? AND site_id = ?", (layer, site_id)
            ).fetchone()
            if row is None and parcel_ids:
                marks = ",".join("?" * len(parcel_ids))
                row = con.execute(
                    "SELECT s.* FROM site_status s JOIN site_status_parcels p "
                    "ON p.layer = s.layer AND p.site_id = s.site_id "
                    f"WHERE p.layer = ? AND p.parcel_id IN ({marks}) "
                    "ORDER BY s.updated_at DESC, s.site_id LIMIT 1",
                    (layer, *parcel_ids),
                ).fetchone()
        return _status_row(row) if row is not None else None

    def history(self, layer: str, site_id: str) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT at, user_email, old_status, new_status, old_note, new_note, detail "
                "FROM site_status_history WHERE layer = ? AND site_id = ? ORDER BY id DESC",
                (layer, site_id),
            ).fetchall()
        return [
            {
                "at": r["at"],
                "user": r["user_email"],
                "old_status": r["old_status"],
                "status": r["new_status"],
                "old_note": r["old_note"],
                "note": r["new_note"],
                **json.loads(r["detail"] or "{}"),
            }
            for r in rows
        ]

    def set_status(
        self,
        layer: str,
        site_id: str,
        *,
        gemeentecode: str,
        label: str | None,
        parcel_ids: tuple[str, ...],
        capacity: int | None,
        status: str,
        note: str,
        reason: str | None,
        homes: int | None,
        realised_on: str | None,
        user_email: str,
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Set the status; returns (old, new). One history row per change."""
        now = _iso(self.clock())
        with self._connect() as con:
            old_row = con.execute(
                "SELECT * FROM site_status WHERE layer = ? AND site_id = ?", (layer, site_id)
            ).fetchone()
            old = _status_row(old_row) if old_row is not None else None
            con.execute("DELETE FROM site_status WHERE layer = ? AND site_id = ?", (layer, site_id))
            con.execute(
                "INSERT INTO site_status (layer, site_id, gemeentecode, label, parcel_ids, status, "
                "note, reason, homes, realised_on, capacity, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    layer,
                    site_id,
                    gemeentecode,
                    label,
                    ",".join(parcel_ids),
                    status,
                    note,
                    reason,
                    homes,
                    realised_on,
                    capacity,
                    now,
                    user_email,
                ),
            )
            con.execute(
                "DELETE FROM site_status_parcels WHERE layer = ? AND site_id = ?", (layer, site_id)
            )
            for pid in sorted(set(parcel_ids)):
                con.execute(
                    "INSERT INTO site_status_parcels (layer, site_id, parcel_id) VALUES (?, ?, ?)",
                    (layer, site_id, pid),
                )
            detail = {"reason": reason, "homes": homes, "realised_on": realised_on}
            con.execute(
                "INSERT INTO site_status_history (layer, site_id, gemeentecode, at, user_email, "
                "old_status, new_status, old_note, new_note, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    layer,
                    site_id,
                    gemeentecode,
                    now,
                    user_email,
                    old["status"] if old else None,
                    status,
                    old["note"] if old else None,
                    note,
                    json.dumps(detail),
                ),
            )
            new_row = con.execute(
                "SELECT * FROM site_status WHERE layer = ? AND site_id = ?", (layer, site_id)
            ).fetchone()
        return old, _status_row(new_row)

    def statuses(self, *, scope: Scope) -> list[dict[str, Any]]:
        """Every current status in scope (for lists, progress and "niet meer in de scan")."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM site_status ORDER BY layer, site_id").fetchall()
        return [_status_row(r) for r in rows if scope.allows(r["gemeentecode"])]

    def current_labels(self, *, scope: Scope) -> dict[str, str]:
        """``{"layer/site_id": "in onderzoek", …}`` for the list's status column."""
        return {
            f"{s['layer']}/{s['site_id']}": STATUSES.get(s["status"], s["status"])
            for s in self.statuses(scope=scope)
        }

    # -- progress ---------------------------------------------------------------------------
    def progress(self) -> dict[str, dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM gemeente_progress").fetchall()
        return {
            r["gemeentecode"]: {
                **json.loads(r["data"]),
                "updated_at": r["updated_at"],
                "updated_by": r["updated_by"],
            }
            for r in rows
        }

    def set_progress(
        self, code: str, data: dict[str, Any], *, user_email: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        now = _iso(self.clock())
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        with self._connect() as con:
            old = con.execute(
                "SELECT data FROM gemeente_progress WHERE gemeentecode = ?", (code,)
            ).fetchone()
            con.execute("DELETE FROM gemeente_progress WHERE gemeentecode = ?", (code,))
            con.execute(
                "INSERT INTO gemeente_progress (gemeentecode, data, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?)",
                (code, text, now, user_email),
            )
            con.execute(
                "INSERT INTO gemeente_progress_history (gemeentecode, at, user_email, old_data, "
                "new_data) VALUES (?, ?, ?, ?, ?)",
                (code, now, user_email, old[0] if old else None, text),
            )
        return (json.loads(old[0]) if old else None), data


def _status_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "layer": row["layer"],
        "site_id": row["site_id"],
        "gemeentecode": row["gemeentecode"],
        "label": row["label"],
        "parcel_ids": [p for p in (row["parcel_ids"] or "").split(",") if p],
        "status": row["status"],
        "status_text": STATUSES.get(row["status"], row["status"]),
        "note": row["note"],
        "reason": row["reason"],
        "homes": row["homes"],
        "realised_on": row["realised_on"],
        "capacity": row["capacity"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
    }


def status_store(request: Request) -> WorkStore:
    """The app's :class:`WorkStore` (created in :func:`api.main.create_app`)."""
    return request.app.state.work  # type: ignore[no-any-return]
