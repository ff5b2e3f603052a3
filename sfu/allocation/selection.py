"""Which layer each subscriber gets (LiveKit: the forwarder's allocation): simulcast layer, VP9 spatial layer
and temporal layers, from the publisher's measured layer rates, the subscriber's downlink estimate, its loss and
the size it renders the track at (the pure rules are in sfu/allocation/layers.py). With a send-side
(transport-cc) estimate, a step up the estimate does not cover waits for a probe that shows room for it; with
REMB only, a clean hold is the probe. After a probe got through, a step up goes straight to the highest layer
the estimate covers without the rest of the hold (issue 14); a layer that has just started sending is no step
up's target until its rate is measured. A recorder takes the best layer at once, whatever its estimate and loss
(layers.py: recording_layer). Simulcast layers nobody takes are switched off at the publisher.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sfu.allocation.layers import (
    HEADROOM,
    TEMPORAL_ALL,
    LayerState,
    next_upgrade_hold,
    recording_layer,
    svc_layers,
)
from sfu.allocation.layers import plan as plan_layers
from sfu.feedback.reports import REPORT_INTERVAL

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.subscription import Subscription
    from sfu.track import Track

log = logging.getLogger("castellan.node")

REMB_CATCH_UP = 20.0  # after an upgrade, a growing REMB below the layer's rate is trusted to catch up this long
ACTIVE_WITHIN = 2.0  # a layer that sent nothing for this long is not offered
PROBED_WITHIN = 3.0  # a probe's result this recent lets a step up it covers skip the hold (layers.step: probed)


class LayerAllocation:
    def __init__(self, node: Node) -> None:
        self.node = node

    # ---- what the publishers send

    def measure(self, p: Participant, now: float) -> None:
        """Each layer's bitrate and activity, and (VP8/VP9) its temporal and spatial layers."""
        engine = self.node.media_engine
        for track in p.published.values():
            if not track.simulcast and not track.layered:
                continue
            for layer in track.layers:
                st = engine.track_stats(layer.index)
                if st is None:
                    continue
                layer.measure(st[0], st[1], now, REPORT_INTERVAL)
                if track.layered:
                    info = engine.track_layers(layer.index)
                    if info is None:
                        continue
                    max_sid, max_tid, ss_layers, sid_octets = info
                    layer.temporal_layers = max_tid + 1 if max_tid >= 0 else 1
                    if track.codec == "vp9" and not track.simulcast:
                        track.measure_spatial(ss_layers, max_sid, sid_octets, REPORT_INTERVAL)

    def sync(self) -> None:
        """Learns which layer each subscription is on now (the engine switches at keyframes)."""
        engine = self.node.media_engine
        for p in self.node.by_id.values():
            for sub in p.subscriptions.values():
                if sub.target is None:
                    continue
                state = engine.subscription_layer(sub.index)
                if state is not None and state[1] == -1:
                    sub.switched(state[0])

    # ---- what each subscriber gets

    def measure_relayed(self, now: float) -> None:
        """The layers of tracks relayed in from other nodes (their publishers have no session here): measured as a
        local publisher's, so the far subscribers' choice sees which layers cross (sfu/cascade/link.py) and at what
        rate."""
        for room in list(self.node.rooms.values()):
            for p in list(room.participants.values()):
                if p.relayed_from is not None:
                    self.measure(p, now)

    def select(self, now: float) -> None:
        """Every subscriber's layers; then the simulcast layers nobody takes are switched off (layer 0 stays)."""
        self.measure_relayed(now)
        for p in list(self.node.by_id.values()):
            self.select_for(p, now)
        for p in list(self.node.by_id.values()):
            for track in p.published.values():
                if track.simulcast:
                    self._update_activity(track)

    def select_for(self, p: Participant, now: float) -> None:
        """One subscriber's layer moves."""
        node = self.node
        engine = node.media_engine
        down = p.downlink
        subs = [s for s in p.subscriptions.values() if s.track.scalable and not s.paused]
        if not subs:
            return
        share = down.estimate_bps / len(subs) if down.estimate_bps else None
        send_side = down.send_side
        # a probe that got through lately raised the estimate on evidence: a step up it covers skips the hold
        probed = send_side and now - down.probe_plan.through_at < PROBED_WITHIN
        catching_up = False
        if not send_side and share is not None and not down.remb_falling:
            # a receiver's REMB trails what it receives (it grows ~8 %/s after an upgrade): below the new layer's
            # rate it means congestion only if it falls, or has not grown at all 2 s on; while it climbs, loss is
            # the signal (for at most REMB_CATCH_UP seconds)
            since = now - max(s.upgraded_at for s in subs)
            if since < REMB_CATCH_UP and (since < 2.0 or (down.estimate_bps or 0) >= 1.05 * down.remb_at_upgrade):
                share, catching_up = None, True
        for sub in subs:
            if sub.track.spatial_layers > 1:
                self._select_svc(sub, now, share)
                continue
            if sub.target is not None or sub.layer is None:
                continue  # a switch is under way: wait for its keyframe
            states = [LayerState(lyr.rank, lyr.bitrate_bps, now - lyr.last_active < ACTIVE_WITHIN, lyr.averaged)
                      for lyr in sub.track.layers]
            # the layer, and (temporal layers) the frame rate: fewer frames before a smaller picture
            if p.recorder:
                rank, tid = recording_layer(sub.layer.rank, states), TEMPORAL_ALL
            else:
                rank, tid = plan_layers(sub.layer.rank, sub.max_tid, states, sub.viewport_height, share,
                                        sub.fraction_lost, now - sub.layer_since, sub.layer.temporal_layers,
                                        sub.upgrade_hold, probed)
            want = sub.track.layer(rank)
            if catching_up and rank > sub.layer.rank and not p.recorder:
                continue  # no further step up before the REMB shows the last one fits
            if (want is not None and rank > sub.layer.rank and send_side and not p.recorder
                    and (share is None or want.bitrate_bps > share * HEADROOM)
                    and node.congestion.prober.probe_for(p, len(subs), want, now)):
                continue  # not yet: a probe decides
            sub.upgrade_hold = next_upgrade_hold(sub.upgrade_hold, rank > sub.layer.rank, rank < sub.layer.rank,
                                                 now - sub.upgraded_at)
            if want is None:
                continue
            if want is sub.layer:
                if tid != sub.max_tid:
                    log.info("subscription %s of %s: temporal layers %s -> %s (estimate %s, layer rate %d)", sub.mid,
                             p.id, sub.max_tid, tid, share and int(share), int(sub.layer.bitrate_bps))
                    engine.set_temporal(sub.index, tid)
                    sub.max_tid = tid
                    sub.layer_since = now
                continue
            if rank > sub.layer.rank:
                down.upgraded()
            log.info("subscription %s of %s: layer %s -> %s (estimate %s, loss %.2f, layer rates %s)", sub.mid, p.id,
                     sub.layer.rid, want.rid, share and int(share), sub.fraction_lost,
                     [int(s.bitrate_bps) for s in states])
            engine.switch_layer(sub.index, want.index)
            if sub.max_tid != TEMPORAL_ALL:
                engine.set_temporal(sub.index, TEMPORAL_ALL)
            sub.begin_switch(want, now)
            node.keyframes.request(sub.track, want, force=True)

    def _select_svc(self, sub: Subscription, now: float, share: float | None) -> None:
        """VP9 SVC: the spatial layer (rank = SID) and temporal layer a subscriber gets from the one stream. Going
        up needs a keyframe (the engine waits for one); going down happens at the next picture."""
        track = sub.track
        n = track.spatial_layers
        current = sub.max_sid if 0 <= sub.max_sid < n else n - 1
        if sub.subscriber.recorder:
            rank, tid = n - 1, TEMPORAL_ALL  # a recording keeps the whole picture (layers.py: recording_layer)
        else:
            rank, tid = plan_layers(current, sub.max_tid, svc_layers(track.sid_bitrates, n), sub.viewport_height,
                                    share, sub.fraction_lost, now - sub.layer_since,
                                    track.layers[0].temporal_layers if track.layers else 1)
        if rank == current and tid == sub.max_tid:
            return
        self.node.media_engine.set_svc(sub.index, rank, tid)
        if rank > current:
            self.node.keyframes.request(track, track.layers[0] if track.layers else None, force=True)
        sub.max_sid, sub.max_tid, sub.layer_since = rank, tid, now

    def _update_activity(self, track: Track) -> None:
        used = {0} | track.relay_ranks  # what crosses to another node of the meeting is taken there
        for sub in track.subscriptions.values():
            for lyr in (sub.layer, sub.target):
                if lyr is not None:
                    used.add(lyr.rank)
            if sub.layer is not None and sub.layer.rank < max(track.rid_ranks.values()):
                used.add(sub.layer.rank + 1)  # keep the next layer warm, so upgrades are possible
        active = {rid: rank in used for rid, rank in track.rid_ranks.items()}
        if active != track.active_rids:
            track.active_rids = active
            track.owner.send({"type": "layers", "track": track.id, "active": active})
