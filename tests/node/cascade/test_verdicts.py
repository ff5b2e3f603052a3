"""The home's verdict on which recorders are in a cascaded meeting's group, without a network (sfu/cascade/
verdicts.py; sfu/recording.py `recorders`): a far node counts a recorder only if it marked it on its own verified
credential *and* the home said it is in the group; before the home said anything, nothing counts (held); on the
home its own Delivery Service decides; a malformed verdict is refused, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from residency.errors import RelayRefused
from sfu.cascade.verdicts import MAX_RECORDERS, heard, verdict, view
from sfu.e2ee.messages import MAX_EPOCH, MAX_ID
from sfu.participant import Participant, SignallingState
from sfu.recording import recorders
from sfu.room import Room


def _room(*people: tuple[str, bool, str | None]) -> Room:
    """A room of (id, marked recorder here, relayed from) participants, all attached or carried by their node."""
    room = Room(tenant="eurocorp", name="board")
    for i, (pid, recorder, relayed_from) in enumerate(people):
        room.participants[pid] = Participant(id=pid, name=pid, room=room, peer=i, tenant=room.tenant,
                                             recorder=recorder, relayed_from=relayed_from,
                                             signalling=SignallingState.DETACHED if relayed_from
                                             else SignallingState.ATTACHED)
    return room


def test_the_verdict_goes_across_as_the_whole_set_and_reads_back() -> None:
    msg = verdict({"rec-2", "rec-1"}, 7)
    assert msg == {"type": "recorders", "in": ["rec-1", "rec-2"], "epoch": 7}
    assert heard(msg) == (frozenset({"rec-1", "rec-2"}), 7)
    assert heard(verdict((), None)) == (frozenset(), None)  # "none any more", or a home with no group


@pytest.mark.parametrize("bad", [
    {"epoch": 1},  # no set
    {"in": "rec-1", "epoch": 1},
    {"in": [1], "epoch": 1},
    {"in": [""], "epoch": 1},
    {"in": ["x" * (MAX_ID + 1)], "epoch": 1},
    {"in": [f"r-{i}" for i in range(MAX_RECORDERS + 1)], "epoch": 1},
    {"in": ["rec-1"], "epoch": True},
    {"in": ["rec-1"], "epoch": -1},
    {"in": ["rec-1"], "epoch": MAX_EPOCH},
    {"in": ["rec-1"], "epoch": "7"},
])
def test_a_malformed_verdict_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(RelayRefused) as e:
        heard({"type": "recorders", **bad})
    assert e.value.code == "relay_message_malformed"


def test_whose_word_counts() -> None:
    said = frozenset({"rec-1"})
    assert view("eu-1-a", True, "eu-1-a", None) is None  # the home: its own Delivery Service
    assert view("eu-1-a", True, None, None) is None  # no placement: the meeting is on this node only
    assert view("eu-2-a", True, "eu-1-a", said) == said  # a far node: the home's last word
    assert view("eu-2-a", True, "eu-1-a", None) == frozenset()  # the home said nothing yet: nobody counts
    assert view("eu-2-a", False, None, said) == frozenset()  # the placement not known yet: nobody counts
    # a node that became the home (the old one died) goes by its own group, not what the old home said
    assert view("eu-2-a", True, "eu-2-a", said) is None


def test_a_far_node_counts_a_recorder_marked_here_and_in_the_homes_verdict_only() -> None:
    room = _room(("alice", False, None), ("rec-1", True, "eu-1-a"), ("m-none", False, "eu-1-a"))
    room.recording.home_verdict = frozenset()
    assert recorders(room) == []  # marked on its verified credential, but not in the group yet: held
    room.recording.home_verdict = frozenset({"rec-1", "m-none", "ghost"})
    # the home's word marks nobody: m-none's credential did not verify here, ghost is not in the room
    assert recorders(room) == ["rec-1"]
    room.recording.home_verdict = frozenset({"m-none"})
    assert recorders(room) == []
    # the recorder attached here: its own credential, its socket, and the home's word
    local = _room(("rec-2", True, None))
    local.recording.home_verdict = frozenset({"rec-2"})
    assert recorders(local) == ["rec-2"]
    local.participants["rec-2"].signalling = SignallingState.DETACHED
    assert recorders(local) == []  # its socket died: out at once, whatever the home said
    local.participants["rec-2"].signalling = SignallingState.ATTACHED
    local.recording.home_verdict = frozenset()
    assert recorders(local) == []  # the home no longer counts it in the group (or its lane went): held again


def test_the_home_goes_by_its_own_group() -> None:
    room = _room(("rec-1", True, "eu-2-a"))
    assert recorders(room) == ["rec-1"]  # no group yet (nobody to encrypt for): counted as on one node
    room.group.epoch, room.group.members = 3, {"alice"}
    assert recorders(room) == []
    room.group.members.add("rec-1")
    assert recorders(room) == ["rec-1"]
