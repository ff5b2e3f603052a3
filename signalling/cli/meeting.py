"""`castellan meeting list|end`: a tenant's running meetings (where each runs, how many are in) and ending one
for everyone (its link stays valid; audited)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import admin_parser, iso, output

NAME = "meeting"


def add_parser(sub: Any) -> None:
    m = admin_parser(sub, NAME, "running meetings")
    m.add_argument("action", choices=["list", "end"])
    m.add_argument("link", nargs="?", help="end: the meeting's link id")
    m.add_argument("--tenant", required=True)


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "list":
        data = b.meetings(args.tenant)
        lines = [f"{m['title']}: {m['participants']} in, on {m['node']} in {m['display_name']} ({m['location']}, "
                 f"{m['jurisdiction']}) since {iso(m['since'])}; link {m['link']}" for m in data["meetings"]]
        output(args, data, "\n".join(lines) or "No meeting is running.")
        return
    if not args.link:
        raise SystemExit("castellan: meeting end needs LINK")
    output(args, b.end_meeting(args.tenant, args.link))
