"""What a far node keeps of its home's MLS group (sfu/cascade/witness.py), fed the Delivery Service's messages as
sfu/cascade/handshakes.py hands them over, and what the new home orders from once it carries the group on. The
home may lie: whatever it sends, malformed or absurd, costs no crash and no epoch a member could not name."""

from __future__ import annotations

import base64
import os

from sfu.cascade.witness import Witness
from sfu.e2ee.delivery import GroupLog
from sfu.e2ee.messages import MAX_EPOCH, Commit, Create, EpochApplied, KeyPackage


def _blob(n: int = 48) -> str:
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()


def _commit(epoch: int, sender: str, commit: str) -> dict[str, object]:
    return {"type": "mls_commit", "from": sender, "epoch": epoch, "commit": commit}


def test_it_follows_the_homes_group_and_the_new_home_orders_on_from_it() -> None:
    w = Witness()
    w.sent("bob", Create())
    w.delivered({"type": "mls_commit_rejected", "epoch": 0, "reason": "group_exists"}, "bob")
    kp = KeyPackage(_blob(), _blob(32))
    w.sent("bob", kp)
    assert w.unanswered == {"bob": kp}
    w.delivered(_commit(3, "alice", "c3"), None)  # the far node came in at epoch 3: it keeps from there
    w.delivered({"type": "mls_welcome", "from": "alice", "epoch": 3, "data": _blob()}, "bob")
    assert (w.group.epoch, w.group.members, w.unanswered) == (4, {"alice", "bob"}, {})

    info = _blob()
    w.sent("bob", Commit(4, "c4", None, 0, (), info))  # bob's own commit: its GroupInfo kept once accepted
    w.delivered({"type": "mls_commit_accepted", "epoch": 4}, "bob")
    w.delivered({"type": "mls_commit", "from": "bob", "epoch": 4, "commit": "c4"}, None)
    w.delivered(_commit(3, "alice", "c3"), "bob")  # a sync answer repeating an old one: seen already
    assert (w.group.epoch, w.group.group_info) == (5, info)
    assert [(c.epoch, c.commit) for c in w.group.commits] == [(3, "c3"), (4, "c4")]

    w.sent("carol", Create())  # carol's create went to the home, which died before answering
    ours = GroupLog()
    again = w.hand_over(ours, ["bob", "carol"])  # alice was the dead home's participant
    assert (ours.epoch, ours.members, ours.group_info) == (5, {"bob"}, info)
    assert again == [("carol", Create())]
    # the members go on from there: bob's commit in epoch 5 is the group's next; a sync gets the kept commits
    assert ours.handle("bob", Commit(5, "c5", None, 0, ()), ["bob", "carol"]).verdict == "accepted"
    assert ours.handle("carol", Create(), ["bob", "carol"]).verdict == "group_exists"
    assert ours.handle("bob", EpochApplied(6), ["bob", "carol"]).verdict == "accepted"


def test_a_gap_a_lost_group_and_a_member_asking_again_are_followed() -> None:
    w = Witness()
    w.delivered(_commit(0, "alice", "c0"), None)
    w.delivered(_commit(2, "alice", "c2"), None)  # commit 1 never came here: 0 cannot be served with 2
    assert w.group.epoch == 3 and [c.epoch for c in w.group.commits] == [2]
    w.delivered({"type": "mls_welcome", "from": "alice", "epoch": 2, "data": _blob()}, "bob")
    w.sent("bob", KeyPackage(_blob()))  # bob lost his state: not a member until added again
    assert "bob" not in w.group.members and "bob" in w.unanswered
    w.delivered({"type": "mls_resync", "epoch": None}, "bob")  # the home's group is gone
    assert (w.group.epoch, w.group.members, list(w.group.commits)) == (None, set(), [])
    ours = GroupLog()
    assert w.hand_over(ours, ["bob"]) == [] and ours.epoch is None  # nothing to carry on: the first create wins
    w.forget([])
    assert not w.unanswered and not w.committing


def test_whatever_a_lying_home_sends_it_costs_no_crash_and_no_unnameable_epoch() -> None:
    w = Witness()
    w.delivered(_commit(1, "alice", "c1"), None)
    for bad in ({"type": "mls_commit", "from": "alice", "epoch": MAX_EPOCH, "commit": "x"},
                {"type": "mls_commit", "from": "alice", "epoch": 2**60, "commit": "x"},
                {"type": "mls_commit", "from": "alice", "epoch": True, "commit": "x"},
                {"type": "mls_commit", "from": "alice", "epoch": -1, "commit": "x"},
                {"type": "mls_commit", "from": 7, "epoch": 2, "commit": "x"},
                {"type": "mls_commit", "from": "a" * 500, "epoch": 2, "commit": "x"},
                {"type": "mls_commit", "from": "alice", "epoch": 2, "commit": None},
                {"type": "mls_commit", "epoch": "2"},
                {"type": "mls_created", "epoch": 1},
                {"type": "mls_welcome"},
                {"type": "mls_resync", "epoch": 3},
                {"type": "mls_join_request", "from": "ghost", "data": "x"},
                {"type": None}):
        for to in (None, "bob", 12, "b" * 500):
            w.delivered(bad, to)  # type: ignore[arg-type]
    assert w.group.epoch == 2 and [c.commit for c in w.group.commits] == ["c1"]
    assert w.group.members == {"alice"}  # nobody named by a malformed message
