"""The node's choice of VP9 spatial layers and VP8 temporal layers, against a recording stand-in engine: what it
measures per SID/TID from the engine's counters and what it tells the engine (`set_svc`, `set_temporal`)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from sfu.allocation.layers import TEMPORAL_ALL
from sfu.config import NodeConfig
from sfu.node import Node
from sfu.participant import MediaState, Participant
from sfu.room import Room
from sfu.subscription import Subscription
from sfu.track import Layer, Track


class RecordingEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.octets = 0
        self.sid_octets = [0, 0, 0, 0, 0, 0, 0, 0]
        self.layers = (2, 2, 3)

    def track_stats(self, track: int) -> tuple[int, ...]:
        return (self.octets // 1000, self.octets, 0, 0, 0, 0, 0, -1, 0)

    def track_layers(self, track: int) -> tuple[Any, ...]:
        return (*self.layers, list(self.sid_octets))

    def send_rtcp(self, peer: int, data: bytes) -> bool:
        self.calls.append(("send_rtcp", peer))
        return True

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, *args))


def setup(codec: str) -> tuple[Node, RecordingEngine, Participant, Subscription]:
    node = Node(NodeConfig())
    eng = RecordingEngine()
    node.engine = eng  # type: ignore[assignment]
    room = Room("t", "r")
    pub = Participant("pub", "Pub", room, 0, "t", media=MediaState.READY)
    sub_p = Participant("sub", "Sub", room, 1, "t", media=MediaState.READY)
    neg = SimpleNamespace(codec=SimpleNamespace(feedback=["nack pli"]))
    track = Track("TR", pub, 0, "video", "0", 1111, codec, 90000, neg, layers=[Layer("", 0, 1111, 0)])  # type: ignore[arg-type]
    pub.published["0"] = track
    sub = Subscription(0, track, sub_p, "0", 5555, None, 100, None, "c", layer=track.layers[0])
    sub.layer_since = time.monotonic() - 10
    sub_p.subscriptions["0"] = sub
    track.subscriptions[0] = sub
    node.by_id = {"pub": pub, "sub": sub_p}
    return node, eng, sub_p, sub


def measure(node: Node, eng: RecordingEngine, per_sid_bps: list[int], seconds: int = 20) -> None:
    pub = node.by_id["pub"]
    for i in range(seconds):
        for sid, bps in enumerate(per_sid_bps):
            eng.sid_octets[sid] += bps // 8
        eng.octets += sum(per_sid_bps) // 8
        node.allocation.measure(pub, 100.0 + i)


def test_a_vp9_svc_track_is_detected_and_the_spatial_layer_follows_the_estimate() -> None:
    node, eng, sub_p, sub = setup("vp9")
    measure(node, eng, [150_000, 300_000, 600_000])
    track = sub.track
    assert track.spatial_layers == 3 and track.layers[0].temporal_layers == 3 and track.scalable
    assert [round(b, -4) for b in track.sid_bitrates] == [150_000, 300_000, 600_000]
    # 600 kb/s: SIDs 0+1 (450 kb/s) fit, 2 does not, and 600 is under half of 1.05 Mb/s: no thinning
    sub_p.downlink.estimate_bps = 600_000
    node.allocation.select(time.monotonic())
    assert ("set_svc", 0, 1, TEMPORAL_ALL) in eng.calls
    assert (sub.max_sid, sub.max_tid) == (1, TEMPORAL_ALL)
    # a rich link later: one spatial layer up, with a keyframe request (the engine switches at it)
    eng.calls.clear()
    sub_p.downlink.estimate_bps = 5_000_000
    sub.layer_since = time.monotonic() - 10
    node.allocation.select(time.monotonic())
    assert eng.calls[0] == ("set_svc", 0, 2, TEMPORAL_ALL)
    assert ("send_rtcp", 0) in eng.calls


def test_a_single_vp8_stream_with_temporal_layers_loses_frame_rate_under_a_low_estimate() -> None:
    node, eng, sub_p, sub = setup("vp8")
    eng.layers = (0, 2, 0)
    measure(node, eng, [1_000_000])
    assert sub.track.layers[0].temporal_layers == 3 and sub.track.spatial_layers == 1
    sub_p.downlink.estimate_bps = 600_000        # 510 kb/s budget: TL0 (40 %) only
    node.allocation.select(time.monotonic())
    assert eng.calls == [("set_temporal", 0, 0)] and sub.max_tid == 0
    eng.calls.clear()
    sub_p.downlink.estimate_bps = 5_000_000      # after a clean hold the full frame rate comes back
    sub.layer_since = time.monotonic() - 10
    node.allocation.select(time.monotonic())
    assert eng.calls == [("set_temporal", 0, TEMPORAL_ALL)]
