"""`castellan` (console script `signalling.cli.entry:main`): the top-level parser and the dispatch. Process
commands run here (`control-plane`) or go untouched to their owner (`node`, `dev`, `audit`); the admin command
groups each live in their own module and run against one backend (the local database or `--api`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from . import (
    admin_key,
    client_hash,
    control_plane,
    db,
    keys,
    link,
    lockout,
    meeting,
    node_key,
    region,
    tenant,
)
from .options import attach_values, backend
from .passthrough import PASSTHROUGH, add_parsers, dispatch

# in `castellan --help` order, after control-plane and the passthrough commands
ADMIN_GROUPS = {g.NAME: g for g in (region, node_key, tenant, admin_key, link, meeting, lockout, keys)}


def _parser() -> tuple[argparse.ArgumentParser, Any]:
    top = argparse.ArgumentParser(prog="castellan", description="Castellan: sovereign video conferencing")
    sub = top.add_subparsers(dest="command", required=True)
    control_plane.add_parser(sub)
    db.add_parser(sub)
    client_hash.add_parser(sub)
    add_parsers(sub)
    for group in ADMIN_GROUPS.values():
        group.add_parser(sub)
    return top, sub


def _parse(argv: list[str]) -> argparse.Namespace:
    """Admin commands take options and arguments in any order (`link revoke --api URL LINK` as well as
    `link revoke LINK --api URL`): their own parser, intermixed."""
    top, sub = _parser()
    if argv and argv[0] in ADMIN_GROUPS:
        args = sub.choices[argv[0]].parse_intermixed_args(attach_values(argv[1:], node_key.KEY_OPTIONS))
        args.command = argv[0]
        return args
    return top.parse_args(argv)


def _admin(args: argparse.Namespace) -> int:
    from signalling.control.errors import ApiError

    b = None
    try:
        b = backend(args)
        ADMIN_GROUPS[args.command].run(args, b)
    except ApiError as e:
        print(f"castellan: {e.code}: {e.message}", file=sys.stderr)
        return 1
    finally:
        if b is not None:
            b.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        return dispatch(argv[0], argv[1:])
    args = _parse(argv)
    if args.command == "control-plane":
        return control_plane.run_control_plane(args)
    if args.command == db.NAME:
        return db.run(args)
    if args.command == node_key.NAME and args.action in node_key.LOCAL_ACTIONS:
        return node_key.run_local(args)
    if args.command == client_hash.NAME:
        return client_hash.run(args)
    return _admin(args)
