"""Writes the hand-made seeds of every target into tests/fuzz/corpus/<target>/seed-*: one well-formed input per
feature the parser has (so the fuzzer starts inside the grammar, not at random bytes). The campaign adds what
it finds; `python -m tests.fuzz.seeds` rewrites the seeds only."""

from __future__ import annotations

import json
import struct

from sfu.feedback import rtcp
from tests.fuzz.targets import CORPUS

FP = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"


def rtp_packet(seq: int = 1, ext: bytes = b"", profile: int = 0xBEDE, payload: bytes = b"\x90\x80\x05\x10\x00",
               csrcs: int = 0, pad: int = 0, pt: int = 96, marker: int = 0) -> bytes:
    b0 = 0x80 | csrcs | (0x10 if ext else 0) | (0x20 if pad else 0)
    out = struct.pack("!BBHII", b0, marker << 7 | pt, seq, 1000 * seq, 0x1234) + bytes(4 * csrcs)
    if ext:
        ext += bytes(-len(ext) % 4)
        out += struct.pack("!HH", profile, len(ext) // 4) + ext
    return out + payload + (bytes(pad - 1) + bytes([pad]) if pad else b"")


def rtp_seeds() -> dict[str, bytes]:
    params = bytes([3, 0, 0, 0, 0x11, 0x60, 0x01, 0x02])
    one = bytes([0x10, 0xAA, 0x22, 1, 2, 3, 0x30, 0x12, 0x34, 0, 0])        # ids 1 (1 byte), 2 (3), 3 (2) + pad
    two = bytes([1, 1, 0xAA, 3, 2, 0x12, 0x34, 0, 5, 0])
    return {
        "plain": params + rtp_packet(),
        "one-byte-ext": params + rtp_packet(ext=one),
        "two-byte-ext": params + rtp_packet(ext=two, profile=0x1000),
        "csrc-padding": params + rtp_packet(csrcs=2, pad=4, ext=one),
        "other-profile": params + rtp_packet(ext=b"\x01\x02\x03\x04", profile=0xABCD),
        "twcc-out": bytes([3, 0x23, 0x01, 0, 3, 0x60, 0x01, 0x02]) + rtp_packet(ext=one, marker=1),
    }


VP8 = {
    "vp8-key": bytes([0x90, 0xE0, 0x80, 0x01, 0x05, 0x20]) + b"\x00\x00\x00\x9d\x01\x2a",
    "vp8-delta-tl": bytes([0x90, 0xF0, 0x81, 0x02, 0x07, 0x60]) + b"\x01\x00",
    "vp8-short-pid": bytes([0x80, 0x80, 0x05]) + b"\x00",
    "vp8-no-x": bytes([0x10]) + b"\x00\x00",
}
VP9 = {
    "vp9-key-ss": bytes([0x8A, 0x81, 0x02, 0x00, 0x05, 0x18 | 0x20 | 0x40, 0x01, 0x40, 0x00, 0xF0, 0x02, 0x80, 0x01, 0x00,
                         0x01, 0x04, 0x01]),
    "vp9-flexible": bytes([0xF8, 0x81, 0x02, 0x20, 0x03, 0x05]),
    "vp9-layers": bytes([0xAC, 0x05, 0x42, 0x07]),
}
H264 = {
    "h264-idr": bytes([0x65, 0x88, 0x80]),
    "h264-stap-a": bytes([0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE, 0x00, 0x02, 0x65, 0x88]),
    "h264-fu-a": bytes([0x7C, 0x85, 0x88, 0x80]),
}


def codec_seeds() -> dict[str, bytes]:
    out = {}
    for name, payload in VP8.items():
        out[name] = bytes([0x00 | 0x80, 0x12, 0x34, 0x05, 0x10]) + payload
    for name, payload in VP9.items():
        out[name] = bytes([0x01, 0, 0, 0, 0]) + payload
    for name, payload in H264.items():
        out[name] = bytes([0x02, 0, 0, 0, 0]) + payload
    out["munge-resync"] = bytes([0x40, 0x7F, 0xF0, 0xFE, 0x7F]) + VP8["vp8-delta-tl"]
    return out


def layer_seeds() -> dict[str, bytes]:
    recs = b""
    for i in range(8):
        tid = (0, 2, 1, 2)[i % 4]
        desc = bytes([0x90 if i % 4 == 0 else 0x80, 0xE0 | 0x10, 0x80 | 0, i, i // 4, tid << 6 | (0x20 if tid else 0)])
        payload = desc + (b"\x00\x00\x00\x9d\x01\x2a" if i == 0 else b"\x01\x00")
        pkt = rtp_packet(seq=100 + i, payload=payload, marker=1)
        cap = 0xF1 if i == 4 else 0xFF
        recs += bytes([cap, len(pkt)]) + pkt
    vp9 = b""
    for i in range(6):
        sid = i % 2
        payload = bytes([0xA8 | (0x04 if sid else 0) | (0x02 if i == 0 else 0), 0x80 | 0, i, 0x20 | sid << 1, i])
        if i == 0:
            payload += bytes([0x30, 0x01, 0x40, 0x00, 0xF0, 0x02, 0x80, 0x01, 0x68])
        pkt = rtp_packet(seq=200 + i, payload=payload)
        vp9 += bytes([0x0F if i == 3 else 0xFF, len(pkt)]) + pkt
    return {"vp8-temporal": bytes([0x00, 0x03]) + recs, "vp9-svc": bytes([0x01, 0x10]) + vp9,
            "h264-late": bytes([0x02, 0x00]) + b"".join(bytes([0xFF, len(p)]) + p for p in (
                rtp_packet(5, payload=H264["h264-idr"]), rtp_packet(7, payload=b"\x41"), rtp_packet(6, payload=b"\x41")))}


def engine_path_seeds() -> dict[str, bytes]:
    from tests.native.test_engine_forwarding import VP8_DELTA, VP8_KEY, VP8_MORE, exts, rtp

    def rec(flags: int, data: bytes) -> bytes:
        return bytes([flags, len(data)]) + data

    video = b"".join(rec(1, rtp(0x1111, seq, ts, p, marker=m, ext=exts(twcc_seq=seq), csrcs=(0x77,))) for seq, ts, p, m in (
        (10, 0, VP8_DELTA, True), (11, 3000, VP8_KEY, False), (12, 3000, VP8_MORE, True), (14, 6000, VP8_MORE, False),
        (13, 6000, VP8_DELTA, False)))
    audio = rec(1, rtp(0x2222, 5, 960, b"opus" * 5, pt=111, ext=exts(level=40)))
    sr = rtcp.serialize([rtcp.SenderReport(0x1111, 5, 3000, 6, 600), rtcp.Sdes([(0x1111, {1: b"cname"})])])
    return {
        "video-audio": video + audio,
        "rtcp-stun-dtls": rec(2, sr) + rec(0, b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12))
        + rec(0, b"\x16\xfe\xfd" + bytes(20)) + rec(1, rtp(0x3333, 1, 1, b"who")),
        "garbage": rec(0, bytes(range(128, 228))) + rec(5, bytes(40)),
    }


def rtcp_seeds() -> dict[str, bytes]:
    rb = rtcp.ReportBlock(1, 10, -3, 70000, 12, 0x12345678, 655)
    twcc = rtcp.TransportCC.from_arrivals(1, 2, 65530, [1000, None, 1300, 90000, None, 2_000_000, 2_000_250], 3)
    packets: dict[str, list[rtcp.RtcpPacket]] = {
        "sr-sdes": [rtcp.SenderReport(1, 2**63 + 5, 90000, 10, 1000, [rb]), rtcp.Sdes([(1, {1: b"cname"})])],
        "rr-bye": [rtcp.ReceiverReport(1, [rb, rb]), rtcp.Bye([1, 2], b"gone")],
        "nack-pli-fir": [rtcp.Nack.from_seqs(1, 2, [5, 7, 30, 65535, 0]), rtcp.Pli(1, 2), rtcp.Fir(1, [(2, 7)])],
        "remb": [rtcp.Remb(1, 1_500_000, [2, 3])],
        "twcc": [twcc],
        "unknown": [rtcp.UnknownRtcp(204, 3, b"APP0data")],
    }
    out = {name: rtcp.serialize(ps) for name, ps in packets.items()}
    out["padded"] = bytes([0xA0 | 1]) + out["rr-bye"][1:4] + out["rr-bye"][4:]
    return out


def twcc_seeds() -> dict[str, bytes]:
    recs = b""
    for k in range(3):
        fb = rtcp.TransportCC.from_arrivals(1, 2, 65500 + 40 * k, [k * 70_000 + 500 * i if i % 5 else None
                                                                   for i in range(30)], k)
        body = rtcp.serialize([fb])[4:]
        recs += bytes([len(body)]) + body
    wrap = rtcp.serialize([rtcp.TransportCC(1, 2, 3, 0xFFFFFF, 0, [(3, True, 250), (4, True, -8_000_000)])])[4:]
    return {"three-feedbacks": recs, "reference-wrap": bytes([len(wrap)]) + wrap}


def stun_seeds() -> dict[str, bytes]:
    from aioice import stun

    out = {}
    requests: dict[str, dict[str, object]] = {
        "binding": {"USERNAME": "fuzzufrag:peer", "PRIORITY": 1853824767, "ICE-CONTROLLING": 5, "USE-CANDIDATE": None},
        "controlled": {"USERNAME": "fuzzufrag:peer", "PRIORITY": 1, "ICE-CONTROLLED": 5},
        "no-priority": {"USERNAME": "fuzzufrag:peer"},
        "unknown-ufrag": {"USERNAME": "other:peer", "PRIORITY": 1},
    }
    for name, attrs in requests.items():
        m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, transaction_id=bytes(range(12)))
        m.attributes.update(attrs)
        out[name] = b"\x01" + bytes(m)
    from tests.fuzz.stun import sign

    out["signed-raw"] = b"\x00" + sign(out["binding"][1:])
    ind = stun.Message(stun.Method.BINDING, stun.Class.INDICATION, transaction_id=bytes(12))
    out["indication"] = b"\x01" + bytes(ind)
    return out


def dtls_seeds() -> dict[str, bytes]:
    from tests.fuzz.dtls_records import handshake

    _, _, to_server, to_client = handshake()

    def pack(flags: int, datagrams: list[bytes]) -> bytes:
        return bytes([flags]) + b"".join(struct.pack("!H", len(d)) + d for d in datagrams)

    return {"client-flights": pack(0, to_server), "server-flights": pack(1, to_client),
            "connected-stray": pack(2, [to_server[-1], b"\x17\xfe\xfd" + bytes(10) + b"\x00\x04abcd",
                                        b"\x15\xfe\xfd" + bytes(10) + b"\x00\x02\x01\x00"])}


def offers() -> dict[str, str]:
    from tests.fuzz._node import offer
    from tests.node.negotiation.test_sdp import CHROME_OFFER

    simulcast = offer([("0", "video", "sendonly")]).replace(
        "a=ssrc-group:FID 1000 1001\r\na=ssrc:1001 cname:abc\r\na=ssrc:1000 cname:abc\r\n",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=rid:q send\r\na=rid:h send\r\na=rid:f send\r\n"
        "a=simulcast:send q;h;f\r\n")
    return {
        "chrome": CHROME_OFFER,
        "publish": offer([("0", "audio", "sendonly"), ("1", "video", "sendonly")], ssrc_base=5000),
        "subscribe": offer([("0", "audio", "recvonly"), ("1", "video", "recvonly")]),
        "mixed": offer([("0", "audio", "sendrecv"), ("1", "video", "sendonly"), ("2", "video", "recvonly")], ssrc_base=7000),
        "simulcast": simulcast,
        "vp9-h264": CHROME_OFFER.replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP7/90000"),
    }


def node_ws_seeds() -> dict[str, bytes]:
    from tests.fuzz._node import offer

    o = offers()
    pub = json.dumps({"type": "offer", "sdp": o["publish"], "seq": 1, "subscriptions": {}})
    sub = json.dumps({"type": "offer", "sdp": o["mixed"], "seq": 2, "subscriptions": {"2": "TR_x"}})
    rest = [json.dumps(m) for m in ({"type": "ping", "t": 1}, {"type": "chat", "data": "hello"},
                                    {"type": "mute", "track": "TR_x", "muted": True},
                                    {"type": "viewport", "track": "TR_x", "width": 640, "height": 360},
                                    {"type": "leave"})]

    def seq(flags: int, msgs: list[str]) -> bytes:
        return bytes([flags]) + b"\x1e".join(m.encode() for m in msgs)

    return {
        "publish-then-all": seq(0, [pub, sub, *rest]),
        "garbage": seq(0, ["{", "[]", '{"type": 5}', '{"type": "nope"}', '{"type": "offer", "sdp": 5}']),
        "resume-first": seq(1, [json.dumps({"type": "resume", "participant": "ws-user", "secret": "x"}),
                                json.dumps({"type": "ping"})]),
        "join-bad-token": seq(1, [json.dumps({"type": "join", "token": "a.b.c"})]),
        "offer-renegotiate": seq(0, [pub, pub.replace("5000", "6000"), json.dumps({"type": "offer", "sdp": offer(
            [("0", "audio", "recvonly")])})]),
    }


def control_seeds() -> dict[str, bytes]:
    from signalling.control.endpoints import ENDPOINTS

    link = "A" * 43
    bodies = {
        "CreateTenant": {"tenant": "acme", "name": "Acme", "jurisdiction": "EU"},
        "CreateAdminKey": {"label": "ops"},
        "CreateLink": {"title": "Board", "password": "pw", "expires_in": 3600, "max_participants": 10, "lobby": True},
        "RevokeLink": {"end_meeting": True},
        "ClearLockout": {"scope": "link", "key": link},
        "Join": {"link": link, "name": "Ann", "password": "pw", "region_hint": "eu-west", "host_key": "k"},
        "LobbyDecision": {"decision": "admit"},
        "Empty": {},
    }
    values = {"tenant": "acme", "link": link, "key_id": "0123456789abcdef", "ticket": "T" * 32}
    out = {}
    for i, e in enumerate(ENDPOINTS):
        body = json.dumps(bodies[e.body.name]).encode() if e.body else b""
        query = b"wait=20" if e.query else b""
        parts = [query, b"", *(values[n].encode() for n in e.path_params), body]
        out[f"{i:02d}-{e.method.lower()}"] = bytes([i, 0]) + b"\0".join(parts)
    return out


def token_seeds() -> dict[str, bytes]:
    from signalling.tokens import TokenIssuer
    from tests.fuzz.join_token import KEYS, NODE_ID, NOW

    issuer = TokenIssuer(KEYS)
    kid = KEYS.current.kid
    payload = {"iss": "castellan", "aud": NODE_ID, "sub": "p1", "tenant": "t", "room": "r", "region": "eu",
               "name": "Ann", "link": "", "host": False, "iat": int(NOW), "nbf": int(NOW) - 1, "exp": int(NOW) + 60,
               "jti": "j1"}
    header = json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}).encode()
    admin = {k: v for k, v in payload.items() if k not in ("tenant", "room", "region", "name", "link", "host")}
    admin["scope"] = "room:end"
    return {
        "minted": b"\x00" + issuer.mint(tenant="t", room="r", participant="p", region="eu", node=NODE_ID,
                                        now=NOW).encode(),
        "signed-join": b"\x01" + header + b"\0" + json.dumps(payload).encode(),
        "signed-admin": b"\x01" + header + b"\0" + json.dumps(admin).encode(),
        "other-key": b"\x03" + header + b"\0" + json.dumps(payload).encode(),
        "alg-none": b"\x00eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    }


def link_seeds() -> dict[str, bytes]:
    from tests.fuzz.link_id import REAL

    return {"real": b"\x00" + REAL.encode(), "real-xor": b"\x01\x00\x01", "json": b'\x02["' + REAL.encode() + b'"]',
            "padded": b"\x00" + REAL[:42].encode() + b"=", "json-number": b"\x02" + b"1e400"}


def origin_seeds() -> dict[str, bytes]:
    texts = [(0, "ws://127.0.0.1:7880/ws"), (0, "wss://node-1.eu.example.org/ws?x=1"), (0, "https://n.example:8443"),
             (1, "wss://*.media.example.org"), (2, "wss://a.example, https://b.example:443/p"),
             (0, "wss://evil.example; script-src *"), (0, "wss://[::1]:7880"), (0, "wss://u:p@h.example")]
    return {f"origin-{i}": bytes([mode]) + t.encode() for i, (mode, t) in enumerate(texts)}


def all_seeds() -> dict[str, dict[str, bytes]]:
    text = {name: s.encode() for name, s in offers().items()}
    return {
        "rtp": rtp_seeds(), "codec_payload": codec_seeds(), "layer_stream": layer_seeds(),
        "engine_path": engine_path_seeds(), "rtcp": rtcp_seeds(),
        "twcc": twcc_seeds(), "stun": stun_seeds(), "dtls_records": dtls_seeds(), "sdp": text,
        "offer": {**text, "renegotiate": text["publish"] + b"\0" + text["mixed"]}, "node_ws": node_ws_seeds(),
        "control_body": control_seeds(), "join_token": token_seeds(), "link_id": link_seeds(), "node_origin": origin_seeds(),
    }


def main() -> None:
    for target, seeds in all_seeds().items():
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (d / f"seed-{name}").write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
