"""The `castellan` command.

    castellan control-plane --host H --port 8000 --db PATH [--redis-url URL] [--signing-key-dir DIR] [--public-url URL]
    castellan node ...        -> sfu.server:main(argv)
    castellan dev ...         -> signalling.dev:main(argv)
    castellan audit ...       -> residency.cli:main(argv)
    castellan tenant create --tenant acme --name "ACME" --jurisdiction EU
    castellan admin-key create|list|revoke --tenant acme ...
    castellan link create --tenant acme --title "..." [--password P | --no-password] [--expires 2h]
                          [--max-participants N] [--lobby]
    castellan link list|show|revoke --tenant acme [LINK] [--end-meeting]
    castellan lockout list|clear --tenant acme ...        (needs --api: lockouts live in the running server)
    castellan keys rotate|show

`control-plane` bootstraps an operator key: CASTELLAN_OPERATOR_KEY (cak_<16 hex>.<secret>, e.g. from a deployment
secret) is registered if set; otherwise the first start creates one into <db dir>/operator.key (mode 0600).

Admin commands act on the local database (`--db`, as the operator) or, with `--api URL --key KEY`, through the
admin API. Every flag also reads `CASTELLAN_<FLAG>` from the environment (e.g. CASTELLAN_DB, CASTELLAN_API).
`link create` generates the meeting's end-to-end secret here and puts it only in the URL's #fragment: it is never
sent to a server.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASSTHROUGH = {
    "node": ("sfu.server", "main"),
    "dev": ("signalling.dev", "main"),
    "audit": ("residency.cli", "main"),
}


def _env(flag: str, default: Any = None) -> Any:
    return os.environ.get("CASTELLAN_" + flag.lstrip("-").upper().replace("-", "_"), default)


def _add(p: argparse.ArgumentParser, flag: str, **kw: Any) -> None:
    default = _env(flag, kw.pop("default", None))
    if kw.get("type") is int and isinstance(default, str):
        default = int(default)
    if kw.get("action") == "store_true":
        default = str(default).lower() in ("1", "true", "yes") if default is not None else False
    p.add_argument(flag, default=default, **kw)


def parse_expires(text: str, now: float | None = None) -> int:
    """'90m', '2h', '7d', '3600' (seconds) or an ISO 8601 time -> seconds from now."""
    now = datetime.now(UTC).timestamp() if now is None else now
    m = re.fullmatch(r"(\d+)\s*([smhdw]?)", text.strip())
    if m:
        mult = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return int(m.group(1)) * mult
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"castellan: --expires {text!r}: use e.g. 90m, 2h, 7d or an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() - now)


def e2ee_secret() -> str:
    """The meeting's end-to-end key material (256 bits), for the URL #fragment only."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="castellan", description="Castellan: sovereign video conferencing")
    sub = top.add_subparsers(dest="command", required=True)

    def admin_parser(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        _add(p, "--db", default="castellan.db", help="control plane database (direct mode)")
        _add(p, "--signing-key-dir", help="default: <db dir>/keys")
        _add(p, "--redis-url", help="registry, when nodes run in other processes")
        _add(p, "--public-url", default="http://127.0.0.1:8000", help="base of meeting link URLs")
        _add(p, "--api", help="act through this control plane's admin API instead of the database")
        _add(p, "--key", help="admin or operator API key for --api (env CASTELLAN_KEY)")
        _add(p, "--json", action="store_true", help="print JSON")
        return p

    cp = sub.add_parser("control-plane", help="run the control plane")
    _add(cp, "--host", default="127.0.0.1")
    _add(cp, "--port", type=int, default=8000)
    _add(cp, "--db", default="castellan.db")
    _add(cp, "--redis-url")
    _add(cp, "--signing-key-dir")
    _add(cp, "--public-url")
    _add(cp, "--trust-forwarded-for", action="store_true", help="behind a trusted reverse proxy only")

    for name in PASSTHROUGH:
        sub.add_parser(name, help=f"see `castellan {name} --help`", add_help=False)

    t = admin_parser("tenant", "tenants")
    t.add_argument("action", choices=["create", "list"])
    t.add_argument("--tenant")
    t.add_argument("--name")
    t.add_argument("--jurisdiction")

    k = admin_parser("admin-key", "tenant admin API keys (shown once, stored hashed)")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("--tenant", required=True, help="tenant id, or '*' for an operator key")
    k.add_argument("--label", default="")
    k.add_argument("key_id", nargs="?")

    ln = admin_parser("link", "meeting links")
    ln.add_argument("action", choices=["create", "list", "show", "revoke"])
    ln.add_argument("link", nargs="?")
    ln.add_argument("--tenant", required=True)
    ln.add_argument("--title")
    pw = ln.add_mutually_exclusive_group()
    pw.add_argument("--password", help="meeting password (default: one is generated; '-' prompts)")
    pw.add_argument("--no-password", action="store_true", help="no password (anyone with the link may join)")
    ln.add_argument("--expires", help="e.g. 90m, 2h, 7d, or an ISO 8601 time")
    ln.add_argument("--max-participants", type=int)
    ln.add_argument("--lobby", action="store_true", help="waiting room: the host admits participants")
    ln.add_argument("--end-meeting", action="store_true", help="with revoke: also end the running meeting")

    lo = admin_parser("lockout", "password back-offs and locks")
    lo.add_argument("action", choices=["list", "clear"])
    lo.add_argument("--tenant", required=True)
    lo.add_argument("--scope", choices=["link", "client"])
    lo.add_argument("--lock-key", help="the link or client address to clear")

    ks = admin_parser("keys", "join-token signing keys")
    ks.add_argument("action", choices=["rotate", "show"])
    return top


def _config(args: argparse.Namespace) -> Any:
    from signalling.control.config import ControlConfig

    cfg = ControlConfig(db=Path(args.db))
    if getattr(args, "signing_key_dir", None):
        cfg.signing_key_dir = Path(args.signing_key_dir)
    if getattr(args, "redis_url", None):
        cfg.redis_url = args.redis_url
    if getattr(args, "public_url", None):
        cfg.public_url = args.public_url
    return cfg


def _backend(args: argparse.Namespace) -> Any:
    from signalling.control.client import Direct, Remote

    if args.api:
        return Remote(args.api, args.key)
    from signalling.control.app import build_control_plane
    from signalling.control.residency_adapter import open_residency

    cfg = _config(args)
    control = build_control_plane(cfg, residency=open_residency(cfg))
    return Direct(control, actor=f"cli:{getpass.getuser()}")


def _print(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if args.json or text is None:
        print(json.dumps(data, indent=2))
    else:
        print(text)


def _link_create(args: argparse.Namespace, b: Any) -> None:
    if not args.title:
        raise SystemExit("castellan: link create needs --title")
    password = args.password
    if password == "-":
        password = getpass.getpass("Meeting password: ")
    opts: dict[str, Any] = {"title": args.title, "lobby": args.lobby}
    if password is not None:
        opts["password"] = password
    if args.no_password:
        opts["no_password"] = True
    if args.expires:
        opts["expires_in"] = parse_expires(args.expires)
    if args.max_participants is not None:
        opts["max_participants"] = args.max_participants
    rec = b.create_link(args.tenant, **opts)
    secret = e2ee_secret()  # made here, only ever placed in the #fragment
    rec["join_url"] = f"{rec['url']}#k={secret}"
    rec["host_url"] = f"{rec['url']}#k={secret}&h={rec['host_key']}"
    lines = [f"Meeting:   {rec['title']}", f"Join link: {rec['join_url']}"]
    if "password" in rec:
        lines.append(f"Password:  {rec['password']}   (generated; shown once, share it separately)")
    elif rec["password_required"]:
        lines.append("Password:  (as given)")
    else:
        lines.append("Password:  none (anyone with the link can join)")
    lines.append(f"Host link: {rec['host_url']}   (keep private: it admits from the lobby)")
    if rec.get("expires_at"):
        lines.append(f"Expires:   {datetime.fromtimestamp(rec['expires_at'], UTC).isoformat()}")
    _print(args, rec, "\n".join(lines))


def _admin(args: argparse.Namespace) -> int:
    from signalling.control.errors import ApiError

    b = None
    try:
        b = _backend(args)
        c, a = args.command, args.action
        if c == "tenant" and a == "create":
            if not (args.tenant and args.name and args.jurisdiction):
                raise SystemExit("castellan: tenant create needs --tenant, --name and --jurisdiction")
            _print(args, b.create_tenant(args.tenant, args.name, args.jurisdiction))
        elif c == "tenant":
            _print(args, b.list_tenants())
        elif c == "admin-key" and a == "create":
            rec = b.create_admin_key(args.tenant, args.label)
            _print(args, rec, f"Admin key (shown once, only its hash is stored):\n{rec['key']}")
        elif c == "admin-key" and a == "list":
            _print(args, b.list_admin_keys(args.tenant))
        elif c == "admin-key":
            if not args.key_id:
                raise SystemExit("castellan: admin-key revoke needs KEY_ID")
            _print(args, b.revoke_admin_key(args.tenant, args.key_id))
        elif c == "link" and a == "create":
            _link_create(args, b)
        elif c == "link" and a == "list":
            _print(args, b.list_links(args.tenant))
        elif c == "link":
            if not args.link:
                raise SystemExit(f"castellan: link {a} needs LINK")
            if a == "show":
                _print(args, b.get_link(args.tenant, args.link))
            else:
                _print(args, b.revoke_link(args.tenant, args.link, args.end_meeting))
        elif c == "lockout" and a == "list":
            _print(args, b.lockouts(args.tenant))
        elif c == "lockout":
            if not (args.scope and args.lock_key):
                raise SystemExit("castellan: lockout clear needs --scope and --lock-key")
            _print(args, b.clear_lockout(args.tenant, args.scope, args.lock_key))
        elif c == "keys" and a == "rotate":
            _print(args, b.rotate_signing_key())
        else:
            from signalling.control.app import build_control_plane  # noqa: F401  (keys show: local only)
            from signalling.tokens import KeyRing

            print(json.dumps(KeyRing.open(_config(args).key_dir()).jwks(), indent=2))
    except ApiError as e:
        print(f"castellan: {e.code}: {e.message}", file=sys.stderr)
        return 1
    finally:
        if b is not None:
            b.close()
    return 0


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

    cfg = _config(args)
    cfg.public_url = args.public_url or f"http://{args.host}:{args.port}"
    cfg.trust_forwarded_for = args.trust_forwarded_for
    app = create_app(cfg)
    operator_key = app.state.control.ensure_operator_key(os.environ.get("CASTELLAN_OPERATOR_KEY") or None)
    if operator_key:
        _save_operator_key(operator_key, [Path(cfg.db).resolve().parent, cfg.key_dir()])
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0


def _dispatch(command: str, argv: list[str]) -> int:
    import importlib

    module, func = PASSTHROUGH[command]
    try:
        target: Callable[[list[str]], int | None] = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        print(f"castellan: `{command}` is not available in this build ({module}.{func}: {e})", file=sys.stderr)
        return 2
    return int(target(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        return _dispatch(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "control-plane":
        return run_control_plane(args)
    return _admin(args)


if __name__ == "__main__":
    sys.exit(main())
