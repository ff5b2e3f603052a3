"""What a node relays to the other nodes of a cascaded meeting (sfu/allocation/relaying.py): one copy per remote
node per track some subscriber there needs, at the highest layer any of them needs; nothing to a node without a
verified relay, nothing of a track nobody there receives, nothing of a track that is not this meeting's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.allocation.relaying import RemoteNeed, by_rank, for_node, link_copies, nearest, need_of, plan

LAYERS = {"cam": 3, "mic": 1, "screen": 1}


def test_one_copy_per_remote_node_whatever_the_number_of_subscribers_there() -> None:
    needs = [RemoteNeed("b", "cam", 2)] * 300 + [RemoteNeed("b", "mic", 0)] * 300 + [RemoteNeed("c", "cam", 0)]
    copies = plan(needs, LAYERS, {"b", "c"})
    assert copies == {("b", "cam", 2), ("b", "mic", 0), ("c", "cam", 0)}
    assert link_copies(copies, "b") == 2 and link_copies(copies, "c") == 1
    assert for_node(copies, "b") == {"cam": 2, "mic": 0}


def test_the_highest_layer_a_far_subscriber_needs_crosses_and_no_other() -> None:
    # two viewers of the camera on b: one small tile, one full screen — the full layer crosses, once
    needs = [RemoteNeed("b", "cam", 0), RemoteNeed("b", "cam", 2), RemoteNeed("b", "cam", 2)]
    assert plan(needs, LAYERS, {"b"}) == {("b", "cam", 2)}
    # every viewer on c takes the low layer: c gets only the low layer
    assert plan([RemoteNeed("c", "cam", 0)] * 5, LAYERS, {"c"}) == {("c", "cam", 0)}
    # a layer the track does not (or no longer) have is clamped, a negative one is the lowest
    assert plan([RemoteNeed("b", "mic", 2), RemoteNeed("b", "cam", -1)], LAYERS, {"b"}) == {("b", "mic", 0),
                                                                                          ("b", "cam", 0)}


def test_a_node_without_a_verified_relay_and_other_meetings_tracks_get_nothing() -> None:
    # "us" asks for the camera (a hostile node, or a stale need): it has no established relay, so nothing goes;
    # "ghost" is no track of this meeting (another meeting's on the same node): nothing goes either
    needs = [RemoteNeed("us", "cam", 0), RemoteNeed("b", "ghost", 0), RemoteNeed("b", "screen", 0)]
    assert plan(needs, LAYERS, {"b"}) == {("b", "screen", 0)}


def test_what_one_far_subscriber_needs() -> None:
    assert need_of("video", 3, None, paused=False) == 2  # size unknown: no cap
    assert need_of("video", 3, 180, paused=False) == 0  # a thumbnail
    assert need_of("video", 3, 360, paused=False) == 1
    assert need_of("video", 3, 1080, paused=False) == 2
    assert need_of("video", 3, 1080, paused=True) is None  # last-N left it out there: it does not cross
    assert need_of("audio", 1, None, paused=False) == 0 and need_of("video", 1, 180, paused=False) == 0


def test_a_simulcast_layer_not_learned_yet_is_carried_by_the_nearest_learned_one() -> None:
    # the publisher offered q/h/f; its f packets came first (engine track 7): every rank is f for now
    assert by_rank(3, {2: 7}) == (7, 7, 7)
    # q learned (engine track 4): ranks 0 and 1 are q, rank 2 f; then h (5)
    assert by_rank(3, {2: 7, 0: 4}) == (4, 4, 7)
    assert by_rank(3, {2: 7, 0: 4, 1: 5}) == (4, 5, 7)
    assert by_rank(0, {0: 3}) == (3,)  # no simulcast: its one layer
    assert nearest(1, [0, 2]) == 0 and nearest(0, [2]) == 2 and nearest(2, [0, 1, 2]) == 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["b", "c", "us"]), st.sampled_from(["cam", "mic", "screen", "x"]),
                          st.integers(-1, 4)), max_size=60),
       st.sets(st.sampled_from(["b", "c", "us"])))
def test_property_every_need_covered_nothing_unneeded_crosses(raw: list[tuple[str, str, int]],
                                                               relays: set[str]) -> None:
    needs = [RemoteNeed(*n) for n in raw]
    copies = plan(needs, LAYERS, relays)
    # only this meeting's tracks, only to verified relays, a layer the track has, one copy per (node, track)
    assert all(n in relays and t in LAYERS and 0 <= layer < LAYERS[t] for n, t, layer in copies)
    assert len({(n, t) for n, t, _ in copies}) == len(copies)
    # every far subscriber's need is covered: its track crosses at its layer or higher
    crossing = {(n, t): layer for n, t, layer in copies}
    for need in needs:
        if need.node in relays and need.track in LAYERS:
            assert crossing[(need.node, need.track)] >= min(max(need.layer, 0), LAYERS[need.track] - 1)
    # nothing crosses that no far subscriber needs, and no higher than the highest need
    for (n, t), layer in crossing.items():
        asked = [min(max(x.layer, 0), LAYERS[t] - 1) for x in needs if (x.node, x.track) == (n, t)]
        assert asked and layer == max(asked)
