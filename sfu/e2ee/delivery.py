"""The MLS Delivery Service of one room (docs/e2ee.md): it orders handshake messages and keeps what a joiner or a
member that missed messages needs. Pure: each call returns the deliveries to make; the signalling sends them.

The node sees only opaque blobs, so what it believes about the group is a hint for liveness, never for security:
`members` is the creator plus the joiners of accepted commits, minus who left the room. Members check every
commit themselves (MLS signatures, the link PSK); the worst a lying node does here is stall the meeting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sfu.e2ee.messages import Commit, Create, EpochApplied, Handover, Handshake, KeyPackage, Sync, WelcomePart

KEPT_COMMITS = 64  # the last commits kept for `mls_sync`
KEPT_BYTES = 4 * 1024 * 1024  # ... and at most this many characters of them
# waiting KeyPackages replayed to one member at once (after a sync, a Welcome, a creation): the newest ones. A
# 1,000-member join storm has ~1,000 waiting; replaying all with the kept commits would pass the participant's
# outbox (sfu/participant.py OUTBOX_SIZE, 1,024) in one go, close its socket as too slow, and do it again on every
# resume. Those held back were broadcast when they arrived, so the other members hold them; they are counted.
MAX_REPLAYED_REQUESTS = 256


@dataclass(frozen=True)
class Delivery:
    message: dict[str, Any]
    to: str | None = None  # one participant; None: everyone present but `exclude`
    exclude: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one handshake message did: `accepted`, or why not (a metric label), and what to send."""

    verdict: str
    deliveries: list[Delivery]
    held_back: int = 0  # waiting KeyPackages not replayed (MAX_REPLAYED_REQUESTS)


@dataclass(frozen=True)
class KeptCommit:
    epoch: int  # the epoch it was made in
    sender: str
    commit: str


@dataclass
class PartedWelcome:
    """An accepted commit whose Welcome comes in parts: the parts still expected from its committer."""

    epoch: int
    parts: int
    joiners: tuple[str, ...]
    sent: set[int] = field(default_factory=set)


@dataclass
class GroupLog:
    epoch: int | None = None  # the room's current epoch; None: no group yet (or reset)
    members: set[str] = field(default_factory=set)
    commits: deque[KeptCommit] = field(default_factory=deque)
    kept_bytes: int = 0
    key_packages: dict[str, KeyPackage] = field(default_factory=dict)  # the newest per participant not yet added
    group_info: str | None = None  # the GroupInfo the newest accepted commit carried (sent with `mls_resync`)
    applied: dict[str, int] = field(default_factory=dict)  # the epoch each member says it reached (`mls_epoch`)
    parted: dict[str, PartedWelcome] = field(default_factory=dict)  # by committer
    held_back: int = 0  # waiting KeyPackages not replayed so far (counted into Outcome.held_back)

    def handle(self, sender: str, m: Handshake, present: Collection[str]) -> Outcome:
        """`present`: the participant ids in the room (the sender included)."""
        self.held_back = 0
        out = self._handle(sender, m, present)
        return Outcome(out.verdict, out.deliveries, self.held_back) if self.held_back else out

    def _handle(self, sender: str, m: Handshake, present: Collection[str]) -> Outcome:
        if isinstance(m, Create):
            return self._create(sender, present)
        if isinstance(m, KeyPackage):
            return self._key_package(sender, m, present)
        if isinstance(m, Commit):
            return self._commit(sender, m, present)
        if isinstance(m, WelcomePart):
            return self._welcome_part(sender, m, present)
        if isinstance(m, Handover):
            return self._handover(sender, m, present)
        if isinstance(m, EpochApplied):
            if self.epoch is None or m.epoch > self.epoch or sender not in self.members:
                return Outcome("not_member" if self.epoch is not None else "no_group", [])
            self.applied[sender] = m.epoch
            return Outcome("accepted", [])
        return self._sync(sender, m, present)

    # ---- the group's start and end

    def _create(self, sender: str, present: Collection[str]) -> Outcome:
        if self.epoch is not None:  # the first mls_create of a room wins
            return Outcome("group_exists", [_rejected(sender, self.epoch, "group_exists")])
        self.epoch = 0
        self.members = {sender}
        self.key_packages.pop(sender, None)
        return Outcome("accepted", [Delivery({"type": "mls_created", "epoch": 0}, to=sender),
                                    *self._pending_requests(sender, present)])

    def reset(self, present: Collection[str]) -> list[Delivery]:
        """Nobody the node knows as a member is left: the group is gone. Everyone present is told to make a
        new one (`mls_resync` with a null epoch); the first `mls_create` wins again."""
        self.epoch = None
        self.members.clear()
        self.commits.clear()
        self.kept_bytes = 0
        self.group_info = None
        self.applied.clear()
        self.parted.clear()
        return [Delivery({"type": "mls_resync", "epoch": None}, to=p) for p in present]

    def carry_on(self, seen: GroupLog, members: Collection[str]) -> None:
        """This node becomes the home of a group another node ordered (the old home died, the meeting was
        re-placed here: sfu/cascade/witness.py): it orders on from the epoch, commits and GroupInfo `seen` there,
        counting as members those of `members` seen in the group. Nothing is sent: the members are in that epoch
        already, and their next commit (removing who the dead home carried) is its next one."""
        self.epoch = seen.epoch
        self.members = seen.members & set(members)
        self.commits = deque(seen.commits)
        self.kept_bytes = seen.kept_bytes
        self.group_info = seen.group_info
        self.key_packages.clear()
        self.applied.clear()
        self.parted.clear()

    def resync(self, to: str) -> Delivery:
        """Tells a member that what it missed is no longer kept. Members act on it only with the evidence it
        carries: the newest GroupInfo, signed by a member (docs/e2ee.md); the node's word alone moves nobody."""
        msg: dict[str, Any] = {"type": "mls_resync", "epoch": self.epoch}
        if self.group_info is not None:
            msg["group_info"] = self.group_info
        return Delivery(msg, to=to)

    def left(self, participant: str, present: Collection[str]) -> list[Delivery]:
        """A participant left the room (`present`: who remains)."""
        self.key_packages.pop(participant, None)
        self.applied.pop(participant, None)
        out: list[Delivery] = []
        unfinished = self.parted.pop(participant, None)
        if unfinished is not None:  # its joiners will never get the whole Welcome: they ask again
            out += [self.resync(j) for j in unfinished.joiners if j in present]
        self.members.discard(participant)
        if self.epoch is not None and not self.members and present:
            return self.reset(present)
        return out

    # ---- joining

    def _key_package(self, sender: str, m: KeyPackage, present: Collection[str]) -> Outcome:
        if self.epoch is None:
            return Outcome("no_group", [Delivery({"type": "mls_resync", "epoch": None}, to=sender)])
        self.key_packages[sender] = m
        out: list[Delivery] = []
        if sender in self.members:  # a member that lost its state asks again: not a member until added
            self.members.discard(sender)
            self.applied.pop(sender, None)
            if not self.members:
                return Outcome("accepted", self.reset(present))
        out.append(Delivery(_join_request(sender, m), exclude=sender))
        return Outcome("accepted", out)

    def _pending_requests(self, to: str, present: Collection[str]) -> list[Delivery]:
        """The KeyPackages of participants still waiting to be added, for a member that may have missed them
        (the newest MAX_REPLAYED_REQUESTS; `held_back` counts the rest)."""
        waiting = [(p, kp) for p, kp in self.key_packages.items() if p != to and p in present]
        self.held_back += max(0, len(waiting) - MAX_REPLAYED_REQUESTS)
        return [Delivery(_join_request(p, kp), to=to) for p, kp in waiting[-MAX_REPLAYED_REQUESTS:]]

    def _handover(self, sender: str, m: Handover, present: Collection[str]) -> Outcome:
        """A member's handover to a recorder waiting to be added (docs/recording.md): to `to` alone, never to the
        room. From anyone but a member, or to anyone but a present participant whose KeyPackage waits, it is
        dropped and counted: only a member can have sealed anything worth relaying, and only to a joiner."""
        if self.epoch is None:
            return Outcome("no_group", [])
        if sender not in self.members:
            return Outcome("not_member", [])
        if m.to == sender or m.to not in present or m.to not in self.key_packages:
            return Outcome("no_joiner", [])
        return Outcome("accepted", [Delivery({"type": "mls_handover", "from": sender, "data": m.data}, to=m.to)])

    # ---- ordering

    def _commit(self, sender: str, m: Commit, present: Collection[str]) -> Outcome:
        if self.epoch is None:
            return Outcome("no_group", [_rejected(sender, None, "no_group")])
        if sender not in self.members:
            return Outcome("not_member", [_rejected(sender, self.epoch, "not_member")])
        if m.epoch != self.epoch:  # one commit per epoch wins; the losers catch up and retry
            return Outcome("stale_epoch", [_rejected(sender, self.epoch, "stale_epoch")])
        self.epoch += 1
        self.keep(KeptCommit(m.epoch, sender, m.commit))
        if m.group_info is not None:
            self.group_info = m.group_info
        joiners = tuple(j for j in m.joiners if j in present and j != sender)
        self.members.update(joiners)
        out = [Delivery({"type": "mls_commit_accepted", "epoch": m.epoch}, to=sender),
               Delivery({"type": "mls_commit", "from": sender, "epoch": m.epoch, "commit": m.commit},
                        exclude=sender)]
        if m.welcome is not None:
            for j in joiners:
                out.append(Delivery({"type": "mls_welcome", "from": sender, "epoch": m.epoch, "data": m.welcome},
                                    to=j))
            out += self._welcomed(joiners, present)
        elif m.welcome_parts:
            self.parted[sender] = PartedWelcome(m.epoch, m.welcome_parts, joiners)
        else:
            out += self._welcomed(joiners, present)
        return Outcome("accepted", out)

    def _welcomed(self, joiners: tuple[str, ...], present: Collection[str]) -> list[Delivery]:
        for j in joiners:
            self.key_packages.pop(j, None)
        return [d for j in joiners for d in self._pending_requests(j, present)]

    def _welcome_part(self, sender: str, m: WelcomePart, present: Collection[str]) -> Outcome:
        w = self.parted.get(sender)
        if w is None or w.epoch != m.epoch or m.index >= w.parts or m.index in w.sent:
            return Outcome("orphan_part", [])  # of a rejected commit, or a repeat: dropped
        w.sent.add(m.index)
        out = [Delivery({"type": "mls_welcome", "from": sender, "epoch": m.epoch, "data": m.data, "part": m.index,
                         "parts": w.parts}, to=j) for j in w.joiners if j in present]
        if len(w.sent) == w.parts:
            del self.parted[sender]
            out += self._welcomed(w.joiners, present)
        return Outcome("accepted", out)

    def keep(self, c: KeptCommit) -> None:
        """Keeps an accepted commit for `mls_sync` (the newest KEPT_COMMITS, KEPT_BYTES at most)."""
        self.commits.append(c)
        self.kept_bytes += len(c.commit)
        while self.commits and (len(self.commits) > KEPT_COMMITS or self.kept_bytes > KEPT_BYTES):
            self.kept_bytes -= len(self.commits.popleft().commit)

    # ---- catching up

    def _sync(self, sender: str, m: Sync, present: Collection[str]) -> Outcome:
        if self.epoch is None:
            return Outcome("no_group", [Delivery({"type": "mls_resync", "epoch": None}, to=sender)])
        if m.since > self.epoch:
            return Outcome("stale_epoch", [])  # ahead of the room: nothing the node could send
        oldest = self.commits[0].epoch if self.commits else self.epoch
        if m.since < oldest:  # what it missed is gone: it rejoins
            return Outcome("resync", [self.resync(sender)])
        out = [Delivery({"type": "mls_commit", "from": c.sender, "epoch": c.epoch, "commit": c.commit}, to=sender)
               for c in self.commits if c.epoch >= m.since]
        return Outcome("accepted", out + self._pending_requests(sender, present))


def _join_request(sender: str, m: KeyPackage) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "mls_join_request", "from": sender, "data": m.data}
    if m.proof is not None:
        msg["proof"] = m.proof
    if m.attestation is not None:
        msg["attestation"] = m.attestation
    return msg


def _rejected(to: str, epoch: int | None, reason: str) -> Delivery:
    return Delivery({"type": "mls_commit_rejected", "epoch": epoch, "reason": reason}, to=to)
