"""Which registry records the control plane believes: signed by an enrolled key of their region, fresh, not
replayed (residency/identity.py), and whose node answered the signed health check at the address it claims.

Everything else is ignored for placement and counted once per distinct record (`on_reject(reason)`, the
control plane's `castellan_registry_records_rejected_total{reason}`), and reported once per node and reason to
`on_first_reject` (the audit log), so an attacker rewriting a record cannot flood either.

State is per control-plane process: the highest `seq` seen per node (replays below it are refused) and the time
of each node's last answered challenge (placement needs one within `health_ttl`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from .errors import NodeRejected
from .identity import EnrolledKey, verify_answer, verify_record
from .model import Node

HEALTH_INTERVAL = 2.0  # a node is challenged again after this long
HEALTH_TTL = 10.0  # placement needs an answered challenge this recent


class Prober(Protocol):
    """Sends `nonce` to the node at the address its record names; returns the node's answer, or None."""

    def challenge(self, node: Node, nonce: str) -> str | None: ...


class NodeTrust:
    def __init__(self, prober: Prober, clock: Callable[[], float], max_age: float,
                 on_reject: Callable[[str], None] | None = None,
                 on_first_reject: Callable[[Node, NodeRejected], None] | None = None,
                 health_ttl: float = HEALTH_TTL, health_interval: float = HEALTH_INTERVAL) -> None:
        self.prober = prober
        self.clock = clock
        self.max_age = max_age
        self.health_ttl = health_ttl
        self.health_interval = health_interval
        self.on_reject = on_reject
        self.on_first_reject = on_first_reject
        self._lock = threading.Lock()
        self._keys: dict[str, EnrolledKey] = {}
        # keys of nodes registered inside this very process (`node_registered`): never persisted, and their
        # nodes need no challenge over the network (the process itself registered them)
        self._local: dict[str, EnrolledKey] = {}
        self._seq: dict[str, int] = {}
        self._last_rejected: dict[str, tuple[object, ...]] = {}
        self._reported: set[tuple[str, str]] = set()
        self._answered: dict[tuple[str, str, str], float] = {}  # (node, key, http_url) -> last answer
        self._asked: dict[tuple[str, str, str], float] = {}
        self.rejected: dict[str, int] = {}

    def set_keys(self, keys: Mapping[str, EnrolledKey]) -> None:
        with self._lock:
            self._keys = dict(keys)

    def add_local_key(self, key: EnrolledKey) -> None:
        with self._lock:
            self._local[key.key_id] = key

    def keys(self) -> dict[str, EnrolledKey]:
        with self._lock:
            return {**self._keys, **self._local}

    # -- records -------------------------------------------------------------------------------------------------
    def vouch(self, node: Node) -> EnrolledKey | None:
        """The enrolled key behind `node`, or None (the record is counted as rejected, once)."""
        with self._lock:
            try:
                enrolled = verify_record(node, {**self._keys, **self._local}, now=self.clock(), max_age=self.max_age,
                                         last_seq=self._seq.get(node.id, 0))
            except NodeRejected as e:
                self._count(node, e)
                return None
            self._seq[node.id] = max(self._seq.get(node.id, 0), node.seq)
            return enrolled

    def _count(self, node: Node, e: NodeRejected) -> None:
        fingerprint = (e.code, node.signature, node.seq, node.region, node.public_ip, node.ws_url, node.key_id)
        if self._last_rejected.get(node.id) == fingerprint:
            return  # the same record read again (every placement reads the registry): counted already
        self._last_rejected[node.id] = fingerprint
        self.rejected[e.code] = self.rejected.get(e.code, 0) + 1
        if self.on_reject is not None:
            self.on_reject(e.code)
        if self.on_first_reject is not None and (node.id, e.code) not in self._reported:
            self._reported.add((node.id, e.code))
            self.on_first_reject(node, e)

    def count_malformed(self, count: int) -> None:
        """Records the registry could not even parse (garbage written into Redis)."""
        for _ in range(count):
            self.rejected["node_record_malformed"] = self.rejected.get("node_record_malformed", 0) + 1
            if self.on_reject is not None:
                self.on_reject("node_record_malformed")

    # -- health ----------------------------------------------------------------------------------------------------
    def _health_key(self, node: Node) -> tuple[str, str, str]:
        return (node.id, node.key_id, node.http_url)

    def healthy(self, node: Node) -> bool:
        with self._lock:
            if node.key_id in self._local:
                return True
            at = self._answered.get(self._health_key(node))
        return at is not None and self.clock() - at <= self.health_ttl

    def check_health(self, nodes: Iterable[Node]) -> None:
        """Challenge every vouched node that is due (blocking network calls: run off the event loop)."""
        for node in nodes:
            enrolled = self.vouch(node)
            if enrolled is None or enrolled.key_id in self._local:
                continue
            hk = self._health_key(node)
            now = self.clock()
            with self._lock:
                if now - self._asked.get(hk, 0.0) < self.health_interval:
                    continue
                self._asked[hk] = now
            nonce = secrets.token_urlsafe(24)
            answer = self.prober.challenge(node, nonce)
            if answer is not None and verify_answer(enrolled, node.id, nonce, answer):
                with self._lock:
                    self._answered[hk] = self.clock()
            elif answer is not None:
                self._count(node, NodeRejected("node_challenge_failed",
                                               f"node {node.id!r} at {node.http_url} answered the health check "
                                               "with a signature its enrolled key does not verify"))

    def trusted(self, nodes: Iterable[Node]) -> list[tuple[Node, EnrolledKey]]:
        """Nodes the control plane may place on: vouched for, and answered the health check lately."""
        out = []
        for node in nodes:
            enrolled = self.vouch(node)
            if enrolled is not None and self.healthy(node):
                out.append((node, enrolled))
        return out
