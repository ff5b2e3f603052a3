"""The enrolled node keys, fetched from the control plane the node already trusts for its JWKS
(`--control-plane-url`, TLS in production) and refreshed at most every `ttl` seconds; a failed refresh keeps
the last good keys (a control-plane restart must not cut running relays). I/O at the edge; the checks are in
sfu/cascade/peers.py."""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.request
from collections.abc import Callable

from sfu.cascade.peers import Believed, parse_node_keys

log = logging.getLogger("castellan.node")

PATH = "/.well-known/castellan-node-keys.json"
MAX_BYTES = 1024 * 1024


def node_keys_from_url(url: str, context: ssl.SSLContext | None = None) -> Callable[[], Believed]:
    def fetch() -> Believed:
        with urllib.request.urlopen(url.rstrip("/") + PATH, timeout=5, context=context) as r:  # noqa: S310
            return parse_node_keys(json.loads(r.read(MAX_BYTES)))

    return fetch


class NodeKeysSource:
    def __init__(self, fetch: Callable[[], Believed], ttl: float = 30.0) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._believed = Believed()
        self._at = 0.0
        self.failures = 0

    def __call__(self) -> Believed:
        if self._at == 0.0 or time.monotonic() - self._at > self._ttl:
            try:
                self._believed = self._fetch()
                self._at = time.monotonic()
            except (OSError, ValueError) as e:  # unreachable, HTTP error, not JSON: keep the last good keys
                self.failures += 1
                log.warning("node keys refresh failed: %s", e)
        return self._believed
