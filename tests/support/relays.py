"""Relay keys from the real handshake (residency/relay.py) between nodes with real, enrolled Ed25519 keys and
signed registry records — for the tests that put relays into engines."""

from __future__ import annotations

import time
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.identity import EnrolledKey, NodeSigner, enrolled_key, public_text
from residency.model import Node
from residency.relay import RelayEndpoint, RelayKeys

ALLOWED = frozenset({"eu-1", "eu-2"})


def relay_keys(pairs: Iterable[tuple[str, str]], allowed: frozenset[str] = ALLOWED) -> list[tuple[RelayKeys, RelayKeys]]:
    """For each (offerer, accepter) node id — named "<region>-<letter>", e.g. "eu-1-a" — both sides' keys."""
    pairs = list(pairs)
    keys: dict[str, EnrolledKey] = {}
    records: dict[str, Node] = {}
    eps: dict[str, RelayEndpoint] = {}
    now = time.time()
    for node_id in sorted({n for p in pairs for n in p}):
        region = node_id.rsplit("-", 1)[0]
        k = Ed25519PrivateKey.generate()
        ek = enrolled_key(region, public_text(k), actor="operator", at=now)
        keys[ek.key_id] = ek
        records[node_id] = NodeSigner(k).sign(
            Node(node_id, region, "127.0.0.1", 40000, f"ws://127.0.0.1/{node_id}/ws", f"http://127.0.0.1/{node_id}"),
            now)
        eps[node_id] = RelayEndpoint(node_id, region, k)
    out = []
    for a, b in pairs:
        pending = eps[a].offer("eurocorp", "board", b, now)
        accept, kb = eps[b].accept(pending.offer, keys=keys, nodes=records, allowed=allowed, now=now)
        out.append((eps[a].finish(pending, accept, keys=keys, nodes=records, allowed=allowed, now=now), kb))
    return out
