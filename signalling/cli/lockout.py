"""`castellan lockout list|clear`: password back-offs and locks of guessers (address, device, address on a link)
and links under guessing (slowed, never locked). Needs --api: they live in the running server."""

from __future__ import annotations

import argparse
from typing import Any

from .options import admin_parser, output

NAME = "lockout"


def add_parser(sub: Any) -> None:
    lo = admin_parser(sub, NAME, "password back-offs and locks; links under guessing")
    lo.add_argument("action", choices=["list", "clear"])
    lo.add_argument("--tenant", required=True)
    lo.add_argument("--scope", choices=["link", "client", "device", "known"])
    lo.add_argument("--lock-key", help="the key as listed: link, client address, device id, or 'link address'")


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "list":
        output(args, b.lockouts(args.tenant))
    else:
        if not (args.scope and args.lock_key):
            raise SystemExit("castellan: lockout clear needs --scope and --lock-key")
        output(args, b.clear_lockout(args.tenant, args.scope, args.lock_key))
