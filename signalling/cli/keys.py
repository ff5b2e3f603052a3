"""`castellan keys rotate|show`: the join-token signing keys (`show` prints the published JWKS, read locally)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .options import admin_parser, config, output

NAME = "keys"


def add_parser(sub: Any) -> None:
    ks = admin_parser(sub, NAME, "join-token signing keys")
    ks.add_argument("action", choices=["rotate", "show"])


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "rotate":
        output(args, b.rotate_signing_key())
    else:
        from signalling.control.app import build_control_plane  # noqa: F401  (keys show: local only)
        from signalling.tokens import KeyRing

        print(json.dumps(KeyRing.open(config(args).key_dir()).jwks(), indent=2))
