"""A real media node for the targets that need one: sfu.node.Node with the native engine on a loopback UDP
socket (what Node.start does, without the event-loop reader and ticker: the fuzz targets drive it directly),
small tables so a leaked index shows within a few inputs, and a publisher whose tracks others subscribe to."""

from __future__ import annotations

import socket

from native.engine import Engine
from sfu.config import NodeConfig
from sfu.node import Node
from sfu.participant import Participant
from signalling.tokens.claims import JoinClaims

REGION = "local"
FINGERPRINT = ("AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99")


def offer(mids: list[tuple[str, str, str]], ufrag: str = "Ab12", ssrc_base: int = 1000) -> str:
    """A Chrome-like offer: (mid, kind, direction) per m-line; sending ones carry a=ssrc (RTX for video)."""
    lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(m for m, _, _ in mids), "a=msid-semantic: WMS stream"]
    for i, (mid, kind, direction) in enumerate(mids):
        fmts = "111" if kind == "audio" else "96 97"
        lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF {fmts}", "c=IN IP4 0.0.0.0", f"a=ice-ufrag:{ufrag}",
                  "a=ice-pwd:abcdefghijklmnopqrstuvwx", f"a=fingerprint:sha-256 {FINGERPRINT}", "a=setup:actpass",
                  f"a=mid:{mid}", "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
                  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", f"a={direction}", "a=rtcp-mux"]
        if kind == "audio":
            lines += ["a=rtpmap:111 opus/48000/2", "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10"]
        else:
            lines += ["a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli",
                      "a=rtcp-fb:96 transport-cc", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"]
        if direction in ("sendonly", "sendrecv"):
            ssrc = ssrc_base + 10 * i
            lines.append(f"a=msid:stream {kind}{i}")
            if kind == "video":
                lines += [f"a=ssrc-group:FID {ssrc} {ssrc + 1}", f"a=ssrc:{ssrc + 1} cname:abc"]
            lines.append(f"a=ssrc:{ssrc} cname:abc")
    return "\r\n".join(lines) + "\r\n"


class FuzzNode:
    def __init__(self, max_peers: int = 16, max_tracks: int = 64, max_subs: int = 128) -> None:
        cfg = NodeConfig(udp_port=0, region=REGION, max_peers=max_peers, max_tracks=max_tracks, max_subs=max_subs,
                         measure_latency=False, media_thread=False)
        self.node = node = Node(cfg)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        node.sock = self.sock
        node.config.udp_port = self.sock.getsockname()[1]
        node.engine = Engine(self.sock.fileno(), max_peers, max_tracks, max_subs, False)
        self.publisher = self.join("publisher")
        node.handle_offer(self.publisher, offer([("0", "audio", "sendonly"), ("1", "video", "sendonly")]), {})
        self.baseline = self.usage()

    def join(self, participant: str) -> Participant:
        claims = JoinClaims(tenant="t", room="r", participant=participant, region=REGION, node="node-1",
                            jti=participant, exp=2**40)
        return self.node.join(claims)

    def usage(self) -> tuple[int, int, int]:
        """Free (peers, tracks, subscriptions) indexes."""
        n = self.node
        return len(n.peers._free), len(n.track_ids._free), len(n.sub_ids._free)

    def publisher_tracks(self) -> dict[str, str]:
        """mid -> track id to subscribe to, for an offer's receiving m-lines ("0": audio, "1": video...)."""
        tracks = list(self.publisher.published.values())
        audio = next(t.id for t in tracks if t.kind == "audio")
        video = next(t.id for t in tracks if t.kind == "video")
        return {str(i): (audio if i % 2 == 0 else video) for i in range(8)}

    def drain_outboxes(self) -> None:
        for p in self.node.by_id.values():
            while not p.outbox.empty():
                p.outbox.get_nowait()
