"""The `mls_*` messages a member sends the node (docs/e2ee.md, docs/protocol.md), checked for shape and size only:
the blobs are opaque base64url (the node never parses MLS). A bad message raises `HandshakeError` with the
protocol error code the client gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_KEY_PACKAGE = 16 * 1024  # characters of base64url; a KeyPackage is ~0.3 KiB
MAX_PROOF = 64  # a KeyPackage's link proof: HMAC-SHA256, 43 characters
MAX_ATTESTATION = 128  # a recorder KeyPackage's attestation: an Ed25519 signature, 86 characters
MAX_HANDOVER = 1024  # a recorder handover: HPKE enc (32 bytes) and the sealed secrets (~170): ~300 characters
MAX_GROUP_INFO = 16 * 1024  # a GroupInfo without the tree is ~0.3 KiB
MAX_COMMIT = 240 * 1024  # a leave at 1,000 members is ~108 Ki characters; the frame is 256 KiB
MAX_WELCOME = 240 * 1024  # a Welcome in one message; larger ones come in parts
MAX_WELCOME_PART = 160 * 1024  # one part (docs/e2ee.md "Large Welcomes")
MAX_WELCOME_PARTS = 32
MAX_JOINERS = 1024  # participant ids one commit's Welcome is for
MAX_ID = 128  # characters of a participant id
MAX_EPOCH = 2**53 - 1  # JavaScript's exact integers: no epoch the client cannot count

_B64U = re.compile(r"[A-Za-z0-9_-]+")


class HandshakeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class KeyPackage:
    data: str
    proof: str | None = None  # the joiner's proof that it holds the link; members check it, the node forwards it
    # a recorder's: the tenant's recorder key's signature over its KeyPackage (docs/recording.md); forwarded as is
    attestation: str | None = None


@dataclass(frozen=True)
class Create:
    pass


@dataclass(frozen=True)
class Commit:
    epoch: int
    commit: str
    welcome: str | None
    welcome_parts: int  # 0: none, or the Welcome is `welcome`
    joiners: tuple[str, ...]
    group_info: str | None = None  # the new epoch's GroupInfo, signed by the committer: a behind member's evidence


@dataclass(frozen=True)
class WelcomePart:
    epoch: int
    index: int
    data: str


@dataclass(frozen=True)
class EpochApplied:
    epoch: int


@dataclass(frozen=True)
class Sync:
    since: int


@dataclass(frozen=True)
class Handover:
    """A member's handover to the recorder `to` (docs/recording.md): sealed to the recorder's own KeyPackage, relayed
    to `to` only."""

    to: str
    data: str


Handshake = KeyPackage | Create | Commit | WelcomePart | EpochApplied | Sync | Handover


def _blob(msg: dict[str, Any], field: str, limit: int) -> str:
    v = msg.get(field)
    if not isinstance(v, str) or not _B64U.fullmatch(v) or len(v) % 4 == 1:
        raise HandshakeError("bad_message", f"{msg['type']} needs '{field}': base64url without padding")
    if len(v) > limit:
        raise HandshakeError("mls_too_large", f"{msg['type']} '{field}' is over {limit} characters")
    return v


def _int(msg: dict[str, Any], field: str, top: int = MAX_EPOCH) -> int:
    v = msg.get(field)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= top:
        raise HandshakeError("bad_message", f"{msg['type']} needs '{field}': an integer from 0 to {top}")
    return v


def _joiners(msg: dict[str, Any]) -> tuple[str, ...]:
    v = msg.get("joiners", [])
    if not isinstance(v, list) or not all(isinstance(j, str) and 0 < len(j) <= MAX_ID for j in v):
        raise HandshakeError("bad_message", f"mls_commit 'joiners' must be a list of participant ids (≤ {MAX_ID} characters)")
    if len(v) > MAX_JOINERS:
        raise HandshakeError("mls_too_large", f"mls_commit names more than {MAX_JOINERS} joiners")
    return tuple(dict.fromkeys(v))


def parse(msg: dict[str, Any]) -> Handshake:
    """The typed message, or HandshakeError (`bad_message`, `mls_too_large`, `unknown_type`)."""
    kind = msg["type"]
    if kind == "mls_key_package":
        proof = _blob(msg, "proof", MAX_PROOF) if msg.get("proof") is not None else None
        attestation = _blob(msg, "attestation", MAX_ATTESTATION) if msg.get("attestation") is not None else None
        return KeyPackage(_blob(msg, "data", MAX_KEY_PACKAGE), proof, attestation)
    if kind == "mls_create":
        return Create()
    if kind == "mls_commit":
        epoch, commit = _int(msg, "epoch"), _blob(msg, "commit", MAX_COMMIT)
        joiners = _joiners(msg)
        welcome = _blob(msg, "welcome", MAX_WELCOME) if msg.get("welcome") is not None else None
        parts = _int(msg, "welcome_parts", MAX_WELCOME_PARTS) if msg.get("welcome_parts") is not None else 0
        if welcome is not None and parts:
            raise HandshakeError("bad_message", "mls_commit carries 'welcome' or 'welcome_parts', not both")
        if (welcome is not None or parts) and not joiners:
            raise HandshakeError("bad_message", "a Welcome needs 'joiners'")
        info = _blob(msg, "group_info", MAX_GROUP_INFO) if msg.get("group_info") is not None else None
        return Commit(epoch, commit, welcome, parts, joiners, info)
    if kind == "mls_welcome_part":
        return WelcomePart(_int(msg, "epoch"), _int(msg, "index", MAX_WELCOME_PARTS - 1),
                           _blob(msg, "data", MAX_WELCOME_PART))
    if kind == "mls_epoch":
        return EpochApplied(_int(msg, "epoch"))
    if kind == "mls_sync":
        return Sync(_int(msg, "since"))
    if kind == "mls_handover":
        to = msg.get("to")
        if not isinstance(to, str) or not 0 < len(to) <= MAX_ID:
            raise HandshakeError("bad_message", f"mls_handover needs 'to': a participant id (≤ {MAX_ID} characters)")
        return Handover(to, _blob(msg, "data", MAX_HANDOVER))
    raise HandshakeError("unknown_type", f"unknown message type {kind!r}")


def size(m: Handshake) -> int:
    """Characters of blob the message carries (its cost, and the bytes metric)."""
    if isinstance(m, KeyPackage | WelcomePart | Handover):
        return len(m.data)
    if isinstance(m, Commit):
        return len(m.commit) + len(m.welcome or "") + len(m.group_info or "")
    return 0


def to_message(m: Handshake) -> dict[str, Any]:
    """The wire message `parse` reads `m` from, with only the fields it checked: what a far node forwards to the
    meeting's home (sfu/cascade/handshakes.py), which parses it again."""
    if isinstance(m, KeyPackage):
        return {"type": "mls_key_package", "data": m.data, **({"proof": m.proof} if m.proof is not None else {}),
                **({"attestation": m.attestation} if m.attestation is not None else {})}
    if isinstance(m, Handover):
        return {"type": "mls_handover", "to": m.to, "data": m.data}
    if isinstance(m, Create):
        return {"type": "mls_create"}
    if isinstance(m, Commit):
        out: dict[str, Any] = {"type": "mls_commit", "epoch": m.epoch, "commit": m.commit, "joiners": list(m.joiners)}
        if m.welcome is not None:
            out["welcome"] = m.welcome
        if m.welcome_parts:
            out["welcome_parts"] = m.welcome_parts
        if m.group_info is not None:
            out["group_info"] = m.group_info
        return out
    if isinstance(m, WelcomePart):
        return {"type": "mls_welcome_part", "epoch": m.epoch, "index": m.index, "data": m.data}
    if isinstance(m, EpochApplied):
        return {"type": "mls_epoch", "epoch": m.epoch}
    return {"type": "mls_sync", "since": m.since}
