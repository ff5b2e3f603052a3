"""The tenant's recorder key (docs/recording.md, "Handing the link secret to the recorder"): an Ed25519 key pair
per tenant, its private half held by the tenant's recorder pools (`--recorder-key FILE`, JSON `{tenant: private key,
base64url of the 32-byte seed}`), its public half in the fragment of the links the tenant wants recorded
(`#k=<L>&r=<public key>`). A pool attests the KeyPackage its recorder page made: a signature over JSON
`["castellan recorder v1", tenant, room, participant, leaf signature key]` — the job's tenant, room and participant,
never the page's word — which the meeting's members check before they seal the link's secrets to that KeyPackage
(signalling/client/e2ee/handover.js is the other side)."""

from __future__ import annotations

import argparse
import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

LABEL = "castellan recorder v1"


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    if not isinstance(text, str) or not text or len(text) > 256 or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def attestation_message(tenant: str, room: str, participant: str, leaf_key: bytes) -> bytes:
    """Exactly the bytes the members' JSON.stringify makes (no spaces; ids are plain ASCII)."""
    return json.dumps([LABEL, tenant, room, participant, b64u(leaf_key)], separators=(",", ":"),
                      ensure_ascii=False).encode()


def attest(key: Ed25519PrivateKey, tenant: str, room: str, participant: str, leaf_key: bytes) -> str:
    if len(leaf_key) != 32:
        raise ValueError("a leaf signature key (Ed25519) is 32 bytes")
    return b64u(key.sign(attestation_message(tenant, room, participant, leaf_key)))


def public_key(key: Ed25519PrivateKey) -> str:
    """The public half, as the link's `r=` carries it."""
    return b64u(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def private_key(text: str) -> Ed25519PrivateKey:
    seed = unb64u(text)
    if len(seed) != 32:
        raise ValueError("a recorder key is a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def new_key() -> tuple[str, str]:
    """(private, public), both base64url: what `castellan recorder-key new` prints."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    return b64u(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())), public_key(key)


class RecorderKeys:
    """The recorder keys of the tenants this pool records for, read at each job start (a rotated key is used at
    once). A tenant with none here is recorded only where the pool has the link's secret (`--link-secrets`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, tenant: str) -> Ed25519PrivateKey | None:
        try:
            data = json.loads(self.path.read_text())
            v = data.get(tenant) if isinstance(data, dict) else None
            return private_key(v) if isinstance(v, str) else None
        except (OSError, ValueError):
            return None


def main(argv: Sequence[str] | None = None) -> int:
    """`castellan recorder-key new --tenant T --out FILE`: a tenant's recorder key pair. The private half is added
    to FILE (JSON `{tenant: key}`, mode 0600: the pools' `--recorder-key`); the public half is printed, for the
    links the tenant wants recorded (`castellan link create --recorder-public-key KEY`)."""
    ap = argparse.ArgumentParser(prog="castellan recorder-key", description="a tenant's recorder key pair")
    ap.add_argument("action", choices=["new"])
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--out", required=True, help="the pools' --recorder-key file (created, or the tenant added)")
    args = ap.parse_args(argv)
    path = Path(args.out)
    keys: dict[str, str] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except ValueError:
            ap.error(f"{path} is not JSON: nothing written")
        if not isinstance(loaded, dict):
            ap.error(f"{path} is not a JSON object: nothing written")
        keys = loaded
    if args.tenant in keys:
        ap.error(f"{path} has a recorder key for {args.tenant} already: remove it first to replace it")
    priv, pub = new_key()
    keys[args.tenant] = priv
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f)
    print(pub)
    return 0
