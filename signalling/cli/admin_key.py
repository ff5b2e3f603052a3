"""`castellan admin-key create|list|revoke`: tenant admin API keys (shown once, stored hashed)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import admin_parser, output

NAME = "admin-key"


def add_parser(sub: Any) -> None:
    k = admin_parser(sub, NAME, "tenant admin API keys (shown once, stored hashed)")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("--tenant", required=True, help="tenant id, or '*' for an operator key")
    k.add_argument("--label", default="")
    k.add_argument("key_id", nargs="?")


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "create":
        rec = b.create_admin_key(args.tenant, args.label)
        output(args, rec, f"Admin key (shown once, only its hash is stored):\n{rec['key']}")
    elif args.action == "list":
        output(args, b.list_admin_keys(args.tenant))
    else:
        if not args.key_id:
            raise SystemExit("castellan: admin-key revoke needs KEY_ID")
        output(args, b.revoke_admin_key(args.tenant, args.key_id))
