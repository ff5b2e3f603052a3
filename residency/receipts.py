"""A node's receipt for a meeting it carried: what it forwarded, where, signed with the node's own key (the one
the operator enrolled for its region, residency/identity.py). Pure values and functions.

Why: the audit log records what the control plane *decided*; a receipt is the media path's own statement of
what it *did*. The node signs it, so the operator can keep it out of the tenant's log (a missing receipt, which
the tenant's verifier notices) but cannot write one for a node, move a node to another region, or change its
figures without the node's key.

A receipt covers one meeting on one node from its first forwarded packet to `last_packet`; counters are
cumulative, so a later receipt (hourly `interim`, then `final` when the meeting leaves the node) supersedes the
earlier ones. `seq` increases per (node, meeting). Values are ints and strings only (audit.py's canonical JSON).

  signed bytes = RECEIPT_CONTEXT || canonical(receipt without "signature")
  signature    = base64url(Ed25519(signed bytes)), no padding
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .audit import canonical
from .errors import ResidencyError
from .identity import EnrolledKey, b64, key_id, unb64

RECEIPT_CONTEXT = b"castellan-receipt-v1\0"
FORMAT = "castellan-receipt-1"
KINDS = ("interim", "final")
MAX_RELAYS = 64
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
_INT_FIELDS = ("first_packet", "last_packet", "participants", "packets", "bytes", "seq", "issued_at")
_STR_FIELDS = ("format", "kind", "meeting", "tenant", "node", "key_id", "region", "jurisdiction")
FIELDS = (*_STR_FIELDS, *_INT_FIELDS, "relays", "signature")


class ReceiptRejected(ResidencyError):
    """A receipt that is malformed, or that no enrolled key of its region vouches for."""


@dataclass(frozen=True)
class Receipt:
    meeting: str
    tenant: str
    node: str
    key_id: str
    region: str
    jurisdiction: str
    first_packet: int  # unix seconds (the node's clock)
    last_packet: int
    participants: int  # distinct participants the node served in this meeting
    packets: int  # forwarded to participants (and relays)
    bytes: int
    relays: tuple[str, ...]  # node ids this node forwarded the meeting's media to
    kind: str
    seq: int
    issued_at: int
    signature: str = ""
    format: str = FORMAT

    def unsigned(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("signature")
        d["relays"] = list(self.relays)
        return d

    def to_dict(self) -> dict[str, object]:
        return {**self.unsigned(), "signature": self.signature}


def payload(receipt: Receipt) -> bytes:
    return RECEIPT_CONTEXT + canonical(receipt.unsigned())


def sign(receipt: Receipt, key: Ed25519PrivateKey) -> Receipt:
    """The receipt under `key` (its key_id set from the key)."""
    unsigned = replace(receipt, key_id=key_id(key.public_key()), signature="")
    return replace(unsigned, signature=b64(key.sign(payload(unsigned))))


def parse(doc: object) -> Receipt:
    """A receipt from its JSON form, or ReceiptRejected("receipt_malformed") saying what is wrong."""
    if not isinstance(doc, Mapping) or set(doc) != set(FIELDS):
        raise ReceiptRejected("receipt_malformed", f"a receipt has exactly the fields {', '.join(FIELDS)}")
    for f in _STR_FIELDS:
        if not isinstance(doc[f], str) or not doc[f] or len(doc[f]) > 200:
            raise ReceiptRejected("receipt_malformed", f"{f} must be a non-empty string of at most 200 characters")
    for f in _INT_FIELDS:
        if not isinstance(doc[f], int) or isinstance(doc[f], bool) or not 0 <= doc[f] < 2**63:
            raise ReceiptRejected("receipt_malformed", f"{f} must be a non-negative integer")
    relays = doc["relays"]
    if (not isinstance(relays, list) or len(relays) > MAX_RELAYS
            or not all(isinstance(r, str) and _ID.match(r) for r in relays)):
        raise ReceiptRejected("receipt_malformed", f"relays must be a list of at most {MAX_RELAYS} node ids")
    if doc["format"] != FORMAT or doc["kind"] not in KINDS:
        raise ReceiptRejected("receipt_malformed", f"format must be {FORMAT} and kind one of {', '.join(KINDS)}")
    for f in ("meeting", "tenant", "node", "region"):
        if not _ID.match(str(doc[f])):
            raise ReceiptRejected("receipt_malformed", f"{f} is not a valid identifier")
    if not isinstance(doc["signature"], str):
        raise ReceiptRejected("receipt_malformed", "signature must be a string")
    return Receipt(**{**{k: doc[k] for k in FIELDS}, "relays": tuple(relays)})


def verify(receipt: Receipt, keys: Mapping[str, EnrolledKey],
           jurisdictions: Mapping[str, str]) -> EnrolledKey:
    """The enrolled key behind `receipt`, or ReceiptRejected: an unknown key, a bad signature, a key enrolled for
    another region than the one claimed, or a jurisdiction that is not the region's."""
    enrolled = keys.get(receipt.key_id)
    if enrolled is None:
        raise ReceiptRejected("receipt_key_unknown",
                              f"receipt of node {receipt.node!r} is signed by key {receipt.key_id}, which is not "
                              "enrolled for any region")
    try:
        enrolled.public().verify(unb64(receipt.signature), payload(receipt))
    except (InvalidSignature, binascii.Error, ValueError):
        raise ReceiptRejected("receipt_signature_invalid",
                              f"receipt of node {receipt.node!r}: the signature does not verify") from None
    if enrolled.region != receipt.region:
        raise ReceiptRejected("receipt_region_mismatch",
                              f"node {receipt.node!r} claims region {receipt.region!r}, but its key "
                              f"{enrolled.key_id} is enrolled for {enrolled.region!r}")
    if receipt.first_packet > receipt.last_packet:  # checked once signed: a node's own inconsistency
        raise ReceiptRejected("receipt_malformed", "first_packet is after last_packet")
    if jurisdictions.get(receipt.region) != receipt.jurisdiction:
        raise ReceiptRejected("receipt_jurisdiction_mismatch",
                              f"node {receipt.node!r} claims jurisdiction {receipt.jurisdiction!r} for region "
                              f"{receipt.region!r}, which is {jurisdictions.get(receipt.region)!r}")
    return enrolled
