"""What a node believes about the other nodes before it relays a meeting to them: the enrolled node keys (from
the control plane's `/.well-known/castellan-node-keys.json`, fetched like its JWKS — never from Redis, which
more parties can write than should decide where media goes) and the registry records those keys vouch for
(residency/identity.py `verify_record`). These are `verify_hello`'s `keys` and `nodes` (residency/relay.py).

Pure functions; a malformed key entry or a record no enrolled key vouches for is left out and counted, never a
crash — a node left out simply cannot be relayed to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from residency.errors import InvalidInput, NodeRejected
from residency.identity import EnrolledKey, enrolled_key, verify_record
from residency.model import Node

MAX_KEYS = 10_000  # a deployment's enrolled keys: far below; a bigger document is refused whole


@dataclass
class Believed:
    keys: dict[str, EnrolledKey] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count

    def _count(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def parse_node_keys(doc: object, believed: Believed | None = None) -> Believed:
    """The enrolled keys of the control plane's document; each entry must re-derive its own key id."""
    out = believed or Believed()
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or len(entries) > MAX_KEYS:
        out._count("node_keys_malformed")
        return out
    for e in entries:
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("key_id", "region", "public_key")):
            out._count("node_key_malformed")
            continue
        try:
            key = enrolled_key(e["region"], e["public_key"], actor="control-plane", at=0.0)
        except (InvalidInput, ValueError):
            out._count("node_key_malformed")
            continue
        if key.key_id != e["key_id"]:
            out._count("node_key_id_mismatch")  # a document claiming a key under another key's id
            continue
        out.keys[key.key_id] = key
    return out


def believe_records(records: Iterable[Node], believed: Believed, *, now: float, max_age: float) -> Believed:
    """Keep the registry records an enrolled key of their region vouches for (fresh; one per node id)."""
    for node in records:
        try:
            verify_record(node, believed.keys, now=now, max_age=max_age)
        except NodeRejected as e:
            believed._count(e.code)
            continue
        kept = believed.nodes.get(node.id)
        if kept is None or node.seq > kept.seq:
            believed.nodes[node.id] = node
    return believed


def believing(keys: Callable[[], Believed], records: Callable[[], Iterable[Node]], *, max_age: float,
              clock: Callable[[], float]) -> Callable[[], Believed]:
    """What to believe at each call: the current enrolled keys and the registry records they vouch for now."""

    def now() -> Believed:
        return believe_records(records(), Believed(keys=dict(keys().keys)), now=clock(), max_age=max_age)

    return now
