"""Site statuses with notes and their history, and the progress per municipality.

Kept in the service's database (``KANSENKAART_DATABASE``, beside users and the audit log: SQLite
or PostgreSQL through :mod:`api.db`), never in the scan result, so they survive every re-scan. The
tables are SQLAlchemy Core tables on :data:`api.db.metadata`, created by the Alembic migration
``0003_working_tool``.

Tables:

- ``site_status``: the current status of a site (``layer``, ``site_id``), its municipality and the
  parcel ids it had when last changed (``parcel_ids``, and one ``site_status_parcels`` row per
  parcel), so the status follows its parcels when a re-scan merges or splits sites
  (docs/contracts.md §C "Site ids").
- ``site_status_history``: every change (who, when, old and new status and note).
- ``gemeente_progress``: per municipality whether flexwonen is in its woonvisie and in its
  prestatieafspraken (with date and source), projects outside the scan, a comment;
  ``gemeente_progress_history``: every change (old and new as JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.engine import Connection, RowMapping

from api.db import BigId, Database, metadata
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

# -- tables (created by api/db/migrations/versions/0003_working_tool.py) -----------------------
site_status = sa.Table(
    "site_status",
    metadata,
    sa.Column("layer", sa.Text, primary_key=True),
    sa.Column("site_id", sa.Text, primary_key=True),
    sa.Column("gemeentecode", sa.Text, nullable=False),
    sa.Column("label", sa.Text),
    sa.Column("parcel_ids", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text),
    sa.Column("homes", sa.Integer),
    sa.Column("realised_on", sa.Text),
    sa.Column("capacity", sa.Integer),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Index("ix_site_status_gemeentecode", "gemeentecode"),
)
site_status_parcels = sa.Table(
    "site_status_parcels",
    metadata,
    sa.Column("layer", sa.Text, primary_key=True),
    sa.Column("parcel_id", sa.Text, primary_key=True),
    sa.Column("site_id", sa.Text, primary_key=True),
)
site_status_history = sa.Table(
    "site_status_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("layer", sa.Text, nullable=False),
    sa.Column("site_id", sa.Text, nullable=False),
    sa.Column("gemeentecode", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("user_email", sa.Text, nullable=False),
    sa.Column("old_status", sa.Text),
    sa.Column("new_status", sa.Text, nullable=False),
    sa.Column("old_note", sa.Text),
    sa.Column("new_note", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_site_status_history_layer_site_id", "layer", "site_id"),
)
gemeente_progress = sa.Table(
    "gemeente_progress",
    metadata,
    sa.Column("gemeentecode", sa.Text, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
)
gemeente_progress_history = sa.Table(
    "gemeente_progress_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("gemeentecode", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("user_email", sa.Text, nullable=False),
    sa.Column("old_data", sa.Text),
    sa.Column("new_data", sa.Text, nullable=False),
)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkStore:
    """Statuses, notes and progress in a :class:`~api.db.Database` (thread-safe: connections
    come from the engine's pool; every method is one short read or one write transaction)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def _serialise(self, con: Connection, key: str) -> None:
        """Changes of one row one at a time (PostgreSQL; SQLite's write transactions already
        take the database's write lock at BEGIN), so each history row's old value is the value
        the change replaced."""
        if self.db.is_postgres:
            con.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})

    # -- statuses ---------------------------------------------------------------------------
    def status(
        self, layer: str, site_id: str, *, parcel_ids: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The current status of a site: its own, else (a site re-formed by a re-scan) the most
        recent one recorded for any of its parcels."""
        t, p = site_status, site_status_parcels
        with self.db.read() as con:
            row = (
                con.execute(sa.select(t).where(t.c.layer == layer, t.c.site_id == site_id))
                .mappings()
                .first()
            )
            if row is None and parcel_ids:
                row = (
                    con.execute(
                        sa.select(t)
                        .join(p, sa.and_(p.c.layer == t.c.layer, p.c.site_id == t.c.site_id))
                        .where(p.c.layer == layer, p.c.parcel_id.in_(sorted(set(parcel_ids))))
                        .order_by(t.c.updated_at.desc(), t.c.site_id)
                        .limit(1)
                    )
                    .mappings()
                    .first()
                )
        return _status_row(row) if row is not None else None

    def history(self, layer: str, site_id: str) -> list[dict[str, Any]]:
        h = site_status_history
        with self.db.read() as con:
            rows = (
                con.execute(
                    sa.select(h)
                    .where(h.c.layer == layer, h.c.site_id == site_id)
                    .order_by(h.c.id.desc())
                )
                .mappings()
                .all()
            )
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
        t = site_status
        where = (t.c.layer == layer, t.c.site_id == site_id)
        values = {
            "layer": layer,
            "site_id": site_id,
            "gemeentecode": gemeentecode,
            "label": label,
            "parcel_ids": ",".join(parcel_ids),
            "status": status,
            "note": note,
            "reason": reason,
            "homes": homes,
            "realised_on": realised_on,
            "capacity": capacity,
            "updated_at": now,
            "updated_by": user_email,
        }
        with self.db.write() as con:
            self._serialise(con, f"site_status/{layer}/{site_id}")
            old_row = con.execute(sa.select(t).where(*where)).mappings().first()
            old = _status_row(old_row) if old_row is not None else None
            if old_row is None:
                con.execute(sa.insert(t).values(values))
            else:
                con.execute(sa.update(t).where(*where).values(values))
            p = site_status_parcels
            con.execute(sa.delete(p).where(p.c.layer == layer, p.c.site_id == site_id))
            pids = sorted(set(parcel_ids))
            if pids:
                con.execute(
                    sa.insert(p),
                    [{"layer": layer, "site_id": site_id, "parcel_id": pid} for pid in pids],
                )
            detail = {"reason": reason, "homes": homes, "realised_on": realised_on}
            con.execute(
                sa.insert(site_status_history).values(
                    layer=layer,
                    site_id=site_id,
                    gemeentecode=gemeentecode,
                    at=now,
                    user_email=user_email,
                    old_status=old["status"] if old else None,
                    new_status=status,
                    old_note=old["note"] if old else None,
                    new_note=note,
                    detail=json.dumps(detail),
                )
            )
            new_row = con.execute(sa.select(t).where(*where)).mappings().one()
        return old, _status_row(new_row)

    def statuses(self, *, scope: Scope) -> list[dict[str, Any]]:
        """Every current status in scope (for lists, progress and "niet meer in de scan")."""
        t = site_status
        query = sa.select(t).order_by(t.c.layer, t.c.site_id)
        if scope.gemeenten is not None:
            query = query.where(t.c.gemeentecode.in_(sorted(scope.gemeenten)))
        with self.db.read() as con:
            rows = con.execute(query).mappings().all()
        return [_status_row(r) for r in rows if scope.allows(r["gemeentecode"])]

    def current_labels(self, *, scope: Scope) -> dict[str, str]:
        """``{"layer/site_id": "in onderzoek", …}`` for the list's status column."""
        return {
            f"{s['layer']}/{s['site_id']}": STATUSES.get(s["status"], s["status"])
            for s in self.statuses(scope=scope)
        }

    # -- progress ---------------------------------------------------------------------------
    def progress(self) -> dict[str, dict[str, Any]]:
        with self.db.read() as con:
            rows = con.execute(sa.select(gemeente_progress)).mappings().all()
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
        g = gemeente_progress
        with self.db.write() as con:
            self._serialise(con, f"gemeente_progress/{code}")
            old = con.execute(sa.select(g.c.data).where(g.c.gemeentecode == code)).scalar()
            values = {"data": text, "updated_at": now, "updated_by": user_email}
            if old is None:
                con.execute(sa.insert(g).values(gemeentecode=code, **values))
            else:
                con.execute(sa.update(g).where(g.c.gemeentecode == code).values(values))
            con.execute(
                sa.insert(gemeente_progress_history).values(
                    gemeentecode=code, at=now, user_email=user_email, old_data=old, new_data=text
                )
            )
        return (json.loads(old) if old is not None else None), data


def _status_row(row: RowMapping) -> dict[str, Any]:
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
