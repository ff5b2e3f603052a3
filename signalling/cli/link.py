"""`castellan link create|list|show|revoke`: meeting links. `create` makes the meeting's end-to-end secret here
and puts it only in the printed URLs' #fragment: it is never sent to a server."""

from __future__ import annotations

import argparse
import base64
import getpass
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from signalling.control.password_policy import password_problem

from .options import admin_parser, iso, output, warn

NAME = "link"


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


def add_parser(sub: Any) -> None:
    ln = admin_parser(sub, NAME, "meeting links")
    ln.add_argument("action", choices=["create", "list", "show", "revoke"])
    ln.add_argument("link", nargs="?")
    ln.add_argument("--tenant", required=True)
    ln.add_argument("--title")
    pw = ln.add_mutually_exclusive_group()
    pw.add_argument("--password", help="meeting password, at least 8 characters and not a common one (default: one "
                                       "is generated; '-' asks for it without echo, so it stays out of shell history)")
    pw.add_argument("--no-password", action="store_true", help="no password (anyone with the link may join)")
    ln.add_argument("--expires", help="e.g. 90m, 2h, 7d, or an ISO 8601 time")
    ln.add_argument("--max-participants", type=int)
    ln.add_argument("--lobby", action="store_true", help="waiting room: the host admits participants")
    ln.add_argument("--end-meeting", action="store_true", help="with revoke: also end the running meeting")
    ln.add_argument("--recorder-public-key", metavar="KEY",
                    help="the tenant's recorder public key (`castellan recorder-key new`), put in the links' #fragment "
                         "(r=) beside the secret: members hand the recorder the link's secrets (docs/recording.md)")


def recorder_public_key(text: str) -> str:
    """A recorder public key as the fragment carries it (base64url of 32 bytes), or SystemExit."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", text) or len(base64.urlsafe_b64decode(text + "=")) != 32:
        raise SystemExit("castellan: --recorder-public-key: not a recorder public key (43 base64url characters)")
    return text


def _create(args: argparse.Namespace, b: Any) -> None:
    if not args.title:
        raise SystemExit("castellan: link create needs --title")
    r = recorder_public_key(args.recorder_public_key) if args.recorder_public_key else None
    password = args.password
    if password == "-":
        password = getpass.getpass("Meeting password: ")
        if getpass.getpass("Again: ") != password:
            raise SystemExit("castellan: the two passwords differ; nothing was created")
    if password is not None and (problem := password_problem(password)) is not None:
        raise SystemExit(f"castellan: --password: {problem}")
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
    fragment = f"k={secret}" + (f"&r={r}" if r else "")  # both made or chosen here, never sent to a server
    rec["join_url"] = f"{rec['url']}#{fragment}"
    rec["host_url"] = f"{rec['url']}#{fragment}&h={rec['host_key']}"
    lines = [f"Meeting:   {rec['title']}", f"Join link: {rec['join_url']}"]
    if "password" in rec:
        lines.append(f"Password:  {rec['password']}   (generated; shown once, share it separately)")
    elif rec["password_required"]:
        lines.append("Password:  (as given)")
    else:
        lines.append("Password:  none (anyone with the link can join)")
    lines.append(f"Host link: {rec['host_url']}   (keep private: it admits from the lobby)")
    if rec.get("expires_at"):
        lines.append(f"Expires:   {iso(rec['expires_at'])}")
    warn(rec)
    output(args, rec, "\n".join(lines))


def run(args: argparse.Namespace, b: Any) -> None:
    a = args.action
    if a == "create":
        _create(args, b)
    elif a == "list":
        output(args, b.list_links(args.tenant))
    else:
        if not args.link:
            raise SystemExit(f"castellan: link {a} needs LINK")
        if a == "show":
            output(args, b.get_link(args.tenant, args.link))
        else:
            output(args, b.revoke_link(args.tenant, args.link, args.end_meeting))
