"""A room: the participants of one meeting on this node, and who is speaking.

mediasoup's words map onto the node's: a Participant owns one WebRTC transport (sfu/participant.py); a Track
is a Producer (sfu/track.py); a Subscription is a Consumer (sfu/subscription.py). The engine indexes (peer,
track, sub) are the native tables' keys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfu.allocation.speaker import SpeakerDetector
from sfu.cascade.levels import FarLevels, LevelLog
from sfu.e2ee.delivery import Delivery, GroupLog
from sfu.presence import PresenceBatch
from sfu.recording import RoomRecording

if TYPE_CHECKING:
    from sfu.participant import Participant
    from sfu.track import Track


class Shared(dict[str, Any]):
    """A message queued for many participants at once (a room broadcast): its JSON text is made once, by the first
    socket writer that sends it, not once per recipient — in a join storm every join is a message to everyone
    already in the room, so the per-recipient encoding grew with the square of the room."""

    _text: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = json.dumps(self, separators=(",", ":"), ensure_ascii=False)
        return self._text


@dataclass
class Room:
    tenant: str
    name: str
    participants: dict[str, Participant] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    speakers: SpeakerDetector = field(default_factory=SpeakerDetector)
    levels: LevelLog = field(default_factory=LevelLog)  # what detection took, for the cascade's links
    far_levels: FarLevels = field(default_factory=FarLevels)  # relayed participants' levels, from their links
    group: GroupLog = field(default_factory=GroupLog)  # the MLS Delivery Service's state; gone with the room
    locked: bool = False  # a host locked the meeting: nobody but a host joins (sfu/host.py, sfu/admission.py)
    presence: PresenceBatch = field(default_factory=PresenceBatch)  # joins and leaves not yet sent (sfu/presence.py)
    recording: RoomRecording = field(default_factory=RoomRecording)  # policy, held for the recorder (sfu/recording.py)
    # the tenant's policy could not be confirmed for longer than its lease: nothing forwarded (sfu/withdrawal.py)
    residency_held: bool = False
    # on a cascaded meeting's home: where the Delivery Service's messages for other nodes' members go, after the
    # local ones (sfu/cascade/handshakes.py); None elsewhere
    remote: Callable[[list[Delivery]], None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.name)

    def tracks(self) -> list[Track]:
        return [t for p in self.participants.values() for t in p.published.values()]

    def announce(self, change: dict[str, Any], now: float) -> None:
        """A join or leave: sent with the others of its interval (the node's ticker flushes due batches)."""
        if self.presence.add(change, now):
            self.flush_presence()

    def flush_presence(self) -> bool:
        """Sends the waiting presence changes to everyone in the room as one message; true if there were any.
        A participant whose join is in the batch gets only what came after it: its snapshot (`joined`, made at
        its join) holds the rest."""
        message = self.presence.take()
        if message is None:
            return False
        changes = message["changes"]
        at = {c["participant"]["id"]: i for i, c in enumerate(changes) if c["type"] == "participant_joined"}
        whole = Shared(message)
        tails: dict[int, Shared] = {}
        for p in self.participants.values():
            i = at.get(p.id)
            if i is None:
                p.send(whole)
            elif i + 1 < len(changes):
                if i not in tails:
                    tails[i] = Shared({"type": "presence", "changes": changes[i + 1:]})
                p.send(tails[i])
        return True

    def broadcast(self, message: dict[str, Any], exclude: Participant | None = None) -> None:
        self.flush_presence()  # nothing overtakes a presence change
        message = Shared(message)  # one object for every recipient: encoded once (never changed once queued)
        for p in self.participants.values():
            if p is not exclude:
                p.send(message)

    def deliver(self, deliveries: Iterable[Delivery]) -> int:
        """Sends the Delivery Service's messages; returns the characters queued (fan-out included)."""
        sent = 0
        deliveries = list(deliveries)
        if deliveries:
            self.flush_presence()  # an MLS message about a participant follows the change that announced it
        for d in deliveries:
            size = len(json.dumps(d.message, separators=(",", ":")))
            if d.to is not None:
                p = self.participants.get(d.to)
                if p is not None:
                    p.send(d.message)
                    sent += size
                continue
            for p in self.participants.values():
                if p.id != d.exclude:
                    p.send(d.message)
                    sent += size
        if deliveries and self.remote is not None:
            self.remote(deliveries)
        return sent
