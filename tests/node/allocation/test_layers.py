"""Layer choice: the best layer that fits the subscriber's estimate and is worth its tile size."""

from sfu.allocation.layers import LayerState, choose, rank_rids
from sfu.track import Layer

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


from sfu.allocation.layers import step  # noqa: E402


def test_stepping_up_one_layer_at_a_time_after_a_clean_hold():
    assert step(0, LAYERS, 720, 200_000, 0.0, held_for=1.0) == 0  # too soon
    assert step(0, LAYERS, 720, 200_000, 0.0, held_for=3.5) == 1  # the estimate follows what is sent: probe up
    assert step(1, LAYERS, 720, 600_000, 0.0, held_for=3.5) == 2
    assert step(1, LAYERS, 720, 600_000, 0.05, held_for=10) == 1  # some loss: stay


def test_stepping_down_on_loss_or_a_collapsed_estimate_and_to_the_tile_size():
    assert step(2, LAYERS, 720, None, 0.2, held_for=0.5) == 1
    assert step(2, LAYERS, 720, 300_000, 0.0, held_for=2.5) == 0  # 300 kb/s fits only the lowest layer
    assert step(2, LAYERS, 180, 10_000_000, 0.0, held_for=0.0) == 0  # the tile shrank: at once


def test_failed_upgrades_back_off_and_a_held_upgrade_resets_the_wait():
    from sfu.allocation.layers import MAX_UPGRADE_HOLD, UPGRADE_HOLD, next_upgrade_hold

    hold = UPGRADE_HOLD
    # a throttled link: every step up is followed by a step down two seconds later
    for expected in (6.0, 12.0, 24.0, 48.0, 48.0):
        hold = next_upgrade_hold(hold, moved_up=False, moved_down=True, since_upgrade=2.0)
        assert hold == expected
    assert hold == MAX_UPGRADE_HOLD
    # a step down long after the upgrade (the link changed later) is not the upgrade's fault
    assert next_upgrade_hold(12.0, moved_up=False, moved_down=True, since_upgrade=30.0) == 12.0
    # the upgraded layer held for a long time: back to the normal wait
    assert next_upgrade_hold(24.0, moved_up=False, moved_down=False, since_upgrade=60.0) == UPGRADE_HOLD
    # and the wait is what step() uses
    layers = [LayerState(0, 150e3, True), LayerState(1, 500e3, True)]
    assert step(0, layers, None, None, 0.0, held_for=5.0, upgrade_hold=6.0) == 0
    assert step(0, layers, None, None, 0.0, held_for=6.5, upgrade_hold=6.0) == 1


# ---------------- temporal layers before whole layers; VP9 spatial layers ----------------

from sfu.allocation.layers import TEMPORAL_ALL, plan, svc_layers, temporal_cap  # noqa: E402


def test_temporal_cap_thins_a_layer_the_estimate_carries_at_least_half_of() -> None:
    assert temporal_cap(1_000_000, 2_000_000, 3) == TEMPORAL_ALL
    assert temporal_cap(1_000_000, 800_000, 3) == 1  # 680 kb/s budget: TL0+TL1 (60 %) fit
    assert temporal_cap(1_000_000, 600_000, 3) == 0  # 510 kb/s: TL0 (40 %) only
    assert temporal_cap(1_000_000, 500_000, 3) is None  # under half: drop the layer instead
    assert temporal_cap(1_000_000, 100_000, 3, floor=True) == 0  # nothing lower: thinnest is best
    assert temporal_cap(1_000_000, 10, 1) == TEMPORAL_ALL  # no temporal layers: nothing to thin


def test_plan_drops_temporal_layers_before_a_whole_layer() -> None:
    # layer 2 sends 1.5 Mb/s; an estimate of 1.1 Mb/s would make step() go down: keep 720p at a lower frame rate
    assert plan(2, TEMPORAL_ALL, LAYERS, 720, 1_100_000, 0.0, 2.5, 3) == (2, 1)
    # far below half: the layer goes, with every temporal layer of the new one
    assert plan(2, TEMPORAL_ALL, LAYERS, 720, 600_000, 0.0, 2.5, 3) == (1, TEMPORAL_ALL)
    assert plan(2, 1, LAYERS, 720, 600_000, 0.0, 2.5, 3) == (1, TEMPORAL_ALL)
    # heavy loss or a smaller tile: the layer goes at once, no thinning
    assert plan(2, TEMPORAL_ALL, LAYERS, 720, 1_100_000, 0.2, 2.5, 3) == (1, TEMPORAL_ALL)
    assert plan(2, TEMPORAL_ALL, LAYERS, 180, 10_000_000, 0.0, 0.0, 3) == (0, TEMPORAL_ALL)
    # without temporal layers plan() is step()
    assert plan(2, TEMPORAL_ALL, LAYERS, 720, 1_100_000, 0.0, 2.5, 1) == (step(2, LAYERS, 720, 1_100_000, 0.0, 2.5), -1)


def test_plan_restores_the_frame_rate_before_probing_up_and_thins_the_lowest_layer() -> None:
    assert plan(1, 0, LAYERS, 720, 600_000, 0.0, 3.5, 3) == (1, TEMPORAL_ALL)  # clean hold: full rate first
    assert plan(1, TEMPORAL_ALL, LAYERS, 720, 600_000, 0.0, 3.5, 3) == (2, TEMPORAL_ALL)  # then a layer up
    assert plan(1, 0, LAYERS, 720, 600_000, 0.05, 10, 3) == (1, 0)  # some loss: stay thinned
    single = [LayerState(0, 1_000_000, True)]
    assert plan(0, TEMPORAL_ALL, single, 720, 500_000, 0.0, 2.5, 3) == (0, 0)  # one layer: thin it
    assert plan(0, TEMPORAL_ALL, single, 720, 500_000, 0.0, 1.0, 3) == (0, TEMPORAL_ALL)  # not for a blip


def test_svc_spatial_layers_cost_their_lower_layers_too() -> None:
    states = svc_layers([100_000, 200_000, 400_000], 3)
    assert [s.bitrate_bps for s in states] == [100_000, 300_000, 700_000]
    assert plan(2, TEMPORAL_ALL, states, 720, 400_000, 0.0, 2.5, 3) == (1, TEMPORAL_ALL)
    assert plan(2, TEMPORAL_ALL, states, 360, 10_000_000, 0.0, 0.0, 3) == (1, TEMPORAL_ALL)
    assert [s.rank for s in svc_layers([1.0], 2)] == [0, 1]


def test_a_layer_rate_starts_from_its_first_whole_interval() -> None:
    """A layer that starts sending between two readings is measured at its rate from the first whole interval
    on, not averaged up from zero (which under-reported a new 400 kb/s layer at ~250 kb/s 3 s in, and let a
    subscriber step up onto it on an estimate that did not cover it, without a probe)."""
    layer = Layer("h", 1, 1111, 0)
    layer.measure(0, 0, 100.0, 1.0)
    assert layer.bitrate_bps == 0.0 and layer.last_active == 0.0  # not sending yet
    layer.measure(12, 15_000, 101.0, 1.0)  # started during this interval: its part of it is unknown
    assert layer.bitrate_bps == 0.0 and layer.last_active == 101.0
    layer.measure(48, 65_000, 102.0, 1.0)  # a whole interval at 400 kb/s
    assert layer.bitrate_bps == 400_000
    layer.measure(84, 120_000, 103.0, 1.0)  # then the average: 0.7 x 400 + 0.3 x 440 kb/s
    assert round(layer.bitrate_bps) == 412_000
    # an idle interval is a rate of zero; a restart is measured afresh from its first whole interval
    layer.measure(84, 120_000, 104.0, 1.0)
    assert round(layer.bitrate_bps) == round(0.7 * 412_000) and layer.last_active == 103.0
    layer.measure(90, 128_000, 105.0, 1.0)
    layer.measure(120, 153_000, 106.0, 1.0)
    assert layer.bitrate_bps == 200_000
