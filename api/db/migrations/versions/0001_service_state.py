"""The service state: users, sessions, API tokens, login attempts and throttle, audit.

The same tables the service created itself before it used migrations, so a database made by an
earlier version is adopted as it is (tables and indexes that exist are left alone).

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("gemeenten", sa.Text, nullable=False, server_default="[]"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("password_changed_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        if_not_exists=True,
    )
    op.create_index(
        "uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True, if_not_exists=True
    )
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.Text, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("address", sa.Text),
        sa.PrimaryKeyConstraint("id_hash", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_sessions_user_id_users"
        ),
        if_not_exists=True,
    )
    op.create_index("sessions_user", "sessions", ["user_id"], if_not_exists=True)
    op.create_table(
        "tokens",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("last_used", sa.Float),
        sa.Column("revoked_at", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_tokens_user_id_users"
        ),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
        if_not_exists=True,
    )
    op.create_index("tokens_user", "tokens", ["user_id"], if_not_exists=True)
    op.create_table(
        "login_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
        if_not_exists=True,
    )
    op.create_index("attempts_email", "login_attempts", ["email", "ts"], if_not_exists=True)
    op.create_index("attempts_address", "login_attempts", ["address", "ts"], if_not_exists=True)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttle"),
        if_not_exists=True,
    )
    op.create_index("throttle_last", "login_throttle", ["last_at"], if_not_exists=True)
    op.create_table(
        "audit",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("user_email", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in ("audit", "login_throttle", "login_attempts", "tokens", "sessions", "users"):
        op.drop_table(table)
