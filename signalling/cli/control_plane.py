"""`castellan control-plane`: the control plane process. The first start bootstraps an operator key
(CASTELLAN_OPERATOR_KEY if set, otherwise a new one written to <db dir>/operator.key, mode 0600)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .options import add, config


def add_parser(sub: Any) -> None:
    cp = sub.add_parser("control-plane", help="run the control plane")
    add(cp, "--host", default="127.0.0.1")
    add(cp, "--port", type=int, default=8000)
    add(cp, "--db", default="castellan.db")
    add(cp, "--redis-url")
    add(cp, "--signing-key-dir")
    add(cp, "--public-url")
    add(cp, "--trust-forwarded-for", action="store_true",
        help="read the client address from X-Forwarded-For, as added by the trusted proxies in front")
    add(cp, "--trusted-proxies", default="",
        help="CIDRs of those proxies, comma-separated (default: loopback and private networks); the header "
             "counts only when the connection comes from one of them")
    add(cp, "--forwarded-hops", type=int, default=1,
        help="proxies in front that append to X-Forwarded-For (Ingress alone: 1; with a load balancer or CDN "
             "in front: 2); 0 = walk from the right past every trusted proxy")


def _save_operator_key(key: str, places: list[Path]) -> None:
    """The first operator key goes to a 0600 file on the data volume (the key dir may be a read-only secret)."""
    for d in places:
        path = d / "operator.key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        print(f"castellan: created the operator key; it is in {path} (mode 0600)", file=sys.stderr)
        return
    print("castellan: created the operator key but could not write it to a file; it is shown once here:\n"
          f"{key}", file=sys.stderr)


def run_control_plane(args: argparse.Namespace) -> int:
    import uvicorn

    from signalling.control.app import create_app

    cfg = config(args)
    cfg.public_url = args.public_url or f"http://{args.host}:{args.port}"
    cfg.trust_forwarded_for = args.trust_forwarded_for
    cfg.trusted_proxies = tuple(p.strip() for p in args.trusted_proxies.split(",") if p.strip())
    cfg.forwarded_hops = args.forwarded_hops
    try:
        cfg.forwarded_rule()
    except ValueError as e:
        raise SystemExit(f"castellan: --trusted-proxies / --forwarded-hops: {e}") from None
    app = create_app(cfg)
    operator_key = app.state.control.ensure_operator_key(os.environ.get("CASTELLAN_OPERATOR_KEY") or None)
    if operator_key:
        _save_operator_key(operator_key, [Path(cfg.db).resolve().parent, cfg.key_dir()])
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0
