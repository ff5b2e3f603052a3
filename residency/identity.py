"""Who a node is: its Ed25519 key, the signature over each record it writes to the registry, and the challenge
it answers. Pure functions and values (no I/O but reading/writing the node's own key file).

Why: the registry (Redis) is shared state that more parties can write than should decide where media goes. A
node record counts only when it is signed by a key the operator enrolled for the record's region, so a record
written straight into Redis — claiming `eu-1` at an attacker's address — is ignored.

What is signed (`record_payload`): every field of the record (id, region, addresses, capacity, load, state) plus
`seq` (strictly increasing per node process) and `signed_at` (the node's clock). The verifier bounds both: a
record older than the registry TTL, from the future beyond the allowed skew, or with a `seq` below one already
seen for that node is a replay (`node_record_stale` / `node_record_replayed`).

The health check is a challenge: the control plane sends a random nonce to the address in the record and the
node signs `CHALLENGE_CONTEXT | node id | nonce` — only the key holder, at that address, can answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import InvalidInput, NodeRejected
from .model import Node, check_id
from .signing import key_id as _key_id
from .signing import parse_public_keys, raw_public

RECORD_CONTEXT = b"castellan-node-record-v1\0"
CHALLENGE_CONTEXT = b"castellan-node-challenge-v1\0"
MAX_SKEW = 5.0  # seconds a node's clock may run ahead of the control plane's


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: Ed25519PublicKey) -> str:
    return _key_id(public)


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A public key as one line (raw 32 bytes, base64url): easy to paste into chart values or a CLI flag."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64(raw_public(public))


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A node's public key from its one-line form (base64url of the raw key), PEM, or a JWK."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN") or stripped.startswith("{"):
        keys = parse_public_keys(stripped)
        if len(keys) != 1:
            raise InvalidInput("invalid_node_key", "give exactly one node public key")
        return keys[0]
    try:
        raw = unb64(stripped)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput("invalid_node_key",
                           "a node public key is 32 bytes in base64url (as `castellan node-key public` prints), "
                           "a PEM public key, or a JWK")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_or_create_node_key(path: str | Path, create: bool = True) -> Ed25519PrivateKey:
    """The node's private key (PEM, PKCS#8). Created (mode 0600) when missing and `create` is set; else missing
    is an error that says what to do."""
    p = Path(path)
    if not p.exists():
        if not create:
            raise InvalidInput("node_key_missing", f"node key {p} does not exist")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return key
    try:
        loaded = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("invalid_node_key", f"{p} is not a PEM private key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise InvalidInput("invalid_node_key", f"{p} is not an Ed25519 private key")
    return loaded


@dataclass(frozen=True)
class EnrolledKey:
    """A node public key the operator enrolled for one region (nodes of that region sign with it)."""

    key_id: str
    region: str
    public_key: str  # one-line form (`public_text`)
    enrolled_by: str
    enrolled_at: float

    def public(self) -> Ed25519PublicKey:
        return parse_public_key(self.public_key)

    def to_dict(self) -> dict[str, str | float]:
        return {"key_id": self.key_id, "region": self.region, "public_key": self.public_key,
                "enrolled_by": self.enrolled_by, "enrolled_at": self.enrolled_at}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> EnrolledKey:
        return cls(key_id=str(d["key_id"]), region=str(d["region"]), public_key=str(d["public_key"]),
                   enrolled_by=str(d["enrolled_by"]), enrolled_at=float(str(d["enrolled_at"])))


def enrolled_key(region: str, public: str, *, actor: str, at: float) -> EnrolledKey:
    check_id("region", region)
    pk = parse_public_key(public)
    return EnrolledKey(key_id=key_id(pk), region=region, public_key=public_text(pk), enrolled_by=actor, enrolled_at=at)


def record_payload(node: Node) -> bytes:
    """The exact bytes a node signs: every field but the signature and the registry's own `last_heartbeat`."""
    d = dict(node.to_dict())
    for k in ("signature", "last_heartbeat"):
        d.pop(k, None)
    return RECORD_CONTEXT + json.dumps(d, sort_keys=True, separators=(",", ":")).encode()


class NodeSigner:
    """Signs a node's registry records: each with the next `seq` and the current time."""

    def __init__(self, key: Ed25519PrivateKey, seq_start: int = 0) -> None:
        self.key = key
        self.key_id = key_id(key.public_key())
        # seq starts from the wall clock in ms, so a restarted node's first record is newer than its last one
        self._seq = seq_start

    def sign(self, node: Node, now: float) -> Node:
        self._seq = max(self._seq + 1, int(now * 1000))
        unsigned = node.signed_with(key_id=self.key_id, seq=self._seq, signed_at=now, signature="")
        return unsigned.signed_with(key_id=self.key_id, seq=self._seq, signed_at=now,
                                    signature=b64(self.key.sign(record_payload(unsigned))))

    def answer(self, node_id: str, nonce: str) -> str:
        return b64(self.key.sign(challenge_payload(node_id, nonce)))


def challenge_payload(node_id: str, nonce: str) -> bytes:
    return CHALLENGE_CONTEXT + node_id.encode() + b"\0" + nonce.encode()


def verify_record(node: Node, keys: Mapping[str, EnrolledKey], *, now: float, max_age: float,
                  last_seq: int = 0) -> EnrolledKey:
    """The enrolled key that vouches for `node`, or NodeRejected with the reason (the order matters: a record
    with no valid signature is never judged on its other fields)."""
    if not node.signature or not node.key_id:
        raise NodeRejected("node_unsigned", f"node record {node.id!r} carries no signature")
    enrolled = keys.get(node.key_id)
    if enrolled is None:
        raise NodeRejected("node_key_unknown", f"node {node.id!r} signs with key {node.key_id}, which is not enrolled")
    try:
        enrolled.public().verify(unb64(node.signature), record_payload(node))
    except (InvalidSignature, binascii.Error, ValueError):
        raise NodeRejected("node_signature_invalid", f"node record {node.id!r}: the signature does not verify") from None
    if enrolled.region != node.region:
        raise NodeRejected("node_key_region_mismatch",
                           f"node {node.id!r} claims region {node.region!r}, but its key {enrolled.key_id} is "
                           f"enrolled for {enrolled.region!r}")
    if node.signed_at < now - max_age or node.signed_at > now + MAX_SKEW:
        raise NodeRejected("node_record_stale",
                           f"node record {node.id!r} was signed at {node.signed_at:.0f}, outside the "
                           f"{max_age:.0f} s window around {now:.0f}")
    if node.seq < last_seq:
        raise NodeRejected("node_record_replayed",
                           f"node record {node.id!r} has sequence {node.seq}, older than {last_seq} already seen")
    return enrolled


def verify_answer(enrolled: EnrolledKey, node_id: str, nonce: str, answer: str) -> bool:
    try:
        enrolled.public().verify(unb64(answer), challenge_payload(node_id, nonce))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


MAX_NONCE = 128


def challenge_answer(signer: NodeSigner, node_id: str, nonce: object) -> dict[str, str]:
    """What a node answers at `/identity?nonce=...` (sfu/app/identity.py), or InvalidInput for a bad nonce."""
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= MAX_NONCE or not nonce.isascii():
        raise InvalidInput("invalid_nonce", f"nonce must be 16..{MAX_NONCE} ASCII characters")
    return {"node": node_id, "key_id": signer.key_id, "signature": signer.answer(node_id, nonce)}
