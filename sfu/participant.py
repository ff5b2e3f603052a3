"""A participant: one person's (or bot's) WebRTC transport on this node, and its two explicit states.

`signalling` follows the WebSocket (attached → detached within the resume grace → left); `media` follows the
DTLS handshake (new → ready once SRTP keys are set, or failed). The transport state (ICE credentials, the bound
media address, DTLS), the negotiated publications and subscriptions, and the downlink estimate hang off it.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfu.congestion.downlink import Downlink
from sfu.congestion.twcc import FeedbackBuilder

if TYPE_CHECKING:
    from sfu.negotiation.sdp import MediaSection, Negotiated
    from sfu.ratelimit import TokenBucket
    from sfu.room import Room
    from sfu.subscription import Subscription
    from sfu.track import Track
    from sfu.transport.dtls import DtlsSession
    from sfu.transport.handshakes import Handshake


OUTBOX_SIZE = 1024  # signalling messages queued for one socket; one more closes it as too slow (see send)


class SignallingState(enum.Enum):
    ATTACHED = "attached"  # the WebSocket is open
    DETACHED = "detached"  # it dropped; media goes on and the participant may resume within the grace period
    LEFT = "left"  # gone for good: every engine entry removed


class MediaState(enum.Enum):
    NEW = "new"  # no SRTP keys yet (ICE/DTLS under way)
    READY = "ready"  # DTLS done, SRTP keys in the engine
    FAILED = "failed"  # DTLS failed (a fingerprint mismatch, a bad handshake)


@dataclass
class Participant:
    id: str
    name: str
    room: Room
    peer: int  # engine peer index
    tenant: str
    worker: int = 0  # the media worker that owns its peer (sfu/workers.py)
    host: bool = False  # the join token's `host` claim: may use the host controls (sfu/host.py)
    recorder: bool = False  # the join token's role is `recorder` (sfu/recording.py); never from a name or a message
    # a recorder's join token as the control plane signed it: presented on relay links so other nodes mark it too
    # (sfu/cascade/roles.py); empty for everyone else
    credential: str = field(default="", repr=False)
    signalling: SignallingState = SignallingState.ATTACHED
    media: MediaState = MediaState.NEW
    resume_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ice_ufrag: str = ""
    ice_pwd: str = ""
    remote_ufrag: str = ""
    remote_pwd: str = ""  # its ice-pwd: the node's own checks (path verification) are signed with it
    remote_fingerprints: list[tuple[str, str]] = field(default_factory=list)
    dtls: DtlsSession | None = None
    handshake: Handshake | None = None  # its DTLS session as the handshake thread drives it (transport/handshakes.py)
    media_address: tuple[str, int] | None = None
    address_seen: float = 0.0
    offer_version: int = 0
    session_id: int = field(default_factory=lambda: secrets.randbits(62))
    published: dict[str, Track] = field(default_factory=dict)  # mid -> track
    pending_publications: dict[str, tuple[MediaSection, Negotiated]] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # mid -> subscription
    ext_ids: dict[str, int] = field(default_factory=dict)  # uri -> id, BUNDLE-wide, from the offer
    downlink: Downlink = field(default_factory=Downlink)  # what the node sends it: estimate, probes
    twcc_feedback: FeedbackBuilder | None = None  # transport-cc feedback for what this participant sends
    # wall-clock offset of this publisher's NTP clock from ours: the smallest (arrival - SR time) seen, i.e. the
    # least-delayed SR; one value per publisher so its audio and video stay mutually in sync
    clock_offsets: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    # what is queued for the attached socket: a new queue for every (re)attachment, so a socket that is being
    # replaced can never take what belongs to the next one
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=OUTBOX_SIZE))
    attachment: int = 0  # counts (re)attachments: the socket of attachment N acts for the participant only while N is current
    on_overflow: Callable[[], None] | None = None  # set by the socket's owner: close that socket (too slow)
    on_replaced: Callable[[], None] | None = None  # ... close that socket: another one resumed the participant
    overflows: int = 0
    relay_budget: TokenBucket | None = None  # what it may relay to the room (chat, mute); set by the signalling
    handshake_budget: TokenBucket | None = None  # ... and what MLS handshake messages (`mls_*`) it may send
    detached_at: float = 0.0
    joined_at: float = field(default_factory=time.time)
    # a publisher on another node of a cascaded meeting, seen here through the relay with that node (its id):
    # no socket, no transport of its own (`peer` is the relay link's), removed only by the relay
    # (sfu/cascade/members.py), never by Node.leave
    relayed_from: str | None = None

    # ---- states

    @property
    def connected(self) -> bool:
        return self.signalling is SignallingState.ATTACHED

    @property
    def left(self) -> bool:
        return self.signalling is SignallingState.LEFT

    @property
    def media_ready(self) -> bool:
        return self.media is MediaState.READY

    def attach(self) -> None:
        """A WebSocket (re)attached: what was queued for the old one is dropped (a snapshot follows)."""
        replaced = self.on_replaced
        self.signalling = SignallingState.ATTACHED
        self.detached_at = 0.0
        self.attachment += 1
        self.outbox = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self.on_overflow = self.on_replaced = None
        if replaced is not None:  # the previous socket is still open (a half-open connection, a stuck client)
            replaced()

    def detach(self, now: float) -> None:
        """The socket is gone (or was closed as too slow): media goes on; the grace period starts now."""
        if self.connected:
            self.signalling = SignallingState.DETACHED
            self.detached_at = now
            self.on_overflow = self.on_replaced = None

    def mark_left(self) -> bool:
        """True the first time only."""
        if self.left:
            return False
        self.signalling = SignallingState.LEFT
        # the socket's callbacks close over this participant: dropped here, reference counting frees the session
        # (its DTLS connection, buffers, room) the moment the node lets go of it, rather than whenever the cyclic
        # collector next runs a full pass — the soak's RSS slope (issue 18, docs/reliability.md)
        self.on_overflow = self.on_replaced = None
        return True

    # ---- signalling

    def send(self, message: dict[str, Any]) -> None:
        """Queues a signalling message; a participant whose socket is gone gets a snapshot on resume instead.

        A socket that cannot keep up (OUTBOX_SIZE messages waiting) is not fed further and never loses a message
        silently: the participant is detached at once (media goes on, nothing more is queued) and its socket is
        closed as too slow (4008); the client resumes and the `joined` snapshot brings it up to date."""
        if not self.connected:
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.overflows += 1
            close = self.on_overflow
            self.detach(time.monotonic())
            if close is not None:
                close()

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name, "host": self.host}
        if self.recorder:
            d["recorder"] = True  # the roster marks the credential, not the name
        return d
