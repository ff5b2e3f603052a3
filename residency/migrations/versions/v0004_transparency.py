"""Transparency log (residency/tenantlog.py): the tree heads signed for each tenant's log, the tenant's webhook
for new heads, and the receipts already taken (a node resending one is not logged twice).

The leaves are the audit records themselves (audit_records, one tenant chain = one log), so no record is
stored twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transparency_heads",
        sa.Column("log", sa.Text, primary_key=True),
        sa.Column("tree_size", sa.BigInteger, primary_key=True),
        sa.Column("root_hash", sa.Text, nullable=False),
        sa.Column("line", sa.Text, nullable=False),  # the signed head, JSON (heads.py)
    )
    op.create_table(
        "transparency_webhooks",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("delivered_size", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "residency_receipts",
        sa.Column("receipt", sa.Text, primary_key=True),  # node / tenant / meeting / seq
        sa.Column("tenant", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("residency_receipts")
    op.drop_table("transparency_webhooks")
    op.drop_table("transparency_heads")
