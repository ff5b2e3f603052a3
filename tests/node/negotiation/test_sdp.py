"""The node's SDP (sfu/negotiation/sdp.py): a Chrome offer is answered as the node must, invalid offers are refused
naming the problem, and whatever text arrives the answer is a value or SdpError — never another exception.
(The STUN parser's property tests are in tests/node/transport/test_ice.py.)"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfu.negotiation import sdp

CHROME_OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "a=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Ab12\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendrecv\r\na=msid:stream audio1\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:1001 cname:abc\r\na=ssrc:1001 msid:stream audio1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98 99\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Ab12\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
    "a=setup:actpass\r\na=mid:1\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
    "a=sendrecv\r\na=msid:stream video1\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 ccm fir\r\n"
    "a=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
    "a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n"
    "a=ssrc-group:FID 2001 2002\r\na=ssrc:2001 cname:abc\r\na=ssrc:2002 cname:abc\r\n"
)


def _answer(offer: sdp.SessionDescription, directions: dict[str, str]) -> str:
    text, _ = sdp.build_answer(offer, ice_ufrag="node", ice_pwd="p" * 24, fingerprint="AA:BB", host="127.0.0.1",
                               port=40000, session_id=1, version=1, directions=directions, outgoing={})
    return text


def test_a_chrome_offer_is_answered_ice_lite_passive_with_the_preferred_codecs():
    offer = sdp.parse(CHROME_OFFER)
    assert offer.transport()[0] == "Ab12"
    assert offer.media[1].primary_ssrcs() == (2001, 2002)
    answer = _answer(offer, {"0": "recvonly", "1": "recvonly"})
    assert "a=ice-lite" in answer and "a=setup:passive" in answer and "a=group:BUNDLE 0 1" in answer
    assert "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n" in answer
    assert "m=video 40000 UDP/TLS/RTP/SAVPF 96 97\r\n" in answer
    assert "a=rtcp-fb:96 nack pli" in answer and "a=rtcp-fb:96 goog-remb" in answer
    # transport-cc where the offer has it: the extension (audio m-line here) and the feedback, per codec
    assert "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01" in answer
    assert "a=rtcp-fb:111 transport-cc" in answer and "a=rtcp-fb:96 transport-cc" in answer
    again = sdp.parse(answer.replace("a=setup:passive", "a=setup:actpass"))
    assert [m.mid for m in again.media] == ["0", "1"]


def test_a_subscription_gets_exactly_the_track_codec():
    offer = sdp.parse(CHROME_OFFER)
    text, neg = sdp.build_answer(offer, ice_ufrag="node", ice_pwd="p" * 24, fingerprint="AA", host="127.0.0.1",
                                 port=1, session_id=1, version=1, directions={"1": "sendonly"},
                                 outgoing={"1": sdp.OutgoingStream(5, 6, "c", "s", "t")}, wanted_codecs={"1": "H264"})
    assert neg["1"].codec.name == "H264" and neg["1"].rtx_pt == 103
    assert "a=ssrc-group:FID 5 6" in text and "a=msid:s t" in text


@pytest.mark.parametrize("mutation,message", [
    (lambda s: s.replace("a=group:BUNDLE 0 1\r\n", ""), "BUNDLE"),
    (lambda s: s.replace("a=fingerprint", "a=fingerpront"), "fingerprint"),
    (lambda s: s.replace("a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=ice-pwd:short"), "ice-pwd"),
    (lambda s: s.replace("a=setup:actpass", "a=setup:passive"), "setup"),
    (lambda s: s.replace("a=mid:0", "a=mid:"), "mid"),
    (lambda s: s.replace("v=0", "v=1"), "v=0"),
    (lambda s: s.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus"), "rtpmap"),
    (lambda s: s.replace("a=extmap:1 ", "a=extmap:999 "), "extension id"),
    (lambda s: s + "garbage line\r\n", "line"),
    # found by fuzzing (tests/fuzz/sdp): '²' passes str.isdigit() and int() raised ValueError, not SdpError
    (lambda s: s.replace("m=audio 9 ", "m=audio \u00b2 "), "m-line"),
    # ... and a NUL or a lone CR inside a line was echoed into the answer, which no browser parses
    (lambda s: s.replace("a=mid:0", "a=mid:0\x00"), "NUL"),
    (lambda s: s.replace("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF\r 111"), "lone CR"),
    # ... and a publisher's a=msid stream id went as is into every subscriber's answer (RFC 8830: 1*64token-char)
    (lambda s: s.replace("a=msid:stream audio1", "a=msid:str\u00e9am audio1"), "msid"),
    (lambda s: s.replace("a=msid:stream audio1", "a=msid:stream;x audio1"), "msid"),
    (lambda s: s.replace("a=msid:stream audio1", "a=msid:" + "s" * 65 + " audio1"), "msid"),
])
def test_invalid_offers_are_refused_naming_the_problem(mutation, message):
    with pytest.raises(sdp.SdpError, match=message):
        sdp.parse(mutation(CHROME_OFFER))


def test_a_format_that_is_not_an_ascii_number_is_ignored_not_a_crash():
    """Found by fuzzing (tests/fuzz/sdp): int('²') raised ValueError out of the parser."""
    offer = sdp.parse(CHROME_OFFER.replace("SAVPF 111 63", "SAVPF 111 \u00b2 63"))
    assert [c.pt for c in offer.media[0].codecs][:2] == [111, 63]


lines = st.lists(st.sampled_from(CHROME_OFFER.split("\r\n")) | st.text(max_size=60), max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines, st.data())
def test_any_text_parses_or_raises_sdp_error(parts, data):
    text = "\r\n".join(parts)
    try:
        offer = sdp.parse(text)
    except sdp.SdpError:
        return
    mids = [m.mid for m in offer.media]
    directions = {m: data.draw(st.sampled_from(["recvonly", "sendonly", "inactive"])) for m in mids}
    _answer(offer, directions)
