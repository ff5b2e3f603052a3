"""The Delivery Service's core (sfu/e2ee/delivery.py), pure, under arbitrary sequences of handshake messages from
any participant, in any order (hypothesis): it never raises, the epoch moves only by accepted commits and by one
each, a commit is accepted only from a participant it counts as a member at the room's epoch, a Welcome reaches
only the joiners its commit named, and nothing is ever addressed to someone who is not in the room."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfu.e2ee.delivery import GroupLog
from sfu.e2ee.messages import (
    Commit,
    Create,
    EpochApplied,
    Handshake,
    KeyPackage,
    Sync,
    WelcomePart,
    parse,
    to_message,
)

PEOPLE = ["a", "b", "c", "d"]
blobs = st.text("ABCDEFabcdef0123456789_-", min_size=2, max_size=12)
epochs = st.integers(min_value=0, max_value=3)
messages: st.SearchStrategy[Handshake] = st.one_of(
    st.builds(KeyPackage, blobs),
    st.just(Create()),
    st.builds(Commit, epochs, blobs, st.one_of(st.none(), blobs), st.sampled_from([0, 0, 2]),
              st.lists(st.sampled_from([*PEOPLE, "ghost"]), max_size=3).map(tuple)),
    st.builds(WelcomePart, epochs, st.integers(0, 2), blobs),
    st.builds(EpochApplied, epochs),
    st.builds(Sync, epochs),
)
message_step = st.tuples(st.just("msg"), st.sampled_from(PEOPLE), messages)
steps = st.lists(st.one_of(message_step, message_step, message_step,
                           st.tuples(st.just("leave"), st.sampled_from(PEOPLE), st.none()),
                           st.tuples(st.just("join"), st.sampled_from(PEOPLE), st.none())), min_size=15, max_size=60)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps)
def test_the_delivery_service_keeps_its_rules_under_any_sequence(seq):
    log = GroupLog()
    present = {"a", "b"}
    for kind, who, m in seq:
        if kind == "join":
            present.add(who)
            continue
        if kind == "leave":
            if who in present:
                present.discard(who)
                out = log.left(who, sorted(present))
                assert all(d.to in present for d in out)
                if not present:
                    log = GroupLog()  # the room is gone with its last participant
            continue
        if who not in present:
            continue
        epoch, members = log.epoch, set(log.members)
        if isinstance(m, Commit) and m.welcome is not None and m.welcome_parts:
            continue  # refused by the message checks before it reaches the log
        outcome = log.handle(who, m, sorted(present))
        for d in outcome.deliveries:
            assert d.to is None or d.to in present, (d, present)
        accepted = isinstance(m, Commit) and outcome.verdict == "accepted"
        if accepted:
            assert who in members and m.epoch == epoch and log.epoch == epoch + 1
            welcomed = {d.to for d in outcome.deliveries if d.message["type"] == "mls_welcome"}
            assert welcomed <= set(m.joiners) - {who}
        elif not (isinstance(m, Create) and epoch is None) and not (isinstance(m, KeyPackage) and log.epoch is None):
            assert log.epoch == epoch or log.epoch is None, (m, outcome)
        if isinstance(m, WelcomePart) and outcome.verdict == "accepted":
            assert all(d.message["type"] in ("mls_welcome", "mls_join_request") for d in outcome.deliveries)
        assert set(log.members) <= present | members


def test_a_resync_carries_the_newest_group_info_a_commit_brought() -> None:
    """A member told its missed commits are gone acts only on a GroupInfo a member signed (docs/e2ee.md): the node
    keeps the newest one an accepted commit carried and sends it with every `mls_resync` (none before any)."""
    log = GroupLog()
    log.handle("a", Create(), ["a", "b"])
    assert log.resync("b").message == {"type": "mls_resync", "epoch": 0}
    log.handle("a", Commit(0, "c0", "w0", 0, ("b",), group_info="gi1"), ["a", "b"])
    log.handle("b", Commit(0, "late", None, 0, (), group_info="forged"), ["a", "b"])  # stale: refused, not kept
    log.handle("a", Commit(1, "c1", None, 0, ()), ["a", "b"])  # no GroupInfo: the newest one stays
    assert log.group_info == "gi1"
    for _ in range(70):  # more commits than are kept: an old `since` is answered with a resync and its evidence
        log.handle("a", Commit(log.epoch or 0, "c", None, 0, (), group_info=f"gi{(log.epoch or 0) + 1}"), ["a", "b"])
    out = log.handle("b", Sync(1), ["a", "b"])
    assert out.verdict == "resync"
    assert out.deliveries[0].message == {"type": "mls_resync", "epoch": log.epoch, "group_info": f"gi{log.epoch}"}


def test_a_key_packages_proof_reaches_the_members_unchanged() -> None:
    log = GroupLog()
    log.handle("a", Create(), ["a", "b", "c"])
    out = log.handle("b", KeyPackage("kp", "proof"), ["a", "b", "c"])
    assert [d.message for d in out.deliveries] == [{"type": "mls_join_request", "from": "b", "data": "kp", "proof": "proof"}]
    late = log.handle("c", Create(), ["a", "b", "c"])  # refused, but c would get the waiting requests on a sync
    assert late.verdict == "group_exists"
    sync = log.handle("a", Sync(0), ["a", "b", "c"])
    assert {"type": "mls_join_request", "from": "b", "data": "kp", "proof": "proof"} in [d.message for d in sync.deliveries]


@pytest.mark.parametrize("msg", [
    {"type": "mls_key_package", "data": "QUJD"},
    {"type": "mls_key_package", "data": "QUJD", "proof": "cHJvb2Y"},
    {"type": "mls_create"},
    {"type": "mls_commit", "epoch": 3, "commit": "Y29t", "joiners": []},
    {"type": "mls_commit", "epoch": 3, "commit": "Y29t", "joiners": ["b"], "welcome": "d2Vs", "group_info": "Z2k"},
    {"type": "mls_commit", "epoch": 3, "commit": "Y29t", "joiners": ["b", "c"], "welcome_parts": 2},
    {"type": "mls_welcome_part", "epoch": 3, "index": 1, "data": "cGFydA"},
    {"type": "mls_epoch", "epoch": 7},
    {"type": "mls_sync", "since": 2},
])
def test_what_a_far_node_forwards_is_exactly_what_it_checked(msg: dict[str, Any]) -> None:
    """A far node forwards `to_message(parse(msg))` to the meeting's home (sfu/cascade/handshakes.py): the same
    message, with nothing the check did not look at — and the home parses it back to the same value."""
    assert to_message(parse({**msg, "extra": "x" * 100})) == msg
    assert parse(to_message(parse(msg))) == parse(msg)
