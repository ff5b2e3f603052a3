"""Signed tree heads of a tenant's transparency log, and the heads a tenant holds.

A signed head commits to the whole log at one size (RFC 9162 "signed tree head"):

  head      = {"format": "castellan-sth-1", "log": "tenant:<id>", "tree_size", "root_hash" (hex),
               "timestamp" (ISO 8601 UTC), "key_id"}
  line      = {"head": head, "signature": base64(Ed25519(HEAD_CONTEXT || canonical(head)))}

The tenant keeps every head it was given (webhook, `castellan audit fetch`) in a JSON Lines file, and accepts a
new head only with a consistency proof from the last one it holds (or, for an older head, from it to the last
one): an operator who drops, rewrites or reorders a record, or shows different heads to different parties,
cannot produce that proof. `HeldHeads.accept` fails loudly (HeadRejected) and keeps the file unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import transparency
from .audit import canonical
from .errors import ResidencyError
from .logkey import HeadSigner
from .signing import key_id

FORMAT = "castellan-sth-1"
HEAD_CONTEXT = b"castellan-tree-head-v1\0"
HEAD_FIELDS = ("format", "log", "tree_size", "root_hash", "timestamp", "key_id")


class HeadRejected(ResidencyError):
    """A head that is not genuinely signed, or not consistent with a head already held."""


@dataclass(frozen=True)
class TreeHead:
    log: str
    tree_size: int
    root_hash: str  # hex
    timestamp: str
    key_id: str
    signature: str  # base64

    def head(self) -> dict[str, object]:
        return {"format": FORMAT, "log": self.log, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "timestamp": self.timestamp, "key_id": self.key_id}

    def to_line(self) -> dict[str, object]:
        return {"head": self.head(), "signature": self.signature}

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sign_head(signer: HeadSigner, log: str, size: int, root: bytes, timestamp: str | None = None) -> TreeHead:
    unsigned = TreeHead(log=log, tree_size=size, root_hash=root.hex(), timestamp=timestamp or _now(),
                        key_id=signer.key_id, signature="")
    sig = signer.sign(HEAD_CONTEXT + canonical(unsigned.head()))
    return TreeHead(**{**unsigned.__dict__, "signature": base64.b64encode(sig).decode()})


def parse_head(line: object, keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> TreeHead:
    """A head from its JSON line, its signature checked against one of `keys`; HeadRejected otherwise."""
    pubs = [keys] if isinstance(keys, Ed25519PublicKey) else list(keys)
    if not isinstance(line, dict) or set(line) != {"head", "signature"}:
        raise HeadRejected("head_malformed", "a signed head is {\"head\": {...}, \"signature\": \"...\"}")
    head, sig = line["head"], line["signature"]
    if (not isinstance(head, dict) or set(head) != set(HEAD_FIELDS) or head["format"] != FORMAT
            or not isinstance(head["tree_size"], int) or isinstance(head["tree_size"], bool)
            or head["tree_size"] < 0 or not all(isinstance(head[f], str) for f in ("log", "root_hash", "timestamp",
                                                                                     "key_id"))
            or len(head["root_hash"]) != 64 or not isinstance(sig, str)):
        raise HeadRejected("head_malformed", f"a head has exactly {', '.join(HEAD_FIELDS)} (format {FORMAT})")
    try:
        bytes.fromhex(head["root_hash"])
        raw = base64.b64decode(sig, validate=True)
    except (ValueError, binascii.Error):
        raise HeadRejected("head_malformed", "root_hash must be hex and the signature base64") from None
    key = next((k for k in pubs if key_id(k) == head["key_id"]), None)
    if key is None:
        raise HeadRejected("head_unknown_key", f"the head is signed by key {head['key_id']}, not by the log key "
                                               f"you hold ({', '.join(key_id(k) for k in pubs)})")
    try:
        key.verify(raw, HEAD_CONTEXT + canonical(head))
    except InvalidSignature:
        raise HeadRejected("head_bad_signature", "the head's signature does not verify with the log key") from None
    return TreeHead(log=head["log"], tree_size=head["tree_size"], root_hash=head["root_hash"],
                    timestamp=head["timestamp"], key_id=head["key_id"], signature=sig)


def check_consistent(a: TreeHead, b: TreeHead, proof: Sequence[bytes]) -> None:
    """HeadRejected unless the smaller of `a`, `b` is a prefix of the larger by `proof` (same log)."""
    if a.log != b.log:
        raise HeadRejected("head_wrong_log", f"head of log {b.log!r} where {a.log!r} was expected")
    small, large = (a, b) if a.tree_size <= b.tree_size else (b, a)
    if not transparency.verify_consistency(small.tree_size, large.tree_size, small.root, large.root, proof):
        raise HeadRejected("log_inconsistent",
                           f"the log at size {large.tree_size} (signed {large.timestamp}) is NOT an extension of "
                           f"the log at size {small.tree_size} (signed {small.timestamp}): records were removed, "
                           "changed or reordered, or different heads were shown to different parties")


def proof_from_hex(items: object) -> list[bytes]:
    if not isinstance(items, list) or not all(isinstance(x, str) and len(x) == 64 for x in items):
        raise HeadRejected("proof_malformed", "a proof is a list of 64-digit hex hashes")
    try:
        return [bytes.fromhex(x) for x in items]
    except ValueError:
        raise HeadRejected("proof_malformed", "a proof is a list of 64-digit hex hashes") from None


class HeldHeads:
    """The heads a tenant keeps (one JSON line each, oldest first). Only heads proven consistent are added."""

    def __init__(self, path: str | Path, keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> None:
        self.path = Path(path)
        self.keys = [keys] if isinstance(keys, Ed25519PublicKey) else list(keys)
        self.heads: list[TreeHead] = []
        if self.path.exists():
            for n, text in enumerate(self.path.read_text("utf-8").splitlines(), start=1):
                try:
                    obj: Any = json.loads(text)
                except ValueError:
                    raise HeadRejected("held_heads_corrupt", f"{self.path}:{n} is not JSON") from None
                self.heads.append(parse_head(obj, self.keys))

    def latest(self) -> TreeHead | None:
        return max(self.heads, key=lambda h: h.tree_size, default=None)

    def accept(self, head: TreeHead, proof: Sequence[bytes]) -> bool:
        """Add `head` if `proof` shows it consistent with the largest head held; False when already held."""
        last = self.latest()
        if last is not None:
            check_consistent(last, head, proof)
        if any(h.tree_size == head.tree_size and h.root_hash == head.root_hash for h in self.heads):
            return False
        self.heads.append(head)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text("".join(json.dumps(h.to_line(), sort_keys=True) + "\n" for h in self.heads), "utf-8")
        os.replace(tmp, self.path)
        return True
