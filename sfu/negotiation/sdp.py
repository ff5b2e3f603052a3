"""SDP offers from participants, and the node's answers (RFC 8866, JSEP RFC 8829, BUNDLE RFC 9143).

The participant always offers; the node always answers as an ICE-lite, DTLS-passive endpoint on one UDP port,
with every m-line bundled on one transport. An m-line the participant sends on is a publication; a recvonly
m-line the participant mapped to a track (in the `offer` message) is a subscription, which the answer
describes with the node's SSRC for it. Anything malformed is an `SdpError` with a message a developer can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_SDP = 64 * 1024  # an offer's size in a small room ...
SDP_PER_TRACK = 2 * 1024  # ... plus this per track in the room (a receiving m-line each: aiortc's ~1.5 KB, a
# browser's 1-4 KB by its codec list), so a participant can subscribe to everything in a big room ...
SDP_CEILING = 240 * 1024  # ... up to this, whatever the room: the offer message must fit the 256 KiB frame cap


def offer_limit(tracks: int) -> int:
    """The largest offer accepted from a participant of a room with `tracks` tracks."""
    return min(SDP_CEILING, MAX_SDP + SDP_PER_TRACK * max(0, tracks))

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_RRID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

# what the node accepts per kind; forwarded ones keep their meaning end to end, MID/RID are terminated here
# transport-wide-cc is terminated per leg too: a publisher's numbers get feedback from the node, and a subscriber
# gets the node's own numbers (on every packet sent to it) and answers with feedback for the node's estimator
ACCEPTED_EXTENSIONS = {
    "audio": (URI_MID, URI_AUDIO_LEVEL, URI_ABS_SEND_TIME, URI_TWCC),
    "video": (URI_MID, URI_ABS_SEND_TIME, URI_RID, URI_RRID, URI_TWCC),
}
FORWARDED_EXTENSIONS = (URI_AUDIO_LEVEL, URI_ABS_SEND_TIME)

VIDEO_PREFERENCE = ("VP8", "VP9", "H264")
# goog-remb stays for peers without transport-cc (REMB + abs-send-time); with both, the node prefers transport-cc
VIDEO_FEEDBACK = ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")
AUDIO_FEEDBACK = ("transport-cc",)


class SdpError(ValueError):
    pass


@dataclass
class Codec:
    pt: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str = ""
    feedback: list[str] = field(default_factory=list)

    def fmtp_params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self.fmtp.split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                out[k.strip().lower()] = v.strip()
        return out


@dataclass
class MediaSection:
    kind: str
    port: int
    proto: str
    formats: list[str]
    mid: str = ""
    direction: str = "sendrecv"
    ice_ufrag: str = ""
    ice_pwd: str = ""
    fingerprints: list[tuple[str, str]] = field(default_factory=list)
    setup: str = ""
    codecs: list[Codec] = field(default_factory=list)
    extensions: dict[int, str] = field(default_factory=dict)
    ssrcs: dict[int, dict[str, str]] = field(default_factory=dict)
    ssrc_groups: list[tuple[str, list[int]]] = field(default_factory=list)
    rids: list[tuple[str, str]] = field(default_factory=list)
    simulcast: str = ""
    msid: str = ""
    rtcp_mux: bool = False

    @property
    def sends(self) -> bool:
        return self.port != 0 and self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.port != 0 and self.direction in ("sendrecv", "recvonly")

    def ext_id(self, uri: str) -> int:
        return next((i for i, u in self.extensions.items() if u == uri), 0)

    def primary_ssrcs(self) -> tuple[int | None, int | None]:
        """(media SSRC, its RTX SSRC) of a single-encoding sender, from ssrc-group FID or the lone a=ssrc."""
        for sem, group in self.ssrc_groups:
            if sem == "FID" and len(group) == 2:
                return group[0], group[1]
        if self.ssrcs:
            return next(iter(self.ssrcs)), None
        return None, None


@dataclass
class SessionDescription:
    media: list[MediaSection]
    bundle: list[str]
    ice_lite: bool = False

    def transport(self) -> tuple[str, str, list[tuple[str, str]], str]:
        """(ufrag, pwd, fingerprints, setup) of the bundle transport: the first m-line's."""
        first = self.media[0]
        return first.ice_ufrag, first.ice_pwd, first.fingerprints, first.setup


_LINE = re.compile(r"^([a-z])=(.*)$")
_TOKEN = r"[!#-'*+\-.0-9A-Z^-~]{1,64}"  # RFC 8866 token-char: visible ASCII except "(),/:;<=>?@[\] and DQUOTE
_MSID = re.compile(rf"{_TOKEN}(?: {_TOKEN})?")


def _is_number(s: str) -> bool:
    """ASCII digits only: str.isdigit() is also true for '²' or '١', which int() refuses or reads as a number."""
    return s.isascii() and s.isdigit()


def parse(text: str, max_size: int = MAX_SDP) -> SessionDescription:
    """`max_size`: the limit for this offer (`offer_limit` of the room's tracks)."""
    if not isinstance(text, str) or not text.strip():
        raise SdpError("SDP is empty")
    if len(text) > max_size:
        raise SdpError(f"SDP larger than {max_size} bytes")
    session: dict[str, Any] = {"ice_ufrag": "", "ice_pwd": "", "fingerprints": [], "setup": ""}
    bundle: list[str] = []
    ice_lite = False
    media: list[MediaSection] = []
    cur: MediaSection | None = None
    codecs: dict[int, Codec] = {}
    saw_version = False
    for n, raw in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if "\x00" in line or "\r" in line:
            # RFC 8866 §9: a value is any octets but NUL, CR and LF; echoed into our answer they would break it
            raise SdpError(f"line {n}: contains a NUL or a lone CR")
        m = _LINE.match(line)
        if not m:
            raise SdpError(f"line {n}: not a '<type>=<value>' line")
        typ, value = m.group(1), m.group(2)
        if typ == "v":
            saw_version = value == "0"
        elif typ == "m":
            if cur is not None:
                cur.codecs = list(codecs.values())
            parts = value.split()
            if len(parts) < 3 or not _is_number(parts[1].split("/")[0]):
                raise SdpError(f"line {n}: malformed m-line")
            cur = MediaSection(kind=parts[0], port=int(parts[1].split("/")[0]), proto=parts[2], formats=parts[3:])
            cur.ice_ufrag, cur.ice_pwd = session["ice_ufrag"], session["ice_pwd"]
            cur.fingerprints = list(session["fingerprints"])
            cur.setup = session["setup"]
            codecs = {}
            for f in cur.formats:
                if _is_number(f) and int(f) < 128:
                    codecs[int(f)] = Codec(pt=int(f), name="", clock_rate=0)
            media.append(cur)
        elif typ == "a":
            name, _, arg = value.partition(":")
            _attribute(n, name, arg, cur, codecs, session)
            if name == "group" and arg.startswith("BUNDLE"):
                bundle = arg.split()[1:]
            elif name == "ice-lite":
                ice_lite = True
    if cur is not None:
        cur.codecs = list(codecs.values())
    if not saw_version:
        raise SdpError("SDP must start with v=0")
    if not media:
        raise SdpError("SDP has no m-lines")
    for i, sec in enumerate(media):
        if sec.port == 0:
            continue
        if not sec.mid:
            raise SdpError(f"m-line {i} has no a=mid")
        if sec.kind in ("audio", "video"):
            for c in sec.codecs:
                if not c.name:
                    raise SdpError(f"m-line {i}: payload type {c.pt} has no a=rtpmap")
    owner: dict[int, int] = {}
    for i, sec in enumerate(media):
        # RFC 8843 §9.1: one SSRC, one m-line (a bundle shares the transport, so an SSRC names one stream)
        for sem, group in sec.ssrc_groups:
            if len(set(group)) != len(group):
                raise SdpError(f"m-line {i}: a=ssrc-group:{sem} lists an SSRC twice")
        for ssrc in {*sec.ssrcs, *(x for _, group in sec.ssrc_groups for x in group)}:
            if owner.setdefault(ssrc, i) != i:
                raise SdpError(f"SSRC {ssrc} is in m-lines {owner[ssrc]} and {i}")
    if not bundle:
        raise SdpError("the offer must bundle its m-lines (a=group:BUNDLE)")
    first = next((s for s in media if s.port != 0), None)
    if first is None:
        raise SdpError("every m-line is rejected")
    if not first.ice_ufrag or not first.ice_pwd:
        raise SdpError("missing a=ice-ufrag / a=ice-pwd")
    if len(first.ice_ufrag) < 4 or len(first.ice_pwd) < 22 or len(first.ice_ufrag) > 256 or len(first.ice_pwd) > 256:
        raise SdpError("ice-ufrag must have 4-256 characters and ice-pwd 22-256")
    if not first.fingerprints:
        raise SdpError("missing a=fingerprint")
    if first.setup not in ("actpass", "active"):
        raise SdpError(f"a=setup:{first.setup or '(none)'} is not acceptable in an offer to the node")
    return SessionDescription(media=media, bundle=bundle, ice_lite=ice_lite)


def _attribute(n: int, name: str, arg: str, cur: MediaSection | None, codecs: dict[int, Codec], session: dict[str, Any]) -> None:
    target = cur if cur is not None else None
    try:
        if name == "ice-ufrag":
            (setattr(target, "ice_ufrag", arg) if target else session.__setitem__("ice_ufrag", arg))
        elif name == "ice-pwd":
            (setattr(target, "ice_pwd", arg) if target else session.__setitem__("ice_pwd", arg))
        elif name == "fingerprint":
            alg, value = arg.split(None, 1)
            if target is not None:
                target.fingerprints = [*(f for f in target.fingerprints if f not in session["fingerprints"]), (alg.lower(), value.strip().upper())]
            else:
                session["fingerprints"].append((alg.lower(), value.strip().upper()))
        elif name == "setup":
            (setattr(target, "setup", arg) if target else session.__setitem__("setup", arg))
        elif target is None:
            return
        elif name == "mid":
            target.mid = arg.strip()
            if not target.mid or len(target.mid) > 32:
                raise SdpError(f"line {n}: a=mid must have 1-32 characters")
        elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
            target.direction = name
        elif name == "rtcp-mux":
            target.rtcp_mux = True
        elif name == "rtpmap":
            pt_s, enc = arg.split(None, 1)
            parts = enc.split("/")
            pt = int(pt_s)
            if pt in codecs:
                codecs[pt].name = parts[0]
                codecs[pt].clock_rate = int(parts[1])
                codecs[pt].channels = int(parts[2]) if len(parts) > 2 else 1
        elif name == "fmtp":
            pt_s, _, params = arg.partition(" ")
            if int(pt_s) in codecs:
                codecs[int(pt_s)].fmtp = params.strip()
        elif name == "rtcp-fb":
            pt_s, _, fb = arg.partition(" ")
            for pt, c in codecs.items():
                if pt_s == "*" or (_is_number(pt_s) and int(pt_s) == pt):
                    c.feedback.append(fb.strip())
        elif name == "extmap":
            id_s, uri = arg.split(None, 1)
            ext_id = int(id_s.split("/")[0])
            if not 1 <= ext_id <= 255:
                raise SdpError(f"line {n}: extension id {ext_id} out of range")
            target.extensions[ext_id] = uri.split()[0]
        elif name == "ssrc":
            ssrc_s, _, attr = arg.partition(" ")
            ssrc = int(ssrc_s)
            if not 0 <= ssrc < 2**32:
                raise SdpError(f"line {n}: SSRC out of range")
            key, _, val = attr.partition(":")
            target.ssrcs.setdefault(ssrc, {})[key] = val
        elif name == "ssrc-group":
            sem, *ids = arg.split()
            group = [int(i) for i in ids]
            if not all(0 <= ssrc < 2**32 for ssrc in group):
                raise SdpError(f"line {n}: SSRC out of range")
            target.ssrc_groups.append((sem, group))
        elif name == "rid":
            rid, direction, *_ = arg.split() + [""]
            target.rids.append((rid, direction))
        elif name == "simulcast":
            target.simulcast = arg
        elif name == "msid":
            # RFC 8830 §2: msid-id [SP msid-appdata], each 1*64 token-char. The stream id is written into the
            # answers of everyone who subscribes to this track, so what their browsers would refuse is refused here
            if not _MSID.fullmatch(arg):
                raise SdpError(f"line {n}: a=msid must be one or two ids of 1-64 token characters")
            target.msid = arg
    except SdpError:
        raise
    except (ValueError, IndexError) as e:
        raise SdpError(f"line {n}: malformed a={name}: {e}") from None


# ---------------------------------------------------------------- answer


@dataclass
class Negotiated:
    """What the node agreed for one m-line: the codec (and RTX) both sides use, and extension ids."""

    mid: str
    kind: str
    codec: Codec
    rtx_pt: int | None
    extensions: dict[int, str]  # id -> uri, as in the offer, limited to what the node accepts


@dataclass
class OutgoingStream:
    """A subscription as the answer describes it: the node's SSRCs for this m-line."""

    ssrc: int
    rtx_ssrc: int | None
    cname: str
    stream_id: str
    track_id: str


def negotiate(section: MediaSection, want: str | None = None) -> Negotiated | None:
    """The codec for this m-line: the node's preference, or exactly `want` (a subscription to a track)."""
    if section.port == 0 or section.kind not in ("audio", "video"):
        return None
    codec = _choose_codec(section, want)
    if codec is None:
        return None
    rtx_pt = None
    if section.kind == "video":
        for c in section.codecs:
            if c.name.lower() == "rtx" and c.fmtp_params().get("apt") == str(codec.pt):
                rtx_pt = c.pt
                break
    accepted = ACCEPTED_EXTENSIONS[section.kind]
    exts = {i: u for i, u in section.extensions.items() if u in accepted}
    return Negotiated(section.mid, section.kind, codec, rtx_pt, exts)


def _choose_codec(section: MediaSection, want: str | None) -> Codec | None:
    if section.kind == "audio":
        return next((c for c in section.codecs if c.name.lower() == "opus" and c.clock_rate == 48000), None)
    for name in VIDEO_PREFERENCE if want is None else (want.upper(),):
        cands = [c for c in section.codecs if c.name.upper() == name and c.clock_rate == 90000]
        if name == "H264":
            cands = [c for c in cands if c.fmtp_params().get("packetization-mode") == "1"]
            cands.sort(key=lambda c: c.fmtp_params().get("profile-level-id", "").lower() != "42e01f")
        if name == "VP9":
            cands = [c for c in cands if c.fmtp_params().get("profile-id", "0") == "0"]
        if cands:
            return cands[0]
    return None


def build_answer(
    offer: SessionDescription,
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint: str,
    host: str,
    port: int,
    session_id: int,
    version: int,
    directions: dict[str, str],
    outgoing: dict[str, OutgoingStream],
    wanted_codecs: dict[str, str] | None = None,
) -> tuple[str, dict[str, Negotiated]]:
    """The node's answer. `directions[mid]` is 'recvonly' (publication), 'sendonly' (subscription, with
    outgoing[mid]) or 'inactive'; an m-line the node cannot use is rejected with port 0."""
    family = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o=- {session_id} {version} IN {family} {host}",
        "s=castellan",
        "t=0 0",
        "a=ice-lite",
        "a=msid-semantic: WMS *",
    ]
    accepted_mids: list[str] = []
    body: list[str] = []
    negotiated: dict[str, Negotiated] = {}
    for sec in offer.media:
        neg = negotiate(sec, (wanted_codecs or {}).get(sec.mid))
        if neg is None:
            body += [f"m={sec.kind} 0 {sec.proto} {' '.join(sec.formats) or '0'}", f"c=IN {family} {host}"]
            if sec.mid:
                body.append(f"a=mid:{sec.mid}")
            body.append("a=inactive")
            continue
        negotiated[sec.mid] = neg
        accepted_mids.append(sec.mid)
        pts = [neg.codec.pt] + ([neg.rtx_pt] if neg.rtx_pt is not None else [])
        body += [
            f"m={sec.kind} {port} UDP/TLS/RTP/SAVPF {' '.join(map(str, pts))}",
            f"c=IN {family} {host}",
            "a=rtcp:9 IN IP4 0.0.0.0",
            f"a=ice-ufrag:{ice_ufrag}",
            f"a=ice-pwd:{ice_pwd}",
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:passive",
            f"a=mid:{sec.mid}",
        ]
        for ext_id, uri in sorted(neg.extensions.items()):
            body.append(f"a=extmap:{ext_id} {uri}")
        direction = directions.get(sec.mid, "inactive")
        body += [f"a={direction}", "a=rtcp-mux", "a=rtcp-rsize"]
        c = neg.codec
        enc = f"{c.name}/{c.clock_rate}" + (f"/{c.channels}" if sec.kind == "audio" and c.channels > 1 else "")
        body.append(f"a=rtpmap:{c.pt} {enc}")
        for fb in VIDEO_FEEDBACK if sec.kind == "video" else AUDIO_FEEDBACK:
            if fb in c.feedback:
                body.append(f"a=rtcp-fb:{c.pt} {fb}")
        if c.fmtp:
            body.append(f"a=fmtp:{c.pt} {c.fmtp}")
        if neg.rtx_pt is not None:
            body += [f"a=rtpmap:{neg.rtx_pt} rtx/{c.clock_rate}", f"a=fmtp:{neg.rtx_pt} apt={c.pt}"]
        if direction == "recvonly" and sec.rids and sec.simulcast:
            for rid, _ in sec.rids:
                body.append(f"a=rid:{rid} recv")
            body.append("a=simulcast:recv " + sec.simulcast.split(None, 1)[-1])
        out = outgoing.get(sec.mid)
        if direction == "sendonly" and out is not None:
            body.append(f"a=msid:{out.stream_id} {out.track_id}")
            if out.rtx_ssrc is not None and neg.rtx_pt is not None:
                body.append(f"a=ssrc-group:FID {out.ssrc} {out.rtx_ssrc}")
            body.append(f"a=ssrc:{out.ssrc} cname:{out.cname}")
            if out.rtx_ssrc is not None and neg.rtx_pt is not None:
                body.append(f"a=ssrc:{out.rtx_ssrc} cname:{out.cname}")
        body += [f"a=candidate:1 1 udp 2130706431 {host} {port} typ host", "a=end-of-candidates"]
    lines.insert(4, "a=group:BUNDLE " + " ".join(m for m in offer.bundle if m in accepted_mids))
    return "\r\n".join(lines + body) + "\r\n", negotiated
