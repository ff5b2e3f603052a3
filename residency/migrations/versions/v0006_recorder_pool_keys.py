"""Recorder pool keys (issue 15, docs/recording.md "Launching recorders"): a key that can do one thing — let a
recorder pool of one region announce itself and obtain recorder credentials for the jobs the control plane gave
it. Kept apart from admin_keys (another table, another prefix `crk_`), so no admin endpoint can ever accept one.

Revision ID: 0006
Revises: 0005 (recordings)
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recorder_pool_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),  # sha256 hex of the secret part
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
    )


def downgrade() -> None:
    op.drop_table("recorder_pool_keys")
