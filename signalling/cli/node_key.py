"""`castellan node-key generate|public|enroll|list|revoke`: the keys nodes prove themselves with.

`generate --out FILE` writes a new Ed25519 private key (mode 0600, for the node's Secret) and prints its public
key; `public --key-file FILE` prints a key's public half. Both are local (no control plane). `enroll --region R
--public-key K` lets nodes holding K's private half serve region R; `revoke KEY_ID --reason ...` takes it back
(both audited). Without an enrolled key a node's registry record is ignored: it gets no rooms."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .options import admin_parser, output

NAME = "node-key"
LOCAL_ACTIONS = ("generate", "public")  # need no control plane and no database
KEY_OPTIONS = ("--public-key",)  # their values may start with "-" (options.attach_values)


def add_parser(sub: Any) -> None:
    k = admin_parser(sub, NAME, "node keys (operator): generate, enroll for a region, revoke")
    k.add_argument("action", choices=["generate", "public", "enroll", "list", "revoke"])
    k.add_argument("key_id", nargs="?", help="revoke: the key id (from `list`)")
    k.add_argument("--out", help="generate: the private key file to create")
    k.add_argument("--key-file", help="public: the private key file")
    k.add_argument("--region")
    k.add_argument("--public-key", help="enroll: the public key (base64url, as `public` prints) or @FILE (PEM)")
    k.add_argument("--reason", default=None)


def run_local(args: argparse.Namespace) -> int:
    from residency.errors import InvalidInput
    from residency.identity import key_id, load_or_create_node_key, public_text

    path = args.out if args.action == "generate" else args.key_file
    if not path:
        raise SystemExit(f"castellan: node-key {args.action} needs {'--out' if args.action == 'generate' else '--key'}")
    if args.action == "generate" and Path(path).exists():
        raise SystemExit(f"castellan: {path} exists; not overwriting a node key")
    try:
        key = load_or_create_node_key(path, create=args.action == "generate")
    except (InvalidInput, OSError) as e:
        raise SystemExit(f"castellan: {getattr(e, 'message', e)}") from None
    output(args, {"key_id": key_id(key.public_key()), "public_key": public_text(key)}, public_text(key))
    return 0


def run(args: argparse.Namespace, b: Any) -> None:
    if args.action == "enroll":
        if not (args.region and args.public_key):
            raise SystemExit("castellan: node-key enroll needs --region and --public-key")
        from residency.errors import InvalidInput
        from residency.identity import parse_public_key, public_text

        public = args.public_key
        if public.startswith("@"):
            public = Path(public[1:]).read_text()
        try:
            public = public_text(parse_public_key(public))  # PEM or JWK -> the API's one-line form
        except InvalidInput as e:
            raise SystemExit(f"castellan: {e.message}") from None
        output(args, b.enroll_node_key(args.region, public, args.reason or "node key enrolled"))
    elif args.action == "revoke":
        if not (args.key_id and args.reason):
            raise SystemExit("castellan: node-key revoke needs KEY_ID and --reason")
        output(args, b.revoke_node_key(args.key_id, args.reason))
    else:
        output(args, b.list_node_keys())


