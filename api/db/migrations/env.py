"""Alembic's environment for the service database (``kansenkaart db upgrade``).

The connection comes from :meth:`api.db.Database.upgrade` (``config.attributes["connection"]``);
the target metadata is every table of :data:`api.db.STORE_MODULES`, so
``alembic revision --autogenerate`` (see api/README.md) starts a new migration from the tables'
definitions.
"""

from __future__ import annotations

from alembic import context

from api.db import register_tables

target_metadata = register_tables()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # the alembic command line: KANSENKAART_DATABASE names the database
        from api.db import Database
        from api.settings import StoreSettings

        db = Database(StoreSettings().database)
        with db.engine.begin() as con:
            context.configure(connection=con, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


if context.is_offline_mode():
    raise SystemExit(
        "offline (SQL script) migrations are not supported; use kansenkaart db upgrade"
    )
run_migrations_online()
