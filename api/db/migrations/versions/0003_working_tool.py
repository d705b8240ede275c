"""The working tool (issue 12): site statuses with notes and history, progress per municipality.

Before this migration an unreleased version of the working tool created the same tables itself
(``CREATE TABLE IF NOT EXISTS``); such a database is adopted as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "site_status",
        sa.Column("layer", sa.Text, nullable=False),
        sa.Column("site_id", sa.Text, nullable=False),
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
        sa.PrimaryKeyConstraint("layer", "site_id", name="pk_site_status"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_site_status_gemeentecode", "site_status", ["gemeentecode"], if_not_exists=True
    )
    op.create_table(
        "site_status_parcels",
        sa.Column("layer", sa.Text, nullable=False),
        sa.Column("parcel_id", sa.Text, nullable=False),
        sa.Column("site_id", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("layer", "parcel_id", "site_id", name="pk_site_status_parcels"),
        if_not_exists=True,
    )
    op.create_table(
        "site_status_history",
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
        sa.PrimaryKeyConstraint("id", name="pk_site_status_history"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_site_status_history_layer_site_id",
        "site_status_history",
        ["layer", "site_id"],
        if_not_exists=True,
    )
    op.create_table(
        "gemeente_progress",
        sa.Column("gemeentecode", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("gemeentecode", name="pk_gemeente_progress"),
        if_not_exists=True,
    )
    op.create_table(
        "gemeente_progress_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("gemeentecode", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("user_email", sa.Text, nullable=False),
        sa.Column("old_data", sa.Text),
        sa.Column("new_data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gemeente_progress_history"),
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in (
        "gemeente_progress_history",
        "gemeente_progress",
        "site_status_history",
        "site_status_parcels",
        "site_status",
    ):
        op.drop_table(table)
