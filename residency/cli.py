"""`castellan audit ...` subcommands (the main CLI mounts `main(argv)`); also `python -m residency.cli`.

    castellan audit verify FILE --public-key KEY     KEY: PEM, JWK or JWKS file. Exit 0 = verified,
                                                     1 = verification failed (reason printed), 2 = usage error.
    castellan audit export --db PATH|URL --tenant T --signing-key PEM [-o FILE]   (URL: postgresql://...)
    castellan audit public-key --signing-key PEM     print the PEM public key verifiers need
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .audit import AuditLog, verify_file
from .errors import ResidencyError
from .signing import load_or_create_signing_key, load_public_keys, public_key_pem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="castellan audit", description="Castellan audit log tools")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="prove an exported audit file is unbroken and signed by this deployment")
    v.add_argument("file")
    v.add_argument("--public-key", required=True, help="PEM, JWK or JWKS file with the deployment's key")
    e = sub.add_parser("export", help="export one tenant's audit chain as signed JSON Lines")
    e.add_argument("--db", required=True)
    e.add_argument("--tenant", required=True)
    e.add_argument("--signing-key", required=True)
    e.add_argument("-o", "--output", default="-")
    k = sub.add_parser("public-key", help="print the public key for a signing key")
    k.add_argument("--signing-key", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "verify":
            result = verify_file(args.file, load_public_keys(args.public_key))
            print(f"OK: {result.count} records of chain {result.chain} are unbroken; head {result.head_hash} "
                  f"signed at {result.signed_at} by key {result.key_id}")
            return 0
        if args.command == "export":
            text = AuditLog(args.db).export_tenant(args.tenant, load_or_create_signing_key(args.signing_key))
            if args.output == "-":
                sys.stdout.write(text)
            else:
                with open(args.output, "w", encoding="utf-8") as f:
                    f.write(text)
            return 0
        print(public_key_pem(load_or_create_signing_key(args.signing_key)), end="")
        return 0
    except ResidencyError as exc:
        print(f"FAILED: {exc.code}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
