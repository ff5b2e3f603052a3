"""Compliance recordings (issue 15, recording/archive.py): the recordings a tenant holds, its legal holds, and
its recording policy and retention (per tenant, and per link under the tenant's).

Revision ID: 0005
Revises: 0004 (the transparency log)
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False, index=True),
        sa.Column("meeting", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=True),
        sa.Column("ended_at", sa.Float, nullable=True),
        sa.Column("doc", sa.Text, nullable=False),  # archive.Recording as JSON
    )
    op.create_table(
        "recording_holds",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False, index=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("placed_by", sa.Text, nullable=False),
        sa.Column("placed_at", sa.Float, nullable=False),
        sa.Column("released_at", sa.Float, nullable=True),
        sa.Column("released_by", sa.Text, nullable=True),
    )
    op.create_table(
        "recording_policies",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("link", sa.Text, primary_key=True),  # "" = the tenant's own policy
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recording_policies")
    op.drop_table("recording_holds")
    op.drop_table("recordings")
