"""Node keys an operator enrolled per region (residency/identity.py): the control plane places rooms only on
nodes whose registry records one of these keys signs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "residency_node_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),  # EnrolledKey.to_dict(), JSON
    )


def downgrade() -> None:
    op.drop_table("residency_node_keys")
