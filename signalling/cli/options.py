"""What the commands share: flags that also read `CASTELLAN_<FLAG>` from the environment, the admin commands'
common options (`--db` direct mode or `--api URL --key KEY`), the control plane config, the backend, output."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from typing import Any


def env(flag: str, default: Any = None) -> Any:
    return os.environ.get("CASTELLAN_" + flag.lstrip("-").upper().replace("-", "_"), default)


def add(p: argparse.ArgumentParser, flag: str, **kw: Any) -> None:
    default = env(flag, kw.pop("default", None))
    if kw.get("type") is int and isinstance(default, str):
        default = int(default)
    if kw.get("action") == "store_true":
        default = str(default).lower() in ("1", "true", "yes") if default is not None else False
    p.add_argument(flag, default=default, **kw)


def admin_parser(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help)
    add(p, "--db", default="castellan.db", help="control plane database (direct mode)")
    add(p, "--database-url", help="PostgreSQL instead of the --db file (direct mode)")
    add(p, "--signing-key-dir", help="default: <db dir>/keys")
    add(p, "--redis-url", help="registry, when nodes run in other processes")
    add(p, "--public-url", default="http://127.0.0.1:8000", help="base of meeting link URLs")
    add(p, "--api", help="act through this control plane's admin API instead of the database")
    add(p, "--key", help="admin or operator API key for --api (env CASTELLAN_KEY)")
    add(p, "--json", action="store_true", help="print JSON")
    return p


def config(args: argparse.Namespace) -> Any:
    from signalling.control.config import ControlConfig

    cfg = ControlConfig(db=Path(args.db), database_url=getattr(args, "database_url", None) or None)
    if getattr(args, "signing_key_dir", None):
        cfg.signing_key_dir = Path(args.signing_key_dir)
    if getattr(args, "redis_url", None):
        cfg.redis_url = args.redis_url
    if getattr(args, "public_url", None):
        cfg.public_url = args.public_url
    return cfg


def backend(args: argparse.Namespace) -> Any:
    from signalling.control.client import Direct, Remote

    if args.api:
        return Remote(args.api, args.key)
    from signalling.control.app import build_control_plane
    from signalling.control.residency_adapter import open_residency

    cfg = config(args)
    control = build_control_plane(cfg, residency=open_residency(cfg))
    return Direct(control, actor=f"cli:{getpass.getuser()}")


def output(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if args.json or text is None:
        print(json.dumps(data, indent=2))
    else:
        print(text)
