"""SDP offers (RFC 8866, JSEP, BUNDLE): sfu.negotiation.sdp.parse, then what the node does with a parsed offer
without a node: negotiate every m-line and build the answer. Malformed text is an SdpError, nothing else, and
the answer the node writes is well-formed (see _sdp_text.answer_problems).

Input: the offer as UTF-8 (invalid bytes become U+FFFD)."""

from __future__ import annotations

from sfu.negotiation import sdp
from tests.fuzz._sdp_text import answer_problems, text


def check(data: bytes) -> None:
    try:
        offer = sdp.parse(text(data))
    except sdp.SdpError:
        return
    directions: dict[str, str] = {}
    outgoing: dict[str, sdp.OutgoingStream] = {}
    wanted: dict[str, str] = {}
    for i, sec in enumerate(offer.media):
        sdp.negotiate(sec)
        if sec.sends:
            directions[sec.mid] = "recvonly"
            sec.primary_ssrcs()
        elif sec.receives:
            directions[sec.mid] = "sendonly"
            outgoing[sec.mid] = sdp.OutgoingStream(1000 + i, 2000 + i if i % 2 else None, "castellan-p", "stream",
                                                   f"TR_{i}")
            wanted[sec.mid] = "opus" if sec.kind == "audio" else ("vp8", "vp9", "h264")[i % 3]
    answer, _ = sdp.build_answer(offer, ice_ufrag="node", ice_pwd="p" * 24, fingerprint="AA:BB", host="192.0.2.1",
                                 port=40000, session_id=1, version=2, directions=directions, outgoing=outgoing,
                                 wanted_codecs=wanted)
    problems = answer_problems(answer)
    if problems:
        raise AssertionError("; ".join(problems))


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("sdp")
