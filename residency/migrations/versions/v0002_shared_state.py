"""Shared join state, so control-plane replicas behind one address behave as one: the waiting room's tickets
and each room's seats (tokens issued, participants joined), formerly in each process's memory.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lobby_tickets",
        sa.Column("id", sa.Text, primary_key=True),  # unguessable (192 random bits)
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("participant", sa.Text, nullable=False),
        sa.Column("region_hint", sa.Text),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("state", sa.Text, nullable=False),  # waiting, admitted, denied
    )
    op.create_index("lobby_tickets_link", "lobby_tickets", ["link", "state"])
    op.create_index("lobby_tickets_created", "lobby_tickets", ["created"])
    op.create_table(
        "room_seats",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("room", sa.Text, primary_key=True),
        sa.Column("participant", sa.Text, primary_key=True),
        sa.Column("joined", sa.Integer, nullable=False),  # 0: a token was issued (reserved), 1: joined the node
        sa.Column("at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_seats")
    op.drop_table("lobby_tickets")
