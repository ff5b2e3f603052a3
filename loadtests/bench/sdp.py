"""The bench peers' SDP: offers built the way a browser would build them (BUNDLE, rtcp-mux, ICE + DTLS
attributes on every m-line), and the little of an answer a peer needs (ICE, fingerprint, candidate, SSRCs)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

OPUS_PT = 111
VP8_PT = 96
RTX_PT = 97
EXT_AUDIO_LEVEL = 1
EXT_ABS_SEND_TIME = 2
EXT_MID = 4
EXT_RID = 10
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"


@dataclass
class MLine:
    kind: str  # "audio" | "video"
    mid: str
    direction: str  # "sendonly" | "recvonly"
    ssrc: int = 0
    rtx_ssrc: int = 0
    rids: tuple[str, ...] = ()  # simulcast encodings, lowest first (RID-signalled: no SSRC lines)


@dataclass
class Transport:
    """Where and how to reach the other side's media transport (what an answer tells a peer)."""

    host: str
    port: int
    ufrag: str
    pwd: str
    fingerprints: list[tuple[str, str]]
    ssrcs: dict[str, list[int]] = field(default_factory=dict)  # mid -> SSRCs the other side sends


def offer(ufrag: str, pwd: str, fingerprint: str, mlines: list[MLine], cname: str) -> str:
    lines = [
        "v=0",
        f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(m.mid for m in mlines),
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS *",
    ]
    for m in mlines:
        if m.kind == "audio":
            lines += [f"m=audio 9 UDP/TLS/RTP/SAVPF {OPUS_PT}"]
        else:
            lines += [f"m=video 9 UDP/TLS/RTP/SAVPF {VP8_PT} {RTX_PT}"]
        lines += [
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            f"a=ice-ufrag:{ufrag}",
            f"a=ice-pwd:{pwd}",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:actpass",
            f"a=mid:{m.mid}",
            f"a=extmap:{EXT_MID} {URI_MID}",
            f"a=extmap:{EXT_ABS_SEND_TIME} {URI_ABS_SEND_TIME}",
        ]
        if m.kind == "audio":
            lines.append(f"a=extmap:{EXT_AUDIO_LEVEL} {URI_AUDIO_LEVEL}")
        if m.rids:
            lines.append(f"a=extmap:{EXT_RID} {URI_RID}")
        lines += [f"a={m.direction}", "a=rtcp-mux", "a=rtcp-rsize"]
        if m.kind == "audio":
            lines += [f"a=rtpmap:{OPUS_PT} opus/48000/2", f"a=fmtp:{OPUS_PT} minptime=10;useinbandfec=1"]
        else:
            lines += [f"a=rtpmap:{VP8_PT} VP8/90000"]
            lines += [f"a=rtcp-fb:{VP8_PT} {fb}" for fb in ("goog-remb", "ccm fir", "nack", "nack pli")]
            lines += [f"a=rtpmap:{RTX_PT} rtx/90000", f"a=fmtp:{RTX_PT} apt={VP8_PT}"]
        if m.direction == "sendonly" and m.rids:
            lines.append(f"a=msid:{cname}-stream {cname}-{m.kind}")
            lines += [f"a=rid:{rid} send" for rid in m.rids]
            lines.append("a=simulcast:send " + ";".join(m.rids))
        elif m.direction == "sendonly":
            lines.append(f"a=msid:{cname}-stream {cname}-{m.kind}")
            if m.kind == "video" and m.rtx_ssrc:
                lines.append(f"a=ssrc-group:FID {m.ssrc} {m.rtx_ssrc}")
            lines.append(f"a=ssrc:{m.ssrc} cname:{cname}")
            if m.kind == "video" and m.rtx_ssrc:
                lines.append(f"a=ssrc:{m.rtx_ssrc} cname:{cname}")
    return "\r\n".join(lines) + "\r\n"


def parse_answer(text: str) -> Transport:
    ufrag = pwd = ""
    fps: list[tuple[str, str]] = []
    host, port = "", 0
    ssrcs: dict[str, list[int]] = {}
    mid = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            mid = ""
        elif line.startswith("a=ice-ufrag:"):
            ufrag = line.split(":", 1)[1]
        elif line.startswith("a=ice-pwd:"):
            pwd = line.split(":", 1)[1]
        elif line.startswith("a=fingerprint:"):
            alg, value = line.split(":", 1)[1].split(None, 1)
            if (alg.lower(), value.upper()) not in fps:
                fps.append((alg.lower(), value.strip().upper()))
        elif line.startswith("a=candidate:") and not host:
            parts = line.split()
            if len(parts) >= 6 and parts[2].lower() == "udp":
                host, port = parts[4], int(parts[5])
        elif line.startswith("a=mid:"):
            mid = line.split(":", 1)[1]
        elif line.startswith("a=ssrc:") and mid:
            s = int(line.split(":", 1)[1].split()[0])
            if s not in ssrcs.setdefault(mid, []):
                ssrcs[mid].append(s)
    if not (ufrag and pwd and fps and host and port):
        raise ValueError("answer lacks ICE credentials, fingerprint or a UDP candidate")
    return Transport(host, port, ufrag, pwd, fps, ssrcs)
