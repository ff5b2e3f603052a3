"""`castellan tenant create|list|show|regions`: tenants and the regions each allows.

`regions` replaces what a tenant allows, always with a reason (audited): `--allow eu-1,ch-1 --opt-in
"ch-1=why"` (a region of an adequate jurisdiction needs an opt-in) or `--default` (its own jurisdiction's
regions). `create` and `regions` warn on stderr when no region or no media node would take its meetings."""

from __future__ import annotations

import argparse
from typing import Any

from .options import admin_parser, iso, output, warn

NAME = "tenant"


def add_parser(sub: Any) -> None:
    t = admin_parser(sub, NAME, "tenants and their regions")
    t.add_argument("action", choices=["create", "list", "show", "regions"])
    t.add_argument("--tenant")
    t.add_argument("--name")
    t.add_argument("--jurisdiction")
    t.add_argument("--allow", help="regions: comma-separated region ids the tenant allows")
    t.add_argument("--default", action="store_true", help="regions: back to its own jurisdiction's regions")
    t.add_argument("--opt-in", action="append", default=[], metavar="REGION=REASON",
                   help="regions: adequacy opt-in for a region of another jurisdiction, with why (repeatable)")
    t.add_argument("--reason", help="regions: why (recorded in the audit log)")


def describe(doc: dict[str, Any]) -> str:
    """A tenant for people: its jurisdiction, then each region with its rule, whether allowed and why."""
    lines = [f"Tenant:        {doc['tenant']} ({doc['name']})",
             f"Jurisdiction:  {doc['jurisdiction']} ({doc['jurisdiction_name']})",
             "Policy:        " + ("default (own jurisdiction's regions)" if doc["allowed_regions"] is None
                                  else "only " + ", ".join(doc["allowed_regions"])),
             "Regions:"]
    for r in doc["regions"]:
        state = "allowed" if r["allowed"] else "not allowed"
        lines.append(f"  {r['region']:<12} {r['display_name']} ({r['location']}, {r['jurisdiction']}): {state}, "
                     f"rule {r['rule']}, {r['nodes']} node(s)")
        if r["opt_in"]:
            o = r["opt_in"]
            lines.append(f"  {'':<12} opt-in by {o['actor']} at {iso(o['at'])}: {o['reason']}")
    for w in doc["warnings"]:
        lines.append(f"Warning: {w['message']}")
    return "\n".join(lines)


def _opt_ins(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        region, sep, reason = item.partition("=")
        if not sep or not region.strip() or not reason.strip():
            raise SystemExit(f"castellan: --opt-in {item!r}: use REGION=REASON")
        out[region.strip()] = reason.strip()
    return out


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "list":
        output(args, b.list_tenants())
        return
    if not args.tenant:
        raise SystemExit(f"castellan: tenant {args.action} needs --tenant")
    if args.action == "create":
        if not (args.name and args.jurisdiction):
            raise SystemExit("castellan: tenant create needs --tenant, --name and --jurisdiction")
        created = b.create_tenant(args.tenant, args.name, args.jurisdiction)
        warn(created)
        output(args, created)
    elif args.action == "show":
        doc = b.show_tenant(args.tenant)
        output(args, doc, describe(doc))
    else:
        if not args.reason:
            raise SystemExit("castellan: tenant regions needs --reason (it is recorded in the audit log)")
        if args.default == bool(args.allow):
            raise SystemExit("castellan: tenant regions needs --allow REGIONS or --default (one of them)")
        allowed = None if args.default else [r.strip() for r in args.allow.split(",") if r.strip()]
        doc = b.set_tenant_regions(args.tenant, allowed, _opt_ins(args.opt_in), args.reason)
        warn(doc)
        output(args, doc, describe(doc))
