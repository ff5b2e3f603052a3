"""`castellan region define|list`: the operator's regions (audited; a region is never redefined). The chart
defines its `regions` at start (CASTELLAN_REGIONS); this command defines more on a running deployment."""

from __future__ import annotations

import argparse
from typing import Any

from .options import admin_parser, output

NAME = "region"


def add_parser(sub: Any) -> None:
    r = admin_parser(sub, NAME, "regions (operator)")
    r.add_argument("action", choices=["define", "list"])
    r.add_argument("--region")
    r.add_argument("--jurisdiction")
    r.add_argument("--location")
    r.add_argument("--display-name")
    r.add_argument("--reason", default="region defined")


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "define":
        if not (args.region and args.jurisdiction and args.location and args.display_name):
            raise SystemExit("castellan: region define needs --region, --jurisdiction, --location and --display-name")
        output(args, b.define_region(region=args.region, jurisdiction=args.jurisdiction, location=args.location,
                                     display_name=args.display_name, reason=args.reason))
    else:
        output(args, b.list_regions())
