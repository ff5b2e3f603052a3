"""`castellan db upgrade|current`: the database schema (Alembic history in residency/migrations/).

`upgrade` brings the database (`--db FILE` or `--database-url postgresql://…`, env CASTELLAN_DATABASE_URL) to
this release's revision under the same lock the control plane takes at start, so it is safe while replicas
run or start; run it before rolling out a release when replicas start with `--schema-upgrade never`.
`current` prints the database's revision and this release's (exit 1 when they differ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .options import add

NAME = "db"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(NAME, help="database schema: upgrade to this release, or show the revision")
    p.add_argument("action", choices=["upgrade", "current"])
    add(p, "--db", default="castellan.db", help="SQLite file (when no --database-url)")
    add(p, "--database-url", help="PostgreSQL: postgresql://user:password@host:5432/castellan")


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from residency.db import Database, database_url, redacted
    from residency.errors import ResidencyError
    from residency.schema import head, revision_of, upgrade_schema

    target = args.database_url or Path(args.db)
    try:
        db = Database(target, check=False)
        try:
            if args.action == "upgrade":
                before, after = upgrade_schema(db)
                print(f"schema: {before or 'empty'} -> {after}" if before != after else f"schema: {after} (up to date)")
                return 0
            rev = revision_of(db)
            print(f"database: {rev or 'empty'}\nthis release: {head()}")
            return 0 if rev == head() else 1
        finally:
            db.close()
    except ResidencyError as e:
        print(f"castellan: {e.code}: {e.message}", file=sys.stderr)
    except (SQLAlchemyError, ValueError) as e:
        print(f"castellan: {redacted(database_url(target)) if not isinstance(e, ValueError) else 'db'}: {e}",
              file=sys.stderr)
    return 1
