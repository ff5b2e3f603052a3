"""`castellan client-hash`: the browser client's release hash (signalling/control/release.py).

From a checkout (default: this installation's `signalling/client`), for a release to publish:

    castellan client-hash                      # client 0.1.0 sha256 <hex>
    castellan client-hash --files              # and one `sha256sum` line per file

From a running deployment, to compare with the published value without trusting its pages: the files are
fetched from `URL/static/<name>` and hashed here; the names come from the deployment's `/v1/client`, whose claimed
hash is checked too. Exit status 1 when the served files differ from the claim or from `--expect`.

    castellan client-hash --url https://meet.example.org --expect <published hex>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

NAME = "client-hash"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(NAME, help="print the browser client's release hash (from a checkout or a deployment)")
    p.add_argument("--dir", help="the client directory (default: signalling/client of this installation)")
    p.add_argument("--url", help="a deployment's base URL: hash the files it serves")
    p.add_argument("--expect", help="the published hash to compare with (exit status 1 if different)")
    p.add_argument("--files", action="store_true", help="also print each file's hash (sha256sum format)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - the operator's URL
        return r.read()  # type: ignore[no-any-return]


def _from_url(base: str) -> tuple[dict[str, Any], str | None]:
    """The release recomputed from the served bytes, and the hash the deployment claims for it."""
    from signalling.control.release import listing_hash

    base = base.rstrip("/")
    claim = json.loads(_get(f"{base}/v1/client"))
    files = {str(n): hashlib.sha256(_get(f"{base}/static/{n}")).hexdigest() for n in claim["files"]}
    return {"version": str(claim["version"]), "sha256": listing_hash(files), "files": files}, str(claim["sha256"])


def run(args: argparse.Namespace) -> int:
    from signalling.control.app import CLIENT_DIR
    from signalling.control.release import client_release, product_version

    claimed = None
    if args.url:
        try:
            release, claimed = _from_url(args.url)
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"castellan: {args.url}: cannot read the served client: {e}", file=sys.stderr)
            return 2
    else:
        root = Path(args.dir) if args.dir else CLIENT_DIR
        if not root.is_dir():
            print(f"castellan: {root}: no such directory", file=sys.stderr)
            return 2
        release = client_release(root, product_version()).json()
    if args.json:
        print(json.dumps(release, indent=2))
    else:
        print(f"client {release['version']} sha256 {release['sha256']}")
        if args.files:
            for name, digest in release["files"].items():
                print(f"{digest}  {name}")
    status = 0
    if claimed is not None and claimed != release["sha256"]:
        print(f"castellan: the served files hash to {release['sha256']}, but /v1/client claims {claimed}",
              file=sys.stderr)
        status = 1
    if args.expect and args.expect.lower() != release["sha256"]:
        print(f"castellan: differs from the expected {args.expect}", file=sys.stderr)
        status = 1
    return status
