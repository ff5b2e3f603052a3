"""What a far node saw of its meeting's MLS group at the home (issue 14): enough to carry the group on if the home
dies and the registry re-places the meeting here (sfu/cascade/handshakes.py, docs/e2ee.md "A meeting across
nodes"). Pure: fed the Delivery Service's messages the home sent this node's participants (`delivered`) and the
handshakes this node forwarded to the home (`sent`).

Why: the far node's own Delivery Service has no group (the home ordered everything). Promoted to home with nothing,
it answered its members' next commit `no_group` and let a rejoining participant's `mls_create` win, so the
surviving members sat in their old epoch beside a one-member group. With what it saw, the new home orders on from
the epoch its members are in: their next commit (removing the members the dead home carried, adding whoever
rejoins) is the group's next epoch, validated by every member as any commit is. No member is told to drop or
re-create its group: there is no "reset" a node could abuse (a member still refuses "no group" while others are
in its roster, signalling/client/e2ee/group.js).

All of it is a hint for liveness, like the home's own count: a lying home could feed wrong epochs, and the only
cost is a stalled group (members check every commit themselves). What a participant sent the home and got no
answer to — its `mls_create` or KeyPackage, lost with the home's link — is ordered again by the new home, as the
handshakes that waited for a link are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from sfu.e2ee.delivery import GroupLog, KeptCommit
from sfu.e2ee.messages import MAX_EPOCH, MAX_ID, Commit, Create, Handshake, KeyPackage


@dataclass
class Witness:
    group: GroupLog = field(default_factory=GroupLog)  # the home's group as its deliveries here showed it
    # a participant's latest `mls_create` or KeyPackage forwarded to the home and not answered yet (a creation, a
    # Welcome, `group_exists`, a "no group" resync): lost if the home dies with it, so the new home orders it again
    unanswered: dict[str, Create | KeyPackage] = field(default_factory=dict)
    # a participant's commit awaiting its verdict: (its epoch, SHA-256 of the commit, its GroupInfo), the GroupInfo
    # kept once it is accepted (the evidence a member that fell behind rejoins on)
    committing: dict[str, tuple[int, bytes, str | None]] = field(default_factory=dict)

    def sent(self, sender: str, m: Handshake) -> None:
        """`sender`, a participant of this node, had `m` forwarded to the home."""
        if isinstance(m, Create | KeyPackage):
            self.unanswered[sender] = m
            if isinstance(m, KeyPackage):  # a member that lost its state asks again: not a member until added
                self.group.members.discard(sender)
        elif isinstance(m, Commit):
            self.committing[sender] = (m.epoch, _digest(m.commit), m.group_info)

    def delivered(self, message: dict[str, Any], to: str | None) -> None:
        """The home delivered `message` (one of the Delivery Service's types) to participant `to` here, or to
        everyone (None). Malformed fields are ignored: the home is the group's orderer, not to be parsed blindly."""
        kind, g = message.get("type"), self.group
        epoch = message.get("epoch")
        if not (isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch < MAX_EPOCH):
            epoch = None  # (the epoch after it must be one a member can name)
        if kind == "mls_commit":
            sender, commit = message.get("from"), message.get("commit")
            if epoch is None or not _id(sender) or not isinstance(commit, str):
                return
            if g.epoch is not None and epoch < g.epoch:
                return  # one a member asked for again (`mls_sync`): seen already
            if g.epoch != epoch:  # a gap (this node came in later): what it kept would not follow on
                g.commits.clear()
                g.kept_bytes = 0
            g.epoch = epoch + 1
            g.keep(KeptCommit(epoch, sender, commit))
            g.members.add(sender)
            mine = self.committing.get(sender)
            if mine is not None and mine[:2] == (epoch, _digest(commit)):
                del self.committing[sender]
                if mine[2] is not None:
                    g.group_info = mine[2]
            return
        if to is None or not _id(to) or (epoch is None and kind in ("mls_created", "mls_commit_accepted",
                                                                       "mls_welcome")):
            return
        if kind == "mls_created" and epoch == 0:
            g.epoch, g.members, g.group_info = 0, {to}, None
            g.commits.clear()
            g.kept_bytes = 0
            self.unanswered.pop(to, None)
        elif kind == "mls_commit_accepted":
            g.members.add(to)
            mine = self.committing.get(to)
            if mine is not None and mine[0] == epoch and mine[2] is not None:
                g.group_info = mine[2]
        elif kind == "mls_commit_rejected":
            self.committing.pop(to, None)
            if message.get("reason") == "group_exists":
                self.unanswered.pop(to, None)
        elif kind == "mls_welcome":
            g.members.add(to)
            self.unanswered.pop(to, None)
        elif kind == "mls_resync" and message.get("epoch") is None:  # the home has no group (any more)
            g.epoch, g.group_info = None, None
            g.members.clear()
            g.commits.clear()
            g.kept_bytes = 0
            self.unanswered.pop(to, None)

    def forget(self, present: Collection[str]) -> None:
        """Drops what concerns participants no longer in the room."""
        for table in (self.unanswered, self.committing):
            for pid in [p for p in table if p not in present]:
                del table[pid]

    def hand_over(self, to: GroupLog, local: Collection[str]) -> list[tuple[str, Handshake]]:
        """This node is the home now: `to` (its room's Delivery Service) orders on from the group seen here, its
        members those of `local` (this node's participants) it saw in the group; returns the handshakes to order
        again (each unanswered one of a participant of `local` not counted a member), oldest first."""
        if self.group.epoch is not None:
            to.carry_on(self.group, set(local))
        return [(p, m) for p, m in self.unanswered.items() if p in local and p not in to.members]


def _digest(commit: str) -> bytes:
    return hashlib.sha256(commit.encode()).digest()


def _id(v: object) -> TypeGuard[str]:
    return isinstance(v, str) and 0 < len(v) <= MAX_ID
