"""Layer choice: the best layer that fits the subscriber's estimate and is worth its tile size."""

from collections.abc import Callable

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


def test_a_layer_whose_rate_is_not_measured_yet_is_no_step_up_target():
    """A layer the publisher has just started (the node keeps the next one up warm, Chrome starts its top layer
    late) is active at once but reads 0 b/s until a whole interval is measured: a step onto it looked covered by
    any estimate and went without a probe, then its 717 kb/s met a 431 kb/s estimate and the node thinned the
    frame rate to a quarter 2 s after the switch (tests/browser/test_simulcast.py: freezeCount 2)."""
    starting = [LayerState(0, 80_000, True), LayerState(1, 290_000, True), LayerState(2, 0.0, True, measured=False)]
    assert step(1, starting, 720, 430_000, 0.0, held_for=10.0) == 1
    assert step(1, starting, 720, 430_000, 0.0, held_for=10.0, probed=True) == 1
    assert plan(1, TEMPORAL_ALL, starting, 720, 430_000, 0.0, 10.0, 3, probed=True) == (1, TEMPORAL_ALL)
    # measured: the step up is proposed (the node probes first, sfu/allocation/selection.py: its rate is not covered)
    measured = [*starting[:2], LayerState(2, 717_000, True)]
    assert step(1, measured, 720, 430_000, 0.0, held_for=3.5, probed=True) == 2
    # an unmeasured layer does not hide a measured one above it, nor keep a subscriber off the one it is on
    gap = [LayerState(0, 80_000, True), LayerState(1, 0.0, True, measured=False), LayerState(2, 700_000, True)]
    assert step(0, gap, 720, 2_000_000, 0.0, held_for=1.0, probed=True) == 2
    assert step(1, gap, 720, 2_000_000, 0.0, held_for=1.0, probed=True) == 2
    assert step(1, gap, 360, 2_000_000, 0.0, held_for=10.0, probed=True) == 1


def test_a_send_side_estimate_goes_straight_to_the_highest_layer_it_covers():
    """Issue 14: once the probes show the path carries a higher layer, the subscriber goes there at once,
    not one layer per UPGRADE_HOLD (3 s) plus a tick."""
    from sfu.allocation.layers import JUMP_HOLD

    assert step(0, LAYERS, 720, 2_000_000, 0.0, held_for=JUMP_HOLD, probed=True) == 2  # 1.5 <= 0.85 x 2 Mb/s
    assert step(0, LAYERS, 720, 1_000_000, 0.0, held_for=JUMP_HOLD, probed=True) == 1  # covers 500 kb/s only
    assert step(1, LAYERS, 720, 2_000_000, 0.0, held_for=JUMP_HOLD, probed=True) == 2
    # not before the switch it rests on has had JUMP_HOLD, nor with some loss, nor past the tile's size
    assert step(0, LAYERS, 720, 2_000_000, 0.0, held_for=JUMP_HOLD / 2, probed=True) == 0
    assert step(0, LAYERS, 720, 2_000_000, 0.05, held_for=10.0, probed=True) == 0
    assert step(0, LAYERS, 360, 10_000_000, 0.0, held_for=10.0, probed=True) == 1
    # a receiver's REMB follows what it gets, so it shows no room: one step after the hold, as before
    assert step(0, LAYERS, 720, 2_000_000, 0.0, held_for=JUMP_HOLD) == 0
    assert step(0, LAYERS, 720, 2_000_000, 0.0, held_for=3.5) == 1
    # an estimate that covers nothing higher: the hold, then one step (the node probes for it)
    assert step(0, LAYERS, 720, 300_000, 0.0, held_for=2.0, probed=True) == 0
    assert step(0, LAYERS, 720, 300_000, 0.0, held_for=3.5, probed=True) == 1
    # a hold backed off by a failed step up is waited out even when the estimate covers more (no oscillation);
    # then the step goes to the highest layer covered
    assert step(0, LAYERS, 720, 2_000_000, 0.0, held_for=5.0, upgrade_hold=6.0, probed=True) == 0
    assert step(0, LAYERS, 720, 2_000_000, 0.0, held_for=6.5, upgrade_hold=6.0, probed=True) == 2


def _flapping_subscriber(seconds: int, estimate_at: Callable[[int], float],
                         loss_at: Callable[[int], float]) -> list[tuple[int, int]]:
    """The allocation's once-a-second loop (sfu/allocation/selection.py: step, then the hold's back-off) for a
    subscriber whose estimate and loss follow the given functions; the (second, rank) of every layer move."""
    from sfu.allocation.layers import UPGRADE_HOLD, next_upgrade_hold

    rank, since, upgraded, hold, moves = 0, 0.0, -100.0, UPGRADE_HOLD, []  # on the lowest layer since t=0
    for t in range(seconds):
        new = step(rank, LAYERS, 720, estimate_at(t), loss_at(t), t - since, hold, probed=True)
        hold = next_upgrade_hold(hold, new > rank, new < rank, t - upgraded)
        if new != rank:
            upgraded = t if new > rank else upgraded
            rank, since = new, t
            moves.append((t, rank))
    return moves


def test_a_forged_estimate_that_flaps_cannot_make_the_node_switch_layers_often():
    """A subscriber forging its transport-cc feedback (a probe's cluster all 'arrived', then all 'lost') or its
    receiver reports (loss) can swing its estimate at will; every switch costs the publisher a keyframe. A jump
    without the hold is taken only while no failed step up backed the hold off: the steps up stay at least
    6 s apart, and there are no more moves than one step per hold made (40 in 300 s for this pattern: the
    back-off starts again after 24 s)."""
    def estimate(t: int) -> float:
        return 5_000_000.0 if t % 2 == 0 else 100_000.0

    def loss(t: int) -> float:
        return 0.3 if t % 4 == 3 else 0.0

    moves = _flapping_subscriber(300, estimate, loss)
    ups = [t for t, r in moves if r > 0]
    assert len(moves) <= 40, moves
    assert all(b - a >= 6 for a, b in zip(ups, ups[1:], strict=False)), moves
    # the honest counterpart: a lifted limit is used within a second of the probe that showed it
    assert _flapping_subscriber(10, lambda t: 100_000.0 if t < 2 else 2_000_000.0, lambda t: 0.0) == [(2, 2)]


def test_a_forged_probe_result_raises_the_estimate_no_higher_than_what_the_node_sent():
    """The jump follows the estimate, and a probe raises it to at most the cluster's send rate
    (sfu/congestion/bwe.py: probe_bitrate): feedback claiming a 200 ms cluster sent at ~1 Mb/s 'arrived' in 2 ms
    (a 100 Mb/s path) lifts the estimate to ~1 Mb/s, which covers the middle layer, not the 1.5 Mb/s top one."""
    from sfu.congestion.bwe import PacketResult, SendSideBwe, probe_bitrate

    sent = [PacketResult(seq, send_ms=seq * 2.0, size=250, recv_ms=1000.0 + seq * 0.02) for seq in range(100)]
    rate = probe_bitrate(sent)
    assert rate is not None and rate <= 1_000_000
    bwe = SendSideBwe()
    bwe.on_probe(rate)
    assert bwe.estimate <= 1_000_000
    assert step(0, LAYERS, 720, bwe.estimate, 0.0, held_for=1.0, probed=True) == 1


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


def test_a_recorder_takes_the_best_measured_layer_whatever_its_link() -> None:
    """A recording is kept: the recorder's subscription goes to the top layer at once (no hold, no probe) and stays
    there through loss, where a live subscriber would stay low (the recorder repairs loss by retransmission)."""
    from sfu.allocation.layers import recording_layer

    layers = [LayerState(0, 150_000, True), LayerState(1, 450_000, True), LayerState(2, 1_700_000, True)]
    assert recording_layer(0, layers) == 2
    assert step(0, layers, None, 300_000, 0.05, 0.0) == 0  # a live subscriber under 5 % loss stays on q
    # a layer paused at the publisher, or not measured yet, is not taken; nothing active: stay
    assert recording_layer(0, [*layers[:2], LayerState(2, 0.0, False)]) == 1
    assert recording_layer(1, [*layers[:2], LayerState(2, 0.0, True, measured=False)]) == 1
    assert recording_layer(1, [LayerState(0, 0.0, False), LayerState(1, 0.0, False)]) == 1
