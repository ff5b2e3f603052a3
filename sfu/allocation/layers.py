"""Which simulcast layer a subscriber gets: the best one its link and its viewport can use.

Pure functions. Layers are ranked 0 (lowest) upwards; the publisher sends each at roughly a quarter, half and
full resolution (the browser client's encodings). The node measures each layer's bitrate and knows each
subscriber's bandwidth estimate and the size it renders each video at. The estimate is the node's own send-side
one (sfu/congestion/bwe.py, from transport-cc feedback) when the subscriber negotiated transport-cc, else the receiver's
REMB. `step` proposes one move at a time; for a step up that a send-side estimate does not already cover
(`bitrate > estimate share * HEADROOM`), the node first probes the path (sfu/allocation/selection.py) and moves
only when the probe raised the estimate enough; with REMB alone, a clean hold is the probe. Once a probe got
through, the move up goes to the highest layer the estimate covers, possibly several layers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

RID_RANKS = {"q": 0, "l": 0, "low": 0, "h": 1, "m": 1, "mid": 1, "f": 2, "hi": 2, "high": 2}
HEADROOM = 0.85  # use at most this share of the estimate, leaving room for audio, RTCP and estimate error


@dataclass(frozen=True)
class LayerState:
    rank: int
    bitrate_bps: float
    active: bool
    measured: bool = True  # its rate is from a whole interval of sending (sfu/track.py: Layer.measure)


def rank_rids(rids: list[str]) -> dict[str, int]:
    """Ranks the simulcast RIDs: well-known names first, otherwise the order the offer lists them."""
    if rids and all(r.lower() in RID_RANKS for r in rids) and len({RID_RANKS[r.lower()] for r in rids}) == len(rids):
        order = sorted(rids, key=lambda r: RID_RANKS[r.lower()])
    else:
        order = list(rids)
    return {rid: i for i, rid in enumerate(order)}


def viewport_cap(height: int | None, top_rank: int) -> int:
    """The highest rank worth sending to a tile of this height (None or 0: unknown, no cap)."""
    if not height:
        return top_rank
    if height <= 200:
        return 0
    if height <= 400:
        return min(1, top_rank)
    return top_rank


def choose(layers: list[LayerState], viewport_height: int | None, budget_bps: float | None) -> int | None:
    """The rank to forward, or None when no layer is active."""
    active = sorted((layer for layer in layers if layer.active), key=lambda layer: layer.rank)
    if not active:
        return None
    cap = viewport_cap(viewport_height, active[-1].rank)
    fitting = [layer for layer in active if layer.rank <= cap]
    if not fitting:
        return active[0].rank
    if budget_bps is None:
        return fitting[-1].rank
    affordable = [layer for layer in fitting if layer.bitrate_bps <= budget_bps * HEADROOM]
    return (affordable[-1] if affordable else fitting[0]).rank


def recording_layer(current: int, layers: list[LayerState]) -> int:
    """A recorder's layer: the best one the publisher sends (active, its rate measured), whatever its link's
    estimate or loss. A recording is kept and watched later, a live view is not: a recorder repairs its loss by
    retransmission, never with a smaller picture, and sits on a data-centre link. Stays on `current` when no
    measured layer is active."""
    best = [layer.rank for layer in layers if layer.active and layer.measured]
    return max(best) if best else current


UPGRADE_HOLD = 3.0  # seconds a layer must have been clean before trying the next one up
JUMP_HOLD = 0.5  # seconds on a layer before a step up that a probe's result covers may skip the rest of the hold
DOWNGRADE_HOLD = 2.0
FAILED_UPGRADE_WINDOW = 6.0  # a step down this soon after a step up means the upgrade did not fit
MAX_UPGRADE_HOLD = 48.0


def next_upgrade_hold(hold: float, moved_up: bool, moved_down: bool, since_upgrade: float) -> float:
    """Back-off between upgrade attempts: each upgrade the link could not carry doubles the wait before the
    next one (3, 6, 12 ... 48 s), so a throttled subscriber is not pushed into loss every few seconds; holding
    an upgraded layer for long resets it."""
    if moved_down and since_upgrade < FAILED_UPGRADE_WINDOW:
        return min(hold * 2, MAX_UPGRADE_HOLD)
    if not moved_up and not moved_down and since_upgrade > 4 * FAILED_UPGRADE_WINDOW:
        return UPGRADE_HOLD
    return hold


def step(current: int, layers: list[LayerState], viewport_height: int | None, estimate_bps: float | None,
         fraction_lost: float, held_for: float, upgrade_hold: float = UPGRADE_HOLD, probed: bool = False) -> int:
    """The next layer for a subscriber now on `current`.

    Receiver estimates (REMB) follow what the receiver gets, so they cannot say whether a higher layer would fit;
    the node therefore steps up one layer after `upgrade_hold` seconds without loss (a probe with real media,
    backed off by `next_upgrade_hold` when it failed),
    and steps down on loss or when the estimate falls well below what the current layer needs.

    `probed`: the estimate is the node's own send-side one and a probe got through lately (a probe's rate is
    bounded by what the node sent, sfu/congestion/bwe.py: probe_bitrate). Then, when it covers a higher layer,
    the step goes straight to the highest one it covers (LiveKit's forwarder after a probe that succeeded),
    after JUMP_HOLD rather than the hold unless a failed step up backed the hold off — so a lifted limit is used
    as soon as the probes show it. An estimate that crept up without a probe still moves one layer per hold. A layer that has just started sending, whose rate
    is not measured yet (`measured`), is no step up's target: its rate would read as zero, always covered, and
    the real rate that follows a step taken on it could be twice the estimate (the frame rate thinned next).
    """
    active = sorted(layer.rank for layer in layers if layer.active)
    if not active:
        return current
    cap = viewport_cap(viewport_height, active[-1])
    allowed = [r for r in active if r <= cap] or active[:1]
    rate = {layer.rank: layer.bitrate_bps for layer in layers}
    if current not in active or current > allowed[-1]:
        return max((r for r in allowed if r <= current), default=allowed[0])
    lower = [r for r in allowed if r < current]
    congested = fraction_lost > 0.10 or (
        estimate_bps is not None and rate.get(current, 0.0) > estimate_bps * 1.3 and held_for >= DOWNGRADE_HOLD)
    if congested and lower:
        fitting = [r for r in lower if estimate_bps is None or rate.get(r, 0.0) <= estimate_bps * HEADROOM]
        return fitting[-1] if fitting else lower[0]
    measured = {layer.rank: layer.measured for layer in layers}
    higher = [r for r in allowed if r > current and measured[r]]
    if not higher or fraction_lost >= 0.02:
        return current
    if probed and estimate_bps is not None:
        covered = [r for r in higher if rate.get(r, 0.0) <= estimate_bps * HEADROOM]
        # no early jump once a failed step up backed the hold off: that is what stops an up/down oscillation
        if covered and (held_for >= upgrade_hold or (upgrade_hold <= UPGRADE_HOLD and held_for >= JUMP_HOLD)):
            return covered[-1]
    if held_for >= upgrade_hold:
        return higher[0]
    return current


# ---------------- temporal layers (VP8/VP9) and spatial layers (VP9 SVC) ----------------

TEMPORAL_ALL = -1  # the engine's "every temporal layer"
# cumulative share of a layer's bitrate carried by temporal layers 0..n-1 (libwebrtc's VP8 rate allocation)
TEMPORAL_SHARES = {2: (0.6, 1.0), 3: (0.4, 0.6, 1.0), 4: (0.25, 0.4, 0.6, 1.0)}
THIN_MIN = 0.5  # thin a layer out (drop temporal layers) only while the budget is at least this share of it


def temporal_cap(layer_bps: float, estimate_bps: float, temporal_layers: int, floor: bool = False) -> int | None:
    """The highest temporal layer worth forwarding of a layer sending `layer_bps`: TEMPORAL_ALL when the
    estimate carries it whole, a lower TID when it carries at least THIN_MIN of it (or always with `floor`: there
    is no lower layer to fall back to), None when the whole layer should go down instead."""
    budget = estimate_bps * HEADROOM
    if temporal_layers <= 1 or layer_bps <= 0 or budget >= layer_bps:
        return TEMPORAL_ALL
    if budget < layer_bps * THIN_MIN and not floor:
        return None
    shares = TEMPORAL_SHARES.get(temporal_layers) or tuple((i + 1) / temporal_layers for i in range(temporal_layers))
    for tid in range(temporal_layers - 2, -1, -1):
        if layer_bps * shares[tid] <= budget:
            return tid
    return 0


def plan(current: int, current_tid: int, layers: list[LayerState], viewport_height: int | None,
         estimate_bps: float | None, fraction_lost: float, held_for: float, temporal_layers: int,
         upgrade_hold: float = UPGRADE_HOLD, probed: bool = False) -> tuple[int, int]:
    """(rank, highest temporal layer or TEMPORAL_ALL) for a subscriber on `current` / `current_tid`: `step()`,
    except that a subscriber whose estimate falls below its layer but still carries about half of it first loses
    the upper temporal layers (frame rate) and keeps its resolution; the full frame rate comes back before a
    probe one layer up (as step()). A move to another layer always starts with every
    temporal layer."""
    rank = step(current, layers, viewport_height, estimate_bps, fraction_lost, held_for, upgrade_hold, probed)
    if temporal_layers <= 1:
        return rank, TEMPORAL_ALL
    rate = next((layer.bitrate_bps for layer in layers if layer.rank == current), 0.0)
    if rank > current:
        return (current, TEMPORAL_ALL) if current_tid != TEMPORAL_ALL else (rank, TEMPORAL_ALL)
    if rank < current:
        active = [layer.rank for layer in layers if layer.active]
        viewport_ok = bool(active) and current <= viewport_cap(viewport_height, max(active))
        if viewport_ok and fraction_lost <= 0.10 and estimate_bps is not None:
            cap = temporal_cap(rate, estimate_bps, temporal_layers)
            if cap is not None and cap != TEMPORAL_ALL:
                return current, cap
        return rank, TEMPORAL_ALL
    if current_tid != TEMPORAL_ALL:
        if fraction_lost < 0.02 and held_for >= upgrade_hold:
            return current, TEMPORAL_ALL  # probe: the estimate follows what is sent
        return current, current_tid
    if estimate_bps is not None and rate > estimate_bps * 1.3 and held_for >= DOWNGRADE_HOLD:
        # nothing lower to go to (else step() would have gone): thin this layer out
        cap = temporal_cap(rate, estimate_bps, temporal_layers, floor=True)
        return current, TEMPORAL_ALL if cap is None else cap
    return current, TEMPORAL_ALL


def svc_layers(sid_bitrates: list[float], spatial_layers: int) -> list[LayerState]:
    """Spatial layers of a VP9 SVC stream as ranks: forwarding SID s costs the measured rates of SIDs 0..s."""
    out = []
    total = 0.0
    for sid in range(spatial_layers):
        total += sid_bitrates[sid] if sid < len(sid_bitrates) else 0.0
        out.append(LayerState(sid, total, True))
    return out
