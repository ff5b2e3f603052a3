"""What a node relays to the other nodes of a cascaded meeting (sfu/allocation/relaying.py): one copy per remote
node of each layer some subscriber there needs — a thumbnail's low layer and a full screen's top layer both, not
the middle one nobody takes; nothing to a node without a verified relay, nothing of a track nobody there
receives, nothing of a track that is not this meeting's, nothing of a layer the track does not have."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.allocation.relaying import RemoteNeed, by_rank, for_node, link_copies, nearest, need_of, plan

LAYERS = {"cam": 3, "mic": 1, "screen": 1}


def need(node: str, track: str, *layers: int) -> RemoteNeed:
    return RemoteNeed(node, track, frozenset(layers))


def test_one_copy_per_needed_layer_per_remote_node_whatever_the_number_of_subscribers_there() -> None:
    needs = [need("b", "cam", 2)] * 300 + [need("b", "mic", 0)] * 300 + [need("c", "cam", 0)]
    copies = plan(needs, LAYERS, {"b", "c"})
    assert copies == {("b", "cam", 2), ("b", "mic", 0), ("c", "cam", 0)}
    assert link_copies(copies, "b") == 2 and link_copies(copies, "c") == 1
    assert for_node(copies, "b") == {"cam": {2}, "mic": {0}}


def test_each_layer_a_far_subscriber_needs_crosses_once_and_no_other() -> None:
    # two viewers of the camera on b: a small tile on the low layer, a full screen on the top one — both cross,
    # each once; the middle layer nobody there takes does not
    needs = [need("b", "cam", 0), need("b", "cam", 2), need("b", "cam", 2)]
    assert plan(needs, LAYERS, {"b"}) == {("b", "cam", 0), ("b", "cam", 2)}
    assert for_node(plan(needs, LAYERS, {"b"}), "b") == {"cam": {0, 2}}
    # every viewer on c takes the low layer: c gets only the low layer
    assert plan([need("c", "cam", 0)] * 5, LAYERS, {"c"}) == {("c", "cam", 0)}
    # a layer the track does not (or no longer) have is left out, never clamped onto another
    assert plan([need("b", "mic", 0, 2), need("b", "cam", -1, 7)], LAYERS, {"b"}) == {("b", "mic", 0)}


def test_a_node_without_a_verified_relay_and_other_meetings_tracks_get_nothing() -> None:
    # "us" asks for the camera (a hostile node, or a stale need): it has no established relay, so nothing goes;
    # "ghost" is no track of this meeting (another meeting's on the same node): nothing goes either
    needs = [need("us", "cam", 0), need("b", "ghost", 0), need("b", "screen", 0)]
    assert plan(needs, LAYERS, {"b"}) == {("b", "screen", 0)}


def test_what_one_far_subscriber_needs() -> None:
    # a new viewer starts on the low layer: it needs that one, and the next one up to move to (kept warm, as a
    # local publisher's is), up to what its tile is worth; higher up, the low layer stays as its floor under loss
    assert need_of("video", 3, None, paused=False) == {0, 1}  # size unknown: no cap
    assert need_of("video", 3, 180, paused=False) == {0}  # a thumbnail: the low layer only
    assert need_of("video", 3, 1080, paused=False, on=1) == {0, 1, 2}
    assert need_of("video", 3, 1080, paused=False, on=2) == {0, 2}  # at the top: nothing above, not the middle
    assert need_of("video", 3, 360, paused=False, on=1) == {0, 1}  # at what its tile is worth
    assert need_of("video", 3, 180, paused=False, on=2) == {0, 2}  # its tile shrank: down to the low layer
    assert need_of("video", 3, 1080, paused=False, on=0, target=2) == {0, 1, 2}  # switching: both ends
    assert need_of("video", 2, 1080, paused=False, on=7) == {0, 1}  # (a layer past the top is the top)
    assert need_of("video", 3, 1080, paused=True, on=2) == set()  # last-N left it out there: it does not cross
    assert need_of("audio", 1, None, paused=False) == {0} and need_of("video", 1, 180, paused=False) == {0}
    # audio-N pausing a far subscriber's audio still lets it cross: the far node learns who speaks from its level
    # (held back, no far node ever knew a speaker and last-N sent its viewers no video: loadtests.bench.large_meeting)
    assert need_of("audio", 1, None, paused=True) == {0}


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
                          st.frozensets(st.integers(-1, 4), min_size=1, max_size=3)), max_size=60),
       st.sets(st.sampled_from(["b", "c", "us"])))
def test_property_every_need_covered_nothing_unneeded_crosses(raw: list[tuple[str, str, frozenset[int]]],
                                                               relays: set[str]) -> None:
    needs = [RemoteNeed(*n) for n in raw]
    copies = plan(needs, LAYERS, relays)
    # only this meeting's tracks, only to verified relays, a layer the track has
    assert all(n in relays and t in LAYERS and 0 <= layer < LAYERS[t] for n, t, layer in copies)
    # exactly the layers some far subscriber there needs, each once (a set: one copy per node, track and layer)
    wanted = {(x.node, x.track, layer) for x in needs if x.node in relays and x.track in LAYERS
              for layer in x.layers if 0 <= layer < LAYERS[x.track]}
    assert copies == wanted
    assert sum(link_copies(copies, n) for n in relays) == len(copies)
