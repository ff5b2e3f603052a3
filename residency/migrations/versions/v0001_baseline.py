"""Baseline: the schema as it was before migrations (control plane: meta, admin keys, links; residency: regions,
tenants, the append-only audit log). Creates only what is missing, so a database made by an older release is
adopted as it is.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("meta"):
        op.create_table("meta", sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("value", sa.LargeBinary, nullable=False))
    if _missing("admin_keys"):
        op.create_table(
            "admin_keys",
            sa.Column("key_id", sa.Text, primary_key=True),
            sa.Column("tenant", sa.Text, nullable=False),  # '*' for operator keys
            sa.Column("hash", sa.Text, nullable=False),  # sha256 hex of the secret part
            sa.Column("label", sa.Text, nullable=False, server_default=""),
            sa.Column("created", sa.Double, nullable=False),
            sa.Column("revoked_at", sa.Double),
        )
    if _missing("links"):
        op.create_table(
            "links",
            sa.Column("link", sa.Text, primary_key=True),
            sa.Column("tenant", sa.Text, nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("room", sa.Text, nullable=False),
            sa.Column("password_hash", sa.Text),  # NULL: created with no password (explicit opt-out)
            sa.Column("host_key_hash", sa.Text, nullable=False),
            sa.Column("expires_at", sa.Double),
            sa.Column("max_participants", sa.Integer),
            sa.Column("lobby", sa.Integer, nullable=False, server_default="0"),
            sa.Column("created", sa.Double, nullable=False),
            sa.Column("created_by", sa.Text, nullable=False),
            sa.Column("revoked_at", sa.Double),
        )
        op.create_index("links_tenant", "links", ["tenant"])
    for table in ("residency_regions", "residency_tenants"):
        if _missing(table):
            op.create_table(table, sa.Column("id", sa.Text, primary_key=True), sa.Column("doc", sa.Text, nullable=False))
    if _missing("audit_records"):
        op.create_table(
            "audit_records",
            sa.Column("chain", sa.Text, primary_key=True),
            sa.Column("seq", sa.Integer, primary_key=True),
            sa.Column("ts", sa.Text, nullable=False),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("actor", sa.Text, nullable=False),
            sa.Column("tenant", sa.Text),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("prev", sa.Text, nullable=False),
            sa.Column("hash", sa.Text, nullable=False),
        )
    # append-only inside the database too: updates, deletes (and on PostgreSQL truncation) abort
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$")
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_change ON audit_records")
        op.execute("CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON audit_records "
                   "FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records")
        op.execute("CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only()")
    else:
        op.execute("CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records "
                   "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
        op.execute("CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records "
                   "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup instead (docs/deploy.md)")
