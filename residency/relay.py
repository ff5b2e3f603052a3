"""The relay link between two nodes of one cascaded meeting: who may open it, and the keys it runs on.

Why this shape: a meeting spans nodes only inside the tenant's allowed regions, so the link must prove, before a
single media packet moves, that the other end is an enrolled node (residency/identity.py) of an allowed region
and the very node the registry names — not a node of another region, an unenrolled key, or a peer replaying
someone else's handshake. Node identities are raw Ed25519 keys enrolled per region, not certificates, so rather
than DTLS-SRTP with self-signed certificates (whose fingerprints would then need a signed channel anyway) the
nodes run a two-message SIGMA-style exchange over their signalling connection:

    offer  (A -> B): tenant, room, A, A's region and key id, B, an ephemeral X25519 key, a nonce, a time; signed by A
    accept (B -> A): the same from B's side plus the SHA-256 of A's whole signed offer; signed by B

Each side checks the other's half (`verify_hello`); both then derive, from the X25519 secret and the transcript
(HKDF-SHA256), the SRTP keys of each direction (AEAD_AES_256_GCM, the engine's profile 8: the relay is an
ordinary engine peer, so fan-out, layer filtering, NACK/RTX and PLI work across it unchanged) and the keys of
the control channel (`RelayChannel`: AES-GCM, strictly increasing sequence) that announces relayed tracks. A
forged or replayed control message is refused; a forged media packet fails SRTP authentication in the engine
and is counted as a drop. The ephemeral keys give forward secrecy: a node key stolen later opens no recorded
relay. E2EE frames stay ciphertext end to end: the relay carries them like any subscriber would.

Pure functions and values; the only state is `RelayEndpoint`'s record of nonces already accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import RelayRefused
from .identity import EnrolledKey, key_id
from .model import Node

OFFER_CONTEXT = b"castellan-relay-offer-v1\0"
ACCEPT_CONTEXT = b"castellan-relay-accept-v1\0"
KEYS_INFO = b"castellan-relay-keys-v1"
CHANNEL_AAD = b"castellan-relay-channel-v1"
MAX_AGE = 30.0  # seconds a hello stays acceptable (clock skew between nodes included)
SRTP_PROFILE = 8  # AEAD_AES_256_GCM (RFC 7714): 32-byte key + 12-byte salt
SRTP_KEY_LENGTH = 44
CONTROL_KEY_LENGTH = 32
MAX_FIELD = 128  # every text field of a hello: ids, nonces, base64 keys
MAX_MESSAGE = 16 * 1024  # a sealed control message, base64 text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class RelayHello:
    """One side's signed half of the handshake (`role` "offer" or "accept")."""

    role: str
    tenant: str
    room: str
    sender: str
    region: str
    key_id: str
    recipient: str
    ephemeral: str  # X25519 public key, base64url
    nonce: str
    at: float
    answers: str = ""  # accept only: base64url SHA-256 of the offer's signed bytes
    signature: str = ""

    def payload(self) -> bytes:
        """The exact bytes signed: every field but the signature, canonical JSON, under the role's context."""
        d = asdict(self)
        d.pop("signature")
        context = OFFER_CONTEXT if self.role == "offer" else ACCEPT_CONTEXT
        return context + json.dumps(d, sort_keys=True, separators=(",", ":")).encode()

    def signed_bytes(self) -> bytes:
        return self.payload() + self.signature.encode()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> RelayHello:
        """A hello from the wire, or RelayRefused("relay_malformed"): never a crash on bad input."""
        if not isinstance(d, Mapping):
            raise RelayRefused("relay_malformed", "a relay hello is a JSON object")
        texts = ("role", "tenant", "room", "sender", "region", "key_id", "recipient", "ephemeral", "nonce",
                 "answers", "signature")
        out: dict[str, Any] = {}
        for name in texts:
            value = d.get(name, "" if name == "answers" else None)
            limit = MAX_FIELD * 2 if name == "signature" else MAX_FIELD
            if not isinstance(value, str) or len(value) > limit or not value.isascii():
                raise RelayRefused("relay_malformed", f"relay hello field {name!r}: a string of at most {limit}")
            out[name] = value
        at = d.get("at")
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at != at:
            raise RelayRefused("relay_malformed", "relay hello field 'at': a number")
        if out["role"] not in ("offer", "accept"):
            raise RelayRefused("relay_malformed", "relay hello role: offer or accept")
        return cls(at=float(at), **out)


def _sign(key: Ed25519PrivateKey, hello: RelayHello) -> RelayHello:
    return replace(hello, signature=_b64(key.sign(hello.payload())))


def verify_hello(hello: RelayHello, *, me: str, role: str, keys: Mapping[str, EnrolledKey],
                 nodes: Mapping[str, Node], allowed: Collection[str], now: float,
                 max_age: float = MAX_AGE) -> EnrolledKey:
    """The enrolled key behind `hello`, or RelayRefused with the reason. `nodes` are the registry records the
    verifier already trusts (vouched, residency/trust.py), `allowed` the tenant's allowed regions for the room.

    The order matters: nothing of a hello is believed before its signature verifies under an enrolled key."""
    if hello.role != role:
        raise RelayRefused("relay_malformed", f"expected a relay {role}, got {hello.role!r}")
    enrolled = keys.get(hello.key_id)
    if enrolled is None:
        raise RelayRefused("relay_key_unknown", f"relay {role} from {hello.sender!r} signed with key "
                           f"{hello.key_id!r}, which is not enrolled")
    try:
        enrolled.public().verify(_unb64(hello.signature), hello.payload())
    except (InvalidSignature, binascii.Error, ValueError):
        raise RelayRefused("relay_signature_invalid", f"relay {role} from {hello.sender!r}: the signature does "
                           "not verify") from None
    if enrolled.region != hello.region:
        raise RelayRefused("relay_key_region_mismatch", f"relay {role} claims region {hello.region!r}, but key "
                           f"{enrolled.key_id} is enrolled for {enrolled.region!r}")
    record = nodes.get(hello.sender)
    if record is None or record.key_id != hello.key_id or record.region != hello.region:
        # an enrolled key of the region, but not the key the registry's (signed) record of that node names:
        # another node of the region pretending to be this one
        raise RelayRefused("relay_identity_mismatch", f"relay {role} claims to be node {hello.sender!r}, which "
                           "no trusted registry record binds to that key and region")
    if hello.recipient != me:
        raise RelayRefused("relay_wrong_recipient", f"relay {role} is addressed to {hello.recipient!r}, not {me!r}")
    if hello.region not in allowed:
        raise RelayRefused("relay_region_not_allowed", f"node {hello.sender!r} is in region {hello.region!r}, "
                           f"which tenant {hello.tenant!r} does not allow")
    if not now - max_age <= hello.at <= now + max_age:
        raise RelayRefused("relay_stale", f"relay {role} from {hello.sender!r} was made at {hello.at:.0f}, outside "
                           f"{max_age:.0f} s of {now:.0f}")
    return enrolled


@dataclass(frozen=True)
class RelayKeys:
    """What one side of an established relay installs: SRTP keys for the engine peer (`send` = its tx key,
    `receive` = its rx key, profile 8) and the control channel's keys. `peer` is the other node."""

    peer: str
    peer_region: str
    profile: int
    send: bytes
    receive: bytes
    control_send: bytes
    control_receive: bytes

    def channel(self, lane: int = 0, max_message: int = 0) -> RelayChannel:
        """The control channel's `lane` (0: track announcements; 1: the meeting's MLS handshakes and roster,
        sfu/cascade/handshakes.py): the same keys, nonces that never meet (the lane is the nonce's first 4 bytes,
        and in the AAD), its own sequence; a message sealed for one lane does not open on another."""
        return RelayChannel(self.control_send, self.control_receive, lane, max_message or MAX_MESSAGE)


def _derive(secret: bytes, offer: RelayHello, accept: RelayHello, *, offerer: bool) -> RelayKeys:
    salt = hashlib.sha256(offer.signed_bytes() + b"\0" + accept.signed_bytes()).digest()
    n = SRTP_KEY_LENGTH
    okm = HKDF(algorithm=hashes.SHA256(), length=2 * n + 2 * CONTROL_KEY_LENGTH, salt=salt,
               info=KEYS_INFO).derive(secret)
    o2a, a2o = okm[:n], okm[n:2 * n]
    c_o2a, c_a2o = okm[2 * n:2 * n + CONTROL_KEY_LENGTH], okm[2 * n + CONTROL_KEY_LENGTH:]
    other = accept if offerer else offer
    if offerer:
        return RelayKeys(other.sender, other.region, SRTP_PROFILE, o2a, a2o, c_o2a, c_a2o)
    return RelayKeys(other.sender, other.region, SRTP_PROFILE, a2o, o2a, c_a2o, c_o2a)


def _exchange(private: X25519PrivateKey, public_text: str) -> bytes:
    try:
        public = X25519PublicKey.from_public_bytes(_unb64(public_text))
        secret = private.exchange(public)
    except (binascii.Error, ValueError):
        raise RelayRefused("relay_malformed", "the relay hello's ephemeral key is not an X25519 public key") from None
    return secret


@dataclass
class PendingOffer:
    """An offer sent and not yet answered: what `RelayEndpoint.finish` needs."""

    offer: RelayHello
    ephemeral: X25519PrivateKey


@dataclass
class RelayEndpoint:
    """One node's side of relay handshakes: signs with its enrolled key, remembers accepted nonces (a replayed
    offer is refused even inside its freshness window)."""

    node: str
    region: str
    key: Ed25519PrivateKey
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def offer(self, tenant: str, room: str, to: str, now: float) -> PendingOffer:
        eph = X25519PrivateKey.generate()
        hello = RelayHello("offer", tenant, room, self.node, self.region, self.key_id, to,
                           _b64(eph.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)),
                           secrets.token_urlsafe(18), now)
        return PendingOffer(_sign(self.key, hello), eph)

    def _remember(self, hello: RelayHello, now: float, max_age: float) -> None:
        self._seen = {k: t for k, t in self._seen.items() if t >= now - 2 * max_age}
        if (hello.sender, hello.nonce) in self._seen:
            raise RelayRefused("relay_replayed", f"relay {hello.role} from {hello.sender!r} was accepted already")
        self._seen[(hello.sender, hello.nonce)] = now

    def accept(self, offer: RelayHello, *, keys: Mapping[str, EnrolledKey], nodes: Mapping[str, Node],
               allowed: Collection[str], now: float, max_age: float = MAX_AGE,
               rooms: Collection[tuple[str, str]] | None = None) -> tuple[RelayHello, RelayKeys]:
        """Answer a verified offer: the signed accept to send back and this side's keys. A node whose own
        region the tenant does not allow refuses too (it must not take any part of the meeting). `rooms`: the
        (tenant, room) pairs this node carries; an offer for another one is refused (`relay_room_unknown`) —
        a node relays only meetings it has participants of, whoever asks."""
        if rooms is not None and (offer.tenant, offer.room) not in rooms:
            raise RelayRefused("relay_room_unknown", f"this node carries no meeting {offer.room!r} of tenant "
                               f"{offer.tenant!r}")
        if self.region not in allowed:
            raise RelayRefused("relay_region_not_allowed", f"this node's region {self.region!r} is not allowed "
                               f"for tenant {offer.tenant!r}")
        verify_hello(offer, me=self.node, role="offer", keys=keys, nodes=nodes, allowed=allowed, now=now,
                     max_age=max_age)
        eph = X25519PrivateKey.generate()
        secret = _exchange(eph, offer.ephemeral)
        self._remember(offer, now, max_age)
        hello = RelayHello("accept", offer.tenant, offer.room, self.node, self.region, self.key_id, offer.sender,
                           _b64(eph.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)),
                           secrets.token_urlsafe(18), now,
                           answers=_b64(hashlib.sha256(offer.signed_bytes()).digest()))
        accept = _sign(self.key, hello)
        return accept, _derive(secret, offer, accept, offerer=False)

    def finish(self, pending: PendingOffer, accept: RelayHello, *, keys: Mapping[str, EnrolledKey],
               nodes: Mapping[str, Node], allowed: Collection[str], now: float,
               max_age: float = MAX_AGE) -> RelayKeys:
        """This side's keys from the peer's accept, once it verifies and answers exactly our offer."""
        verify_hello(accept, me=self.node, role="accept", keys=keys, nodes=nodes, allowed=allowed, now=now,
                     max_age=max_age)
        offer = pending.offer
        if accept.sender != offer.recipient:
            raise RelayRefused("relay_identity_mismatch", f"the accept comes from {accept.sender!r}, the offer "
                               f"went to {offer.recipient!r}")
        if (accept.answers != _b64(hashlib.sha256(offer.signed_bytes()).digest())
                or (accept.tenant, accept.room) != (offer.tenant, offer.room)):
            raise RelayRefused("relay_transcript_mismatch", "the accept answers another offer")
        secret = _exchange(pending.ephemeral, accept.ephemeral)
        return _derive(secret, offer, accept, offerer=True)


class RelayChannel:
    """The relay's control messages (track announcements, layer requests), sealed with AES-GCM under the
    handshake's keys, each with a strictly increasing sequence number: a message that was not sealed by the
    peer of this very relay, or that was seen already, is refused — a forged one can announce no track."""

    def __init__(self, send_key: bytes, receive_key: bytes, lane: int = 0, max_message: int = MAX_MESSAGE) -> None:
        self._send = AESGCM(send_key)
        self._receive = AESGCM(receive_key)
        self._sent = 0
        self._received = 0
        self._prefix = struct.pack("!I", lane)
        self._aad = CHANNEL_AAD if lane == 0 else CHANNEL_AAD + b"/" + str(lane).encode()
        self.max_message = max_message

    def seal(self, message: Mapping[str, Any]) -> str:
        self._sent += 1
        seq = struct.pack("!Q", self._sent)
        body = json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
        return _b64(seq + self._send.encrypt(self._prefix + seq, body, self._aad))

    def open(self, sealed: object) -> dict[str, Any]:
        if not isinstance(sealed, str) or len(sealed) > self.max_message or not sealed.isascii():
            raise RelayRefused("relay_message_malformed", "a relay message is base64url text")
        try:
            raw = _unb64(sealed)
        except (binascii.Error, ValueError):
            raise RelayRefused("relay_message_malformed", "a relay message is base64url text") from None
        if len(raw) < 8 + 16:
            raise RelayRefused("relay_message_malformed", "a relay message is too short")
        (seq,) = struct.unpack("!Q", raw[:8])
        try:
            body = self._receive.decrypt(self._prefix + raw[:8], raw[8:], self._aad)
        except InvalidTag:
            raise RelayRefused("relay_message_forged", "a relay message that this relay's peer did not seal") from None
        if seq <= self._received:
            raise RelayRefused("relay_message_replayed", f"relay message {seq} arrived after {self._received}")
        self._received = seq
        try:
            message = json.loads(body)
        except ValueError:
            raise RelayRefused("relay_message_malformed", "a relay message is a JSON object") from None
        if not isinstance(message, dict):
            raise RelayRefused("relay_message_malformed", "a relay message is a JSON object")
        return message


KINDS = ("audio", "video")


MAX_LAYERS = 3  # simulcast layers one relayed track may carry (the browser client sends q/h/f)


@dataclass(frozen=True)
class RelayTrack:
    """A track the peer relays over the link: what it is, the simulcast layers it announces (ranks 0..n-1, lowest
    first), and the publishing participant (for speaker detection and last-N on this side). Each layer crosses as a
    stream of its own: layer r with SSRC `ssrc + r` (`ssrcs`), so the far node holds every layer its subscribers
    need at once and chooses per subscriber, as for a local simulcast publisher."""

    track: str
    participant: str
    kind: str
    codec: str
    ssrc: int
    layers: tuple[int, ...] = (0,)

    @property
    def ssrcs(self) -> tuple[int, ...]:
        """Each announced layer's SSRC on the link, by rank."""
        return tuple(self.ssrc + rank for rank in self.layers)

    def to_message(self) -> dict[str, Any]:
        return {"type": "track", "track": self.track, "participant": self.participant, "kind": self.kind,
                "codec": self.codec, "ssrc": self.ssrc, "layers": list(self.layers)}

    @classmethod
    def from_message(cls, m: Mapping[str, Any]) -> RelayTrack:
        """A track announcement from an opened message, or RelayRefused("relay_message_malformed")."""
        try:
            track, participant, kind, codec = (m["track"], m["participant"], m["kind"], m["codec"])
            ssrc, layers = m["ssrc"], m["layers"]
        except KeyError as e:
            raise RelayRefused("relay_message_malformed", f"a track announcement lacks {e.args[0]!r}") from None
        texts_ok = all(isinstance(t, str) and 0 < len(t) <= MAX_FIELD for t in (track, participant, codec))
        layers_ok = (isinstance(layers, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in layers)
                     and 0 < len(layers) <= MAX_LAYERS and sorted(layers) == list(range(len(layers))))
        ssrc_ok = (isinstance(ssrc, int) and not isinstance(ssrc, bool) and layers_ok
                   and 0 < ssrc and ssrc + len(layers) <= 1 << 32)
        if m.get("type") != "track" or not texts_ok or kind not in KINDS or not ssrc_ok or not layers_ok:
            raise RelayRefused("relay_message_malformed", "a track announcement: track, participant, kind "
                               "(audio/video), codec, ssrc (1..2^32-1, one per layer from it), layers (ranks "
                               f"0..n-1, n at most {MAX_LAYERS})")
        return cls(track, participant, kind, codec, ssrc, tuple(sorted(layers)))


def id_lists(value: object, max_ids: int, max_len: int, top: int, distinct: bool = False) -> bool:
    """`value` is {id (1..MAX_FIELD characters): [1..max_len whole numbers 0..top]} with at most `max_ids` ids
    (`distinct`: no number twice in a list) — a need's or levels' shape."""
    return (isinstance(value, dict) and len(value) <= max_ids
            and all(isinstance(k, str) and 0 < len(k) <= MAX_FIELD and isinstance(x, list) and 0 < len(x) <= max_len
                    and (not distinct or len(set(x)) == len(x))
                    and all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= top for r in x)
                    for k, x in value.items()))


MAX_NEEDS = 256  # tracks one need message may name (a link carries at most sfu/cascade/link.py MAX_TRACKS)


@dataclass(frozen=True)
class RelayNeed:
    """What the peer's subscribers take of the tracks this node announced on the link: track id -> the set of
    layers (ranks, 0..2) they need crossing (each subscriber its own: one on a poor downlink or a small tile takes a
    lower layer than one full screen). The whole set each time (a track left out is needed by nobody there), so a
    lost or refused message is mended by the next one."""

    tracks: Mapping[str, frozenset[int]]

    def to_message(self) -> dict[str, Any]:
        return {"type": "need", "tracks": {t: sorted(x) for t, x in sorted(self.tracks.items())}}

    @classmethod
    def from_message(cls, m: Mapping[str, Any]) -> RelayNeed:
        """A need from an opened message, or RelayRefused("relay_message_malformed")."""
        tracks = m.get("tracks")
        ok = m.get("type") == "need" and id_lists(tracks, MAX_NEEDS, MAX_LAYERS, MAX_LAYERS - 1, distinct=True)
        if not ok:
            raise RelayRefused("relay_message_malformed", f"a need: tracks, at most {MAX_NEEDS} track ids, each "
                               f"to a list of 1..{MAX_LAYERS} distinct layers 0..{MAX_LAYERS - 1}")
        assert isinstance(tracks, dict)
        return cls({t: frozenset(x) for t, x in tracks.items()})


MAX_LEVEL_SPEAKERS = 32  # participants one levels message names (only those speaking in the pass are sent)
MAX_LEVEL_VALUES = 10  # intervals per participant in one levels message (a pass holds ~5 at 100 ms)


@dataclass(frozen=True)
class RelayLevels:
    """The loudness of the peer's participants it announces audio of, per speaker-detection interval since its
    last pass (participant -> whole values 0..127, oldest first): what the far node's speaker detection takes
    where the relayed audio does not reach it (sfu/cascade/levels.py)."""

    levels: Mapping[str, tuple[int, ...]]

    def to_message(self) -> dict[str, Any]:
        return {"type": "levels", "levels": {p: list(v) for p, v in sorted(self.levels.items())}}

    @classmethod
    def from_message(cls, m: Mapping[str, Any]) -> RelayLevels:
        """Levels from an opened message, or RelayRefused("relay_message_malformed")."""
        levels = m.get("levels")
        ok = m.get("type") == "levels" and id_lists(levels, MAX_LEVEL_SPEAKERS, MAX_LEVEL_VALUES, 127)
        if not ok:
            raise RelayRefused("relay_message_malformed", f"levels: at most {MAX_LEVEL_SPEAKERS} participant ids, "
                               f"each to a list of 1..{MAX_LEVEL_VALUES} whole loudness values 0..127")
        assert isinstance(levels, dict)
        return cls({p: tuple(v) for p, v in levels.items()})


def random_ssrc() -> int:
    """An SSRC for a relayed track on the link (never 0)."""
    return int.from_bytes(os.urandom(4), "big") or 1
