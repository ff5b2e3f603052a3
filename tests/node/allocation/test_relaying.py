"""What a node relays to the other nodes of a cascaded meeting (sfu/allocation/relaying.py): one copy per remote
node per (track, layer) its subscribers take; nothing to a node without a verified relay, nothing of a track nobody
there receives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.allocation.relaying import RemoteNeed, changes, link_copies, plan

LAYERS = {"cam": 3, "mic": 1, "screen": 1}


def test_one_copy_per_remote_node_whatever_the_number_of_subscribers_there() -> None:
    needs = [RemoteNeed("b", "cam", 2)] * 300 + [RemoteNeed("b", "mic", 0)] * 300 + [RemoteNeed("c", "cam", 0)]
    copies = plan(needs, LAYERS, {"b", "c"})
    assert copies == {("b", "cam", 2), ("b", "mic", 0), ("c", "cam", 0)}
    assert link_copies(copies, "b") == 2 and link_copies(copies, "c") == 1


def test_the_layers_subscribers_use_are_relayed_and_no_other() -> None:
    needs = [RemoteNeed("b", "cam", 0), RemoteNeed("b", "cam", 2), RemoteNeed("b", "cam", 2)]
    assert plan(needs, LAYERS, {"b"}) == {("b", "cam", 0), ("b", "cam", 2)}
    # a layer the track does not (or no longer) have is clamped, a negative one is the lowest
    assert plan([RemoteNeed("b", "mic", 2), RemoteNeed("b", "cam", -1)], LAYERS, {"b"}) == {("b", "mic", 0),
                                                                                          ("b", "cam", 0)}


def test_a_node_without_a_verified_relay_and_unknown_tracks_get_nothing() -> None:
    # "us" asks for the camera (a hostile node, or a stale need): it has no established relay, so nothing goes
    needs = [RemoteNeed("us", "cam", 0), RemoteNeed("b", "ghost", 0), RemoteNeed("b", "screen", 0)]
    assert plan(needs, LAYERS, {"b"}) == {("b", "screen", 0)}


def test_changes_start_and_stop_copies_as_subscribers_move() -> None:
    before = plan([RemoteNeed("b", "cam", 2)], LAYERS, {"b"})
    after = plan([RemoteNeed("b", "cam", 0)], LAYERS, {"b"})  # the last HD viewer on b dropped to low
    assert changes(before, after) == ([("b", "cam", 0)], [("b", "cam", 2)])
    assert changes(after, after) == ([], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["b", "c", "us"]), st.sampled_from(["cam", "mic", "screen", "x"]),
                          st.integers(-1, 4)), max_size=60),
       st.sets(st.sampled_from(["b", "c", "us"])))
def test_property_every_need_covered_once_nothing_else(raw: list[tuple[str, str, int]], relays: set[str]) -> None:
    needs = [RemoteNeed(*n) for n in raw]
    copies = plan(needs, LAYERS, relays)
    assert all(n in relays and t in LAYERS and 0 <= layer < LAYERS[t] for n, t, layer in copies)
    for need in needs:
        if need.node in relays and need.track in LAYERS:
            assert (need.node, need.track, min(max(need.layer, 0), LAYERS[need.track] - 1)) in copies
    needed = {(n.node, n.track) for n in needs}
    assert all((n, t) in needed for n, t, _ in copies)
