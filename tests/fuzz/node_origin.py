"""Node origins in the client pages' CSP: signalling.control.csp.socket_origin / parse_origins / node_origins /
client_csp on any text — a configured `--node-origins` value, or a node record's WebSocket URL from the registry
(written by nodes: hostile input). They answer an origin or ValueError, never raise anything else, and what they
answer is pasted into a header, so it must be exactly `ws(s)://host[:port]` and the policy built from it must have
exactly the fixed directives plus one connect-src.

Input: a mode byte (bit 0: wildcards allowed, as for configured origins; bit 1: the text is a comma-separated
list through parse_origins), then the text (UTF-8, invalid bytes replaced)."""

from __future__ import annotations

import re

from signalling.control.csp import client_csp, node_origins, parse_origins, socket_origin

ORIGIN = re.compile(r"wss?://(\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")
DIRECTIVES = ["default-src", "script-src", "worker-src", "style-src", "img-src", "media-src", "frame-ancestors",
              "base-uri", "form-action", "connect-src"]


def _checked(origin: str, wildcard: bool) -> None:
    if not ORIGIN.fullmatch(origin) or ("*" in origin and not wildcard):
        raise AssertionError(f"not a plain origin: {origin!r}")
    port = origin.rsplit(":", 1)[-1]
    if port.isdigit() and int(port) > 65535:
        raise AssertionError(f"port out of range: {origin!r}")


def check(data: bytes) -> None:
    if not data:
        return
    mode, text = data[0], data[1:].decode("utf-8", "replace")
    wildcard = bool(mode & 1)
    try:
        origins = parse_origins(text) if mode & 2 else (socket_origin(text, wildcard=wildcard),)
    except ValueError:
        origins = ()
    for o in origins:
        _checked(o, wildcard or bool(mode & 2))
    good, bad = node_origins([text])
    for o in good:
        _checked(o, False)
    if len(good) + len(bad) != 1:
        raise AssertionError("node_origins lost or duplicated a URL")
    policy = client_csp([*origins, *good])
    names = [d.strip().split(" ", 1)[0] for d in policy.split(";")]
    if names != DIRECTIVES or policy.count("connect-src") != 1:
        raise AssertionError(f"policy directives changed: {policy!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("node_origin")
