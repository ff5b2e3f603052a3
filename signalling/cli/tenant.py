"""`castellan tenant create|list`."""

from __future__ import annotations

import argparse
from typing import Any

from .options import admin_parser, output

NAME = "tenant"


def add_parser(sub: Any) -> None:
    t = admin_parser(sub, NAME, "tenants")
    t.add_argument("action", choices=["create", "list"])
    t.add_argument("--tenant")
    t.add_argument("--name")
    t.add_argument("--jurisdiction")


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "create":
        if not (args.tenant and args.name and args.jurisdiction):
            raise SystemExit("castellan: tenant create needs --tenant, --name and --jurisdiction")
        output(args, b.create_tenant(args.tenant, args.name, args.jurisdiction))
    else:
        output(args, b.list_tenants())
