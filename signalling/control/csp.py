"""The Content-Security-Policy of the browser client's pages: what the client needs and nothing more.

`connect-src` names the control plane ('self') and the media nodes' WebSocket origins only, so neither a crafted
link nor injected script can open the signalling socket on another host (issue 12: a node chosen by an attacker
can tell a victim it is alone). The origins come from configuration (`--node-origins`) or from the node records
the control plane knows; both are checked here, because a value is pasted into a header: a `;` or a space in a
node's URL would add directives of its own choosing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

# CSP host-source (CSP3 §2.3.1) restricted to what a node can be: a DNS name or IPv4 address, optionally a
# leading "*." wildcard label (configured origins only), optionally a port.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
_SOCKET_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}

# every directive but connect-src; the client runs under these with no violation (tests/browser)
_FIXED = ("default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; "
          "media-src 'self' blob: mediastream:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

# a development build joins any node given in its URL (?ws=): its pages may open a socket anywhere
DEVELOPMENT_CONNECT = ("ws:", "wss:")


def socket_origin(url: str, *, wildcard: bool = False) -> str:
    """The WebSocket origin (`wss://host[:port]`) a node URL names; ValueError saying why for anything else.

    http(s) URLs give the ws(s) origin of the same host and port. Path, query and fragment are dropped (the
    policy names origins); user info, IPv6 literals and anything else outside a host name are refused.
    """
    if any(c.isspace() or c in ";,'\"" for c in url):
        raise ValueError(f"{url!r}: a node origin cannot contain spaces, ';', ',' or quotes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{url!r}: {e}") from None
    scheme = _SOCKET_SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"{url!r}: the scheme must be wss, ws, https or http")
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r}: a node origin has no user name or password")
    if not _HOST.fullmatch(host) or (host.startswith("*.") and not wildcard):
        raise ValueError(f"{url!r}: {host!r} is not a host name or IPv4 address"
                         + ("" if wildcard else " (wildcards only in configured origins)"))
    return f"{scheme}://{host.lower()}" + (f":{port}" if port is not None else "")


def parse_origins(text: str) -> tuple[str, ...]:
    """`--node-origins` / CASTELLAN_NODE_ORIGINS: comma-separated URLs or origins, `wss://*.media.example.org`
    allowed. ValueError naming the bad entry."""
    return tuple(socket_origin(u.strip(), wildcard=True) for u in text.split(",") if u.strip())


def node_origins(urls: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    """The origins of the node records' WebSocket URLs, and the URLs refused (logged and counted by the caller:
    a record written by a hostile or broken node must not widen or break the policy)."""
    good: list[str] = []
    bad: list[str] = []
    for url in urls:
        try:
            good.append(socket_origin(url))
        except ValueError:
            bad.append(url)
    return tuple(good), bad


def client_csp(connect: Iterable[str]) -> str:
    """The whole policy, with `connect-src 'self'` plus `connect` (deduplicated, in a stable order)."""
    sources = " ".join(["'self'", *sorted(set(connect))])
    return f"{_FIXED}; connect-src {sources}"
