"""The match's registries in the service database: sites on offer and batches of relocatable homes.

Tables ``match_aanbod`` and ``match_partijen`` (on :data:`api.db.metadata`, created by migration
``0002_match_registers``) hold the Dutch columns of docs/contracts.md §G.1, the location as RD
New ``x``/``y`` (the representative point; a site entered by hand may keep its outline as GeoJSON
in ``geometrie``), and who changed the row last and when. Scope is enforced in the queries: a
caller limited to some municipalities reads, changes and deletes only rows whose
``gemeentecode`` is one of them; a row elsewhere is invisible, as if it did not exist.
Validation is the planner's own (:func:`pipeline.match.offers_frame` /
:func:`pipeline.match.batches_frame`), so the service accepts exactly what ``kansenkaart match``
accepts.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from api.db import Database, metadata
from api.security import Scope

aanbod = sa.Table(
    "match_aanbod",
    metadata,
    sa.Column("aanbod_id", sa.Text, primary_key=True),
    sa.Column("site_id", sa.Text),
    sa.Column("gemeentecode", sa.Text, nullable=False),
    sa.Column("naam", sa.Text, nullable=False, server_default=""),
    sa.Column("beschikbaar_van", sa.Text, nullable=False),
    sa.Column("beschikbaar_tot", sa.Text, nullable=False),
    sa.Column("capaciteit", sa.Integer, nullable=False),
    sa.Column("doelgroepen", sa.Text, nullable=False, server_default=""),
    sa.Column("aangeboden_door", sa.Text, nullable=False, server_default=""),
    sa.Column("x", sa.Float, nullable=False),
    sa.Column("y", sa.Float, nullable=False),
    sa.Column("geometrie", sa.Text),
    sa.Column("gewijzigd_op", sa.Float, nullable=False),
    sa.Column("gewijzigd_door", sa.Text),
    sa.Index("ix_match_aanbod_gemeentecode", "gemeentecode"),
)
partijen = sa.Table(
    "match_partijen",
    metadata,
    sa.Column("partij_id", sa.Text, primary_key=True),
    sa.Column("eigenaar", sa.Text, nullable=False, server_default=""),
    sa.Column("aantal", sa.Integer, nullable=False),
    sa.Column("woningtype", sa.Text, nullable=False, server_default=""),
    sa.Column("doelgroep", sa.Text, nullable=False, server_default=""),
    sa.Column("gemeentecode", sa.Text, nullable=False),
    sa.Column("locatie", sa.Text, nullable=False, server_default=""),
    sa.Column("vrij_vanaf", sa.Text, nullable=False),
    sa.Column("restlevensduur_jaren", sa.Float, nullable=False),
    sa.Column("verhuiskosten_per_woning", sa.Float, nullable=False),
    sa.Column("x", sa.Float, nullable=False),
    sa.Column("y", sa.Float, nullable=False),
    sa.Column("gewijzigd_op", sa.Float, nullable=False),
    sa.Column("gewijzigd_door", sa.Text),
    sa.Index("ix_match_partijen_gemeentecode", "gemeentecode"),
)

#: Registry name (api path, audit action suffix) → (table, id column, Dutch data columns).
REGISTERS: dict[str, tuple[sa.Table, str, tuple[str, ...]]] = {
    "aanbod": (
        aanbod,
        "aanbod_id",
        (
            "aanbod_id",
            "site_id",
            "gemeentecode",
            "naam",
            "beschikbaar_van",
            "beschikbaar_tot",
            "capaciteit",
            "doelgroepen",
            "aangeboden_door",
            "x",
            "y",
            "geometrie",
        ),
    ),
    "partijen": (
        partijen,
        "partij_id",
        (
            "partij_id",
            "eigenaar",
            "aantal",
            "woningtype",
            "doelgroep",
            "gemeentecode",
            "locatie",
            "vrij_vanaf",
            "restlevensduur_jaren",
            "verhuiskosten_per_woning",
            "x",
            "y",
        ),
    ),
}


def _in_scope(table: sa.Table, scope: Scope) -> sa.ColumnElement[bool]:
    if scope.gemeenten is None:
        return sa.true()
    return table.c.gemeentecode.in_(sorted(scope.gemeenten))


class RegisterStore:
    """Read and change the two registries, within a caller's scope (one transaction each)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def rows(self, register: str, scope: Scope) -> list[dict[str, Any]]:
        """The rows of ``register`` (``aanbod`` or ``partijen``) in scope, ordered by id, with
        ``gewijzigd_op``/``gewijzigd_door``."""
        table, key, _ = REGISTERS[register]
        with self.db.read() as con:
            result = con.execute(
                sa.select(table).where(_in_scope(table, scope)).order_by(table.c[key])
            )
            return [dict(r._mapping) for r in result]

    def get(self, register: str, row_id: str, scope: Scope) -> dict[str, Any] | None:
        """One row, or ``None`` when it does not exist or lies outside ``scope``."""
        table, key, _ = REGISTERS[register]
        with self.db.read() as con:
            row = con.execute(
                sa.select(table).where(table.c[key] == row_id, _in_scope(table, scope))
            ).first()
        return None if row is None else dict(row._mapping)

    def put(
        self, register: str, row: Mapping[str, Any], scope: Scope, *, by: str | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
        """Create or replace one row (already validated); returns ``(old, new)`` (``old`` is
        ``None`` for a new row), or ``None`` when a row with that id exists outside ``scope``
        (which the caller must not learn: answer as if the id were free for nobody)."""
        table, key, columns = REGISTERS[register]
        values = {c: row.get(c) for c in columns}
        values["gewijzigd_op"] = self.clock()
        values["gewijzigd_door"] = by
        with self.db.write() as con:
            old = con.execute(sa.select(table).where(table.c[key] == values[key])).first()
            if old is not None:
                old_row = dict(old._mapping)
                if scope.gemeenten is not None and old_row["gemeentecode"] not in scope.gemeenten:
                    return None
                con.execute(table.update().where(table.c[key] == values[key]).values(**values))
                return old_row, values
            con.execute(table.insert().values(**values))
            return None, values

    def delete(self, register: str, row_id: str, scope: Scope) -> dict[str, Any] | None:
        """Delete one row in scope; returns it, or ``None`` when there was none in scope."""
        table, key, _ = REGISTERS[register]
        with self.db.write() as con:
            old = con.execute(
                sa.select(table).where(table.c[key] == row_id, _in_scope(table, scope))
            ).first()
            if old is None:
                return None
            con.execute(table.delete().where(table.c[key] == row_id))
        return dict(old._mapping)

    def replace_all(
        self,
        offers: Iterable[Mapping[str, Any]],
        batches: Iterable[Mapping[str, Any]],
        *,
        by: str | None,
    ) -> tuple[int, int]:
        """Replace both registries at once (``kansenkaart registers load``): one transaction."""
        now = self.clock()
        counts = []
        with self.db.write() as con:
            for register, rows in (("aanbod", offers), ("partijen", batches)):
                table, _, columns = REGISTERS[register]
                con.execute(table.delete())
                values = [
                    {**{c: r.get(c) for c in columns}, "gewijzigd_op": now, "gewijzigd_door": by}
                    for r in rows
                ]
                if values:
                    con.execute(table.insert(), values)
                counts.append(len(values))
        return counts[0], counts[1]

    def snapshot(self) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        """Every row of both registries (the whole region: a plan is regional) and a digest of
        their content, read one after the other (the plan cache's key)."""
        with self.db.read() as con:
            offers = [
                dict(r._mapping)
                for r in con.execute(sa.select(aanbod).order_by(aanbod.c.aanbod_id))
            ]
            batches = [
                dict(r._mapping)
                for r in con.execute(sa.select(partijen).order_by(partijen.c.partij_id))
            ]
        strip = ("gewijzigd_op", "gewijzigd_door")
        digest = hashlib.sha256(
            json.dumps(
                [
                    [{k: v for k, v in r.items() if k not in strip} for r in offers],
                    [{k: v for k, v in r.items() if k not in strip} for r in batches],
                ],
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()
        return digest, offers, batches
