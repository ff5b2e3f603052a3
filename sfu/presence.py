"""Presence: who joined and left a room, sent in batches (docs/protocol.md, `presence`; protocol 2).

Every join used to be one `participant_joined` frame to everyone already in the room, so N joins in a burst cost
about N²/2 frames (80,000 for 400 joins) and each join woke every socket writer in the same loop turn. A room now
collects its changes, in order, and sends them as one `presence` message to every participant when the oldest is
PRESENCE_INTERVAL old, when PRESENCE_BATCH_MAX are waiting, or just before any other message to the room — so a
presence change is never overtaken (an `mls_join_request` still follows its sender's join, a `mls_resync` the
leave that caused it). The changes are the version-1 messages themselves: a client replays them one by one.

A participant that joined during the batch gets only the changes after its join (its snapshot, `joined`, holds
the others). One that resumed during it may get changes its new snapshot already holds: every change sets one
participant's presence (joined = present, left = absent), so replaying them in order after the snapshot ends in
the room as it is — the last change about each participant wins, exactly as it did in the room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRESENCE_INTERVAL = 0.2  # seconds a change may wait for others before it is sent
PRESENCE_BATCH_MAX = 64  # changes in one message: a batch this long goes at once (a message stays ~10 KiB)


def joined(description: dict[str, Any]) -> dict[str, Any]:
    return {"type": "participant_joined", "participant": description}


def left(participant: str, reason: str) -> dict[str, Any]:
    return {"type": "participant_left", "participant": participant, "reason": reason}


@dataclass
class PresenceBatch:
    """One room's presence changes not yet sent, oldest first."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    since: float = 0.0  # when the oldest waiting change came

    def add(self, change: dict[str, Any], now: float) -> bool:
        """Queues a change; true when the batch is full and must go now."""
        if not self.changes:
            self.since = now
        self.changes.append(change)
        return len(self.changes) >= PRESENCE_BATCH_MAX

    def due(self, now: float) -> bool:
        return bool(self.changes) and now - self.since >= PRESENCE_INTERVAL

    def take(self) -> dict[str, Any] | None:
        """The `presence` message of every waiting change (None: nothing waits); the batch starts empty again."""
        if not self.changes:
            return None
        message = {"type": "presence", "changes": self.changes}
        self.changes = []
        return message


def apply(roster: dict[str, dict[str, Any]], message: dict[str, Any], me: str | None = None) -> int:
    """What a client does with presence — a `presence` batch, or one version-1 change: applies the changes in
    order to `roster` (id → {id, name, host}), skipping those about `me` and any malformed one. Returns how many
    it applied. The bots' and tests' reading of the protocol; the browser's is signalling/client/presence.js."""
    changes = message.get("changes") if message.get("type") == "presence" else [message]
    applied = 0
    for c in changes if isinstance(changes, list) else []:
        if not isinstance(c, dict):
            continue
        who = c.get("participant")
        if c.get("type") == "participant_joined" and isinstance(who, dict) and isinstance(who.get("id"), str):
            if who["id"] != me:
                roster[who["id"]] = who
                applied += 1
        elif c.get("type") == "participant_left" and isinstance(who, str):
            if who != me:
                roster.pop(who, None)
                applied += 1
    return applied
