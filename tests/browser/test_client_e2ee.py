"""Issue 6: the browser client with end-to-end encryption on by default, in real Chromium instances (Playwright,
fake camera and microphone) inside a loopback-only network namespace, through a real node."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from signalling.tokens import KeyRing, TokenIssuer
from tests.browser.netns import (
    ARTIFACTS,
    HTTP_PORT,
    WEB_PORT,
    loopback_namespace,
    node_in,
    run_driver,
    skip_unless_possible,
    web_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(240)]


def _secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _tokens(names: list[str], room: str) -> tuple[str, dict[str, str]]:
    keys = KeyRing()
    issuer = TokenIssuer(keys)
    toks = {
        n: issuer.mint(
            tenant="acme",
            room=room,
            participant=f"p-{n.lower()}-{secrets.token_hex(3)}",
            region="local",
            node="node-1",
            name=n,
            ttl=300,
        )
        for n in names
    }
    return json.dumps(keys.jwks()), toks


def _sframe_kid(header: bytes) -> int | None:
    """The KID of an RFC 9605 SFrame header (config byte X|K|Y|C), None if it does not parse."""
    if not header:
        return None
    x, k = header[0] >> 7, (header[0] >> 4) & 7
    if not x:
        return k
    return int.from_bytes(header[1:k + 2], "big") if len(header) > k + 1 else None


def _fail(result: dict, *logs: str) -> str:
    return (
        result.get("error", "")
        + "\nconsole:\n"
        + "\n".join(result.get("console", [])[-60:])
        + "\n"
        + "\n".join(logs)
    )


def test_e2ee_meeting_wrong_secret_ratchet_and_rotation():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jwks, tokens = _tokens(["A", "B", "C", "D"], "e2ee-room")
    jwks_file = ARTIFACTS / "e2ee.jwks.json"
    jwks_file.write_text(jwks)
    secret, wrong = _secret(), _secret()
    with loopback_namespace() as ns, node_in(ns, "e2ee", jwks_file=jwks_file) as node, web_in(ns, "e2ee", {}):
        result = run_driver(
            ns,
            "e2ee_meeting",
            {
                "base_url": f"http://127.0.0.1:{WEB_PORT}",
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
                "secret": secret,
                "wrong_secret": wrong,
            },
            timeout=150,
            name="e2ee",
        )
        node_log = node.output()
    assert "error" not in result, _fail(result, node_log[-3000:])
    two = result["two"]
    ids = {k: v["participant"] for k, v in two.items()}
    for k, other in (("A", "B"), ("B", "A")):
        s = two[k]
        assert s["e2ee"]["epoch"] is not None and s["api"] == "RTCRtpScriptTransform"
        assert s["lockClass"].endswith("ok"), s["lock"]
        later = result["two_later"][k]
        f1 = sum(v["framesDecoded"] for v in s["video"] if v["participant"] == ids[other])
        f2 = sum(v["framesDecoded"] for v in later["video"] if v["participant"] == ids[other])
        assert f2 > f1 + 20, f"{k} decodes {other}'s video: {f1} -> {f2}"
        assert sum(x["packetsReceived"] for x in later["audio"]) > 50
        assert later["e2ee"]["sendEpoch"] == later["e2ee"]["epoch"], later["e2ee"]
    assert two["A"]["safety"] == two["B"]["safety"] is not None
    # the wrong fragment secret: the link PSK keeps her out of every epoch — she decodes nothing, waits to be
    # added, and shows the others as not (for her) in the group; the others' codes still agree
    wrong_s = result["wrong"]
    c = wrong_s["C"]
    assert sum(v["framesDecoded"] for v in c["video"]) == 0, c["video"]
    assert c["e2ee"]["epoch"] is None and c["safety"] is None
    assert c["lockClass"].endswith("warn") and "Waiting to be added" in c["lock"], c["lock"]
    assert all(t["name"].endswith("— joining") for t in c["tiles"] if t["participant"]), c["tiles"]
    assert wrong_s["A"]["safety"] == wrong_s["B"]["safety"] is not None
    for k in ("A", "B"):
        assert sum(v["framesDecoded"] for v in wrong_s[k]["video"] if v["participant"] == c["participant"]) == 0
    # a joiner with the right secret: a new epoch, everyone agrees
    three = result["three"]
    assert len({v["safety"] for v in three.values()}) == 1
    assert three["A"]["e2ee"]["epoch"] > result["epoch_before_join"]
    assert any("added" in line for line in three["A"]["e2eeLog"]), three["A"]["e2eeLog"]
    # chat: end-to-end encrypted, relayed by the node as an opaque blob
    assert any(m["text"] == "hello from Ada, encrypted" for m in result["wrong"]["B"]["chat"])
    assert not any(m["text"] == "hello from Ada, encrypted" for m in result["wrong"]["C"]["chat"])
    # a leave: a fresh epoch, the remaining two still see each other and agree on the safety code
    after = result["after_leave_later"]
    assert after["A"]["e2ee"]["epoch"] == after["B"]["e2ee"]["epoch"] > result["epoch_before_leave"]
    assert after["A"]["safety"] == after["B"]["safety"]
    f0, f1 = result["frames_after_leave"]
    for k in f0:
        assert f1[k] > f0[k] + 20, f"{k} stopped decoding after the rotation: {f0[k]} -> {f1[k]}"
    # media state (mute) reaches the others, end-to-end authenticated
    assert result["mute_seen"]
    # a dropped signalling socket: resumed as the same participant, no password, media kept flowing
    r = result["resume"]
    assert r["resumes"] >= 1 and r["signalling"] == "open" and r["same_participant"], r
    assert r["frames"][1] > r["frames"][0] + 20 and "End-to-end encrypted" in r["lock"] and not r["notice"], r


def test_node_forwards_only_ciphertext_and_e2ee_cpu_cost():
    """A bot subscribed through the node receives what the node forwards: with E2EE the video does not decode
    with av; the same meeting without E2EE decodes. Also records the browsers' CPU with E2EE on vs off."""
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = KeyRing()
    issuer = TokenIssuer(keys)
    tokens = {
        mode: {
            n: issuer.mint(
                tenant="acme",
                room=f"cipher-{mode}",
                participant=f"p-{n.lower()}-{mode}",
                region="local",
                node="node-1",
                name=n,
                ttl=300,
            )
            for n in ("A", "B", "bot")
        }
        for mode in ("on", "off")
    }
    jwks_file = ARTIFACTS / "cipher.jwks.json"
    jwks_file.write_text(json.dumps(keys.jwks()))
    with (
        loopback_namespace() as ns,
        node_in(ns, "cipher", jwks_file=jwks_file) as node,
        web_in(ns, "cipher", {}),
    ):
        result = run_driver(
            ns,
            "ciphertext_and_cpu",
            {
                "base_url": f"http://127.0.0.1:{WEB_PORT}",
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
                "secret": _secret(),
                "seconds": 8,
            },
            timeout=150,
            name="cipher",
        )
        node_log = node.output()
    assert "error" not in result, _fail(result, node_log[-3000:])
    (ARTIFACTS / "e2ee-cpu.json").write_text(
        json.dumps(
            {
                m: {k: result[m][k] for k in ("cpu_seconds", "wall_seconds", "frames_decoded", "crypto_ms")}
                for m in ("on", "off")
            },
            indent=1,
        )
    )
    on, off = result["on"]["capture"]["counts"], result["off"]["capture"]["counts"]
    # without E2EE the node's output decodes...
    assert (
        off["video"]["encoded_frames"] > 50 and off["video"]["decoded"] >= off["video"]["encoded_frames"] - 5
    ), off
    green_off = result["off"]["capture"]["green_fraction"]
    assert green_off and min(green_off) > 0.8, green_off  # the fake camera's picture
    # ...with E2EE it does not. libvpx usually refuses the frames; VP8's arithmetic decoder accepts any bytes,
    # though, so some runs "decode" them: what comes out is noise, never the camera's picture
    assert on["video"]["encoded_frames"] > 50, on
    green_on = result["on"]["capture"]["green_fraction"]
    assert all(g < 0.5 for g in green_on), green_on
    # and every frame the node forwarded has an SFrame header (RFC 9605 §4.3) right after the clear VP8 payload
    # header (10 bytes on keyframes, 3 on delta frames), whose KID names a sender leaf of this small group
    # (KID = leaf << 8 | epoch mod 256, docs/e2ee.md), followed by at least the 16-byte tag
    captured = sorted((ARTIFACTS / "capture-on").glob("video-*.vp8"))
    assert len(captured) >= 10
    for path in captured:
        data = path.read_bytes()
        clear = 10 if not data[0] & 1 else 3
        kid = _sframe_kid(data[clear:])
        assert kid is not None and kid % 256 == 1, (path.name, data[: clear + 9].hex())  # epoch 1: A and B
    # meanwhile both browsers decoded each other throughout, in both modes
    for mode in ("on", "off"):
        assert all(v > 50 for v in result[mode]["frames_decoded"].values()), result[mode]


def test_e2ee_with_the_create_encoded_streams_fallback():
    """One participant forced onto createEncodedStreams (the fallback), the other on RTCRtpScriptTransform: the
    same worker code and frame format, so each decodes the other."""
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jwks, tokens = _tokens(["A", "B"], "legacy-room")
    jwks_file = ARTIFACTS / "legacy.jwks.json"
    jwks_file.write_text(jwks)
    with (
        loopback_namespace() as ns,
        node_in(ns, "legacy", jwks_file=jwks_file) as node,
        web_in(ns, "legacy", {}),
    ):
        result = run_driver(
            ns,
            "legacy_transform",
            {
                "base_url": f"http://127.0.0.1:{WEB_PORT}",
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
                "secret": _secret(),
                "transform_a": "legacy",
            },
            timeout=90,
            name="legacy",
        )
        node_log = node.output()
    assert "error" not in result, _fail(result, node_log[-3000:])
    s0, s1 = result["s0"], result["s1"]
    assert s1["A"]["api"] == "createEncodedStreams" and s1["B"]["api"] == "RTCRtpScriptTransform"
    for k, other in (("A", "B"), ("B", "A")):
        f0 = sum(v["framesDecoded"] for v in s0[k]["video"] if v["participant"] == s1[other]["participant"])
        f1 = sum(v["framesDecoded"] for v in s1[k]["video"] if v["participant"] == s1[other]["participant"])
        assert f1 > f0 + 20, (k, f0, f1)
        assert "End-to-end encrypted" in s1[k]["lock"], s1[k]["lock"]
    assert s1["A"]["safety"] == s1["B"]["safety"]


def test_e2ee_with_h264_keeps_nal_headers_clear():
    """Both participants send H.264 (packetization-mode 1): the NAL headers stay clear, the rest is encrypted and
    RBSP-escaped, and each side decodes the other."""
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jwks, tokens = _tokens(["A", "B"], "h264-room")
    jwks_file = ARTIFACTS / "h264.jwks.json"
    jwks_file.write_text(jwks)
    with loopback_namespace() as ns, node_in(ns, "h264", jwks_file=jwks_file) as node, web_in(ns, "h264", {}):
        result = run_driver(
            ns,
            "legacy_transform",
            {
                "base_url": f"http://127.0.0.1:{WEB_PORT}",
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
                "secret": _secret(),
                "codec": "h264",
                "screenshot": "meeting-h264.png",
            },
            timeout=90,
            name="h264",
        )
        node_log = node.output()
    assert "error" not in result, _fail(result, node_log[-3000:])
    assert "codec=h264" in node_log
    s0, s1 = result["s0"], result["s1"]
    for k, other in (("A", "B"), ("B", "A")):
        f0 = sum(v["framesDecoded"] for v in s0[k]["video"] if v["participant"] == s1[other]["participant"])
        f1 = sum(v["framesDecoded"] for v in s1[k]["video"] if v["participant"] == s1[other]["participant"])
        assert f1 > f0 + 20, (k, f0, f1)
        assert "End-to-end encrypted" in s1[k]["lock"], s1[k]["lock"]


def test_camera_denied_still_joins_and_screen_share_tiles():
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jwks, tokens = _tokens(["A", "B"], "devices-room")
    jwks_file = ARTIFACTS / "devices.jwks.json"
    jwks_file.write_text(jwks)
    with (
        loopback_namespace() as ns,
        node_in(ns, "devices", jwks_file=jwks_file) as node,
        web_in(ns, "devices", {}),
    ):
        result = run_driver(
            ns,
            "devices",
            {
                "base_url": f"http://127.0.0.1:{WEB_PORT}",
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
                "secret": _secret(),
            },
            timeout=100,
            name="devices",
        )
        node_log = node.output()
    assert "error" not in result, _fail(result, node_log[-3000:])
    assert "denied" in result["denied_note"] and "still join" in result["denied_note"]
    assert result["denied_receives"] > 10 and not result["denied_outbound"]
    assert any(n.endswith("— screen") for n in result["screen_tiles"]) and len(result["screen_videos"]) == 2
    # the screen share: one full-resolution encoding (no simulcast: smaller text is unreadable), VP8 with three
    # temporal layers the node can thin for a weak subscriber
    sent = result["screen_sent"]
    assert [e["rid"] for e in sent["encodings"]] == [""] and sent["encodings"][0]["scalabilityMode"] == "L1T3", sent
    assert [o["scalabilityMode"] for o in sent["outbound"]] == ["L1T3"], sent
    assert not any("screen" in n for n in result["tiles_after_stop"])


def test_lock_indicator_tells_the_truth_about_an_unencrypted_participant():
    """B joins with E2EE off (e.g. an old client): A's UI says B's media is not decryptable and the lock is not
    green; B's UI says the meeting is not end-to-end encrypted; neither decodes the other."""
    skip_unless_possible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    jwks, tokens = _tokens(["A", "B"], "mixed-room")
    jwks_file = ARTIFACTS / "mixed.jwks.json"
    jwks_file.write_text(jwks)
    with (
        loopback_namespace() as ns,
        node_in(ns, "mixed", jwks_file=jwks_file) as node,
        web_in(ns, "mixed", {}),
    ):
        result = run_driver(
            ns,
            "legacy_transform",
            {
                "base_url": f"http://127.0.0.1:{WEB_PORT}",
                "http_url": f"http://127.0.0.1:{HTTP_PORT}",
                "ws_url": f"ws://127.0.0.1:{HTTP_PORT}/ws",
                "tokens": tokens,
                "secret": _secret(),
                "b_e2ee": False,
                "screenshot": "meeting-unencrypted-participant.png",
            },
            timeout=90,
            name="mixed",
        )
        node_log = node.output()
    assert "error" not in result, _fail(result, node_log[-3000:])
    a, b = result["s1"]["A"], result["s1"]["B"]
    assert (
        sum(v["framesDecoded"] for v in a["video"]) == 0
        and sum(v["packetsReceived"] for v in a["video"]) > 50
    )
    # B holds no MLS state: never in A's group, so A's lock is not green, and B's tile says why (and shows no media)
    assert not a["lockClass"].endswith("ok"), a["lock"]
    assert "Cannot decrypt" in a["lock"] or "Not in the encrypted group" in a["lock"], a["lock"]
    assert any("not yet in the encrypted group" in p for p in a["problems"]), a["problems"]
    assert b["e2ee"] is None and "Not end-to-end encrypted" in b["lock"]
