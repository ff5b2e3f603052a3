"""Where browsers reach this node's signalling: the `ws_url` its registry record advertises (and the join answer
names), and the path aliases it serves so a reverse proxy can route by node without rewriting.

Two deployments (docs/deploy.md, "TLS"): the deployment's own domain terminates TLS and routes each node's
signalling to it — the chart's gateway routes `/node/<node address>/ws` (`--public-ws-url
wss://meet.example.org/node/{internal_ip}/ws`), a hand-written proxy may route `/node/<node id>/ws` — or the node
terminates TLS itself with a certificate of its own (`--tls-cert/--tls-key`, then `wss://` on its own name).
A plain `ws://` URL is for loopback and tests only: a page served over https cannot open it.
"""

from __future__ import annotations

import string
from urllib.parse import urlsplit

# What a --public-ws-url template may name.
FIELDS = ("node_id", "region", "public_ip", "public_ip_dashed", "internal_ip", "http_port")


def node_path(node_id: str) -> str:
    """The WebSocket path a routing proxy forwards unchanged (served beside `/ws`)."""
    return f"/node/{node_id}/ws"


def public_ws_url(template: str | None, *, node_id: str, region: str, public_ip: str, http_port: int,
                  tls: bool, internal_ip: str | None = None) -> str:
    """The advertised WebSocket URL. No template: the node's own address (`wss://` when it terminates TLS).
    ValueError for a template naming an unknown field or not giving a ws:/wss: URL with a host."""
    if not template:
        host = f"[{public_ip}]" if ":" in public_ip else public_ip
        return f"{'wss' if tls else 'ws'}://{host}:{http_port}/ws"
    values = {"node_id": node_id, "region": region, "public_ip": public_ip,
              "public_ip_dashed": public_ip.replace(".", "-").replace(":", "-"),
              "internal_ip": internal_ip or public_ip, "http_port": str(http_port)}
    named = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = named - set(FIELDS)
    if unknown:
        raise ValueError(f"--public-ws-url: unknown field(s) {sorted(unknown)}; known: {', '.join(FIELDS)}")
    url = template.format(**values)
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"--public-ws-url: {url!r} is not a ws:// or wss:// URL with a host")
    return url
