"""What the commands share: flags that also read `CASTELLAN_<FLAG>` from the environment, the admin commands'
common options (`--db` direct mode or `--api URL --key KEY`), the control plane config, the backend, output."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# fields that hold Unix times in the API's answers: printed as ISO 8601 UTC for people (raw numbers with --json)
TIME_FIELDS = frozenset({"created", "expires_at", "revoked_at", "at", "since", "enrolled_at", "waiting_since",
                         "decided_at", "started_at", "ended_at", "placed_at", "released_at"})


def failed(message: str, exit_code: int = 1) -> int:
    """How a command stops on a refusal or a usage error: one line on stderr (never a traceback), and the exit
    code for `main` to return (1 refused, 2 usage)."""
    print(message, file=sys.stderr)
    return exit_code


def env(flag: str, default: Any = None) -> Any:
    return os.environ.get("CASTELLAN_" + flag.lstrip("-").upper().replace("-", "_"), default)


def add(p: argparse.ArgumentParser, flag: str, **kw: Any) -> None:
    default = env(flag, kw.pop("default", None))
    if kw.get("type") is int and isinstance(default, str):
        default = int(default)
    if kw.get("action") == "store_true":
        default = str(default).lower() in ("1", "true", "yes") if default is not None else False
    p.add_argument(flag, default=default, **kw)


def attach_values(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """`--public-key -Xy…` as `--public-key=-Xy…`: a base64url key starts with "-" one time in 64, and argparse
    would take it for an option ("expected one argument")."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def admin_parser(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help)
    add(p, "--db", help="control plane database file (direct mode; never created unless --init)")
    add(p, "--init", action="store_true", help="with --db: create the database (and its keys) if it does not exist "
                                               "yet; its folder must exist")
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

    cfg = ControlConfig(db=Path(args.db or "castellan.db"), database_url=getattr(args, "database_url", None) or None)
    if getattr(args, "signing_key_dir", None):
        cfg.signing_key_dir = Path(args.signing_key_dir)
    if getattr(args, "redis_url", None):
        cfg.redis_url = args.redis_url
    if getattr(args, "public_url", None):
        cfg.public_url = args.public_url
    return cfg


def direct_store_problem(db: str | None, database_url: str | None, init: bool) -> str | None:
    """Why direct mode may not open `db`, or None. A forgotten `--api`/`--db` must not leave a new database and
    signing keys in whatever folder the command ran in, nor a typo create folders."""
    if database_url:
        return None
    if not db:
        return ("no control plane given: use --api URL --key KEY (a running control plane) or --db FILE (its "
                "database; add --init to create a new one)")
    path = Path(db)
    if path.exists():
        return None
    if not path.parent.is_dir():
        return f"--db {db}: folder {str(path.parent)!r} does not exist (folders are never created)"
    if not init:
        return f"--db {db}: no such database; add --init to create a new one there"
    return None


def backend(args: argparse.Namespace) -> Any:
    from signalling.control.client import Direct, Remote
    from signalling.control.errors import ApiError

    if args.api:
        return Remote(args.api, args.key)
    problem = direct_store_problem(args.db, getattr(args, "database_url", None), bool(getattr(args, "init", False)))
    if problem is not None:
        raise ApiError(400, "no_store", problem)
    from signalling.control.app import build_control_plane
    from signalling.control.residency_adapter import open_residency

    cfg = config(args)
    control = build_control_plane(cfg, residency=open_residency(cfg))
    return Direct(control, actor=f"cli:{getpass.getuser()}")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def human_times(data: Any) -> Any:
    """`data` with every Unix time (TIME_FIELDS) as ISO 8601 UTC text."""
    if isinstance(data, Mapping):
        return {k: iso(v) if k in TIME_FIELDS and isinstance(v, int | float) and not isinstance(v, bool)
                else human_times(v) for k, v in data.items()}
    if isinstance(data, list):
        return [human_times(x) for x in data]
    return data


def output(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """`--json`: the API's answer as it is (times as Unix seconds); else `text`, or the answer with human times."""
    if args.json:
        print(json.dumps(data, indent=2))
    elif text is None:
        print(json.dumps(human_times(data), indent=2, ensure_ascii=False))
    else:
        print(text)


def warn(data: Any) -> None:
    """The answer's warnings (no region / no node would take the tenant's meetings), on stderr, in any mode."""
    import sys

    for w in data.get("warnings", []) if isinstance(data, Mapping) else []:
        print(f"castellan: warning: {w['message']}", file=sys.stderr)
