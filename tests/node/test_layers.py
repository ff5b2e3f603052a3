"""Layer choice: the best layer that fits the subscriber's estimate and is worth its tile size."""

from sfu.layers import LayerState, choose, rank_rids

LAYERS = [LayerState(0, 150_000, True), LayerState(1, 500_000, True), LayerState(2, 1_500_000, True)]


def test_a_rich_link_and_a_big_tile_get_the_top_layer():
    assert choose(LAYERS, 720, 5_000_000) == 2


def test_a_poor_link_gets_what_fits_and_never_less_than_the_lowest():
    assert choose(LAYERS, 720, 800_000) == 1
    assert choose(LAYERS, 720, 100_000) == 0


def test_a_small_tile_caps_the_layer_whatever_the_bandwidth():
    assert choose(LAYERS, 180, 10_000_000) == 0
    assert choose(LAYERS, 360, 10_000_000) == 1


def test_inactive_layers_are_skipped():
    layers = [LayerState(0, 150_000, True), LayerState(1, 500_000, False), LayerState(2, 1_500_000, False)]
    assert choose(layers, 720, 10_000_000) == 0
    assert choose([LayerState(0, 1, False)], 720, None) is None


def test_rids_are_ranked_by_name_or_by_order():
    assert rank_rids(["f", "h", "q"]) == {"q": 0, "h": 1, "f": 2}
    assert rank_rids(["a", "b", "c"]) == {"a": 0, "b": 1, "c": 2}
