"""The regional match's registries: sites on offer (``match_aanbod``) and batches of relocatable
homes (``match_partijen``), docs/contracts.md §G.1 and §D "Registries".

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_aanbod",
        sa.Column("aanbod_id", sa.Text, nullable=False),
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
        sa.PrimaryKeyConstraint("aanbod_id", name="pk_match_aanbod"),
    )
    op.create_index("ix_match_aanbod_gemeentecode", "match_aanbod", ["gemeentecode"])
    op.create_table(
        "match_partijen",
        sa.Column("partij_id", sa.Text, nullable=False),
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
        sa.PrimaryKeyConstraint("partij_id", name="pk_match_partijen"),
    )
    op.create_index("ix_match_partijen_gemeentecode", "match_partijen", ["gemeentecode"])


def downgrade() -> None:
    op.drop_index("ix_match_partijen_gemeentecode", table_name="match_partijen")
    op.drop_table("match_partijen")
    op.drop_index("ix_match_aanbod_gemeentecode", table_name="match_aanbod")
    op.drop_table("match_aanbod")
