"""RTCP compound packets (RFC 3550 SR/RR/SDES/BYE, RFC 4585 NACK/PLI, RFC 5104 FIR, REMB, transport-cc):
sfu.feedback.rtcp.parse_compound. A datagram from a peer is parsed or refused with RtcpError, nothing else;
what was parsed is written back by `serialize` and parses to the same packets (the node re-sends and logs
parsed feedback, so a value the parser accepts must be one the writer can write)."""

from __future__ import annotations

from sfu.feedback import rtcp

ROUND_TRIP = (rtcp.SenderReport, rtcp.ReceiverReport, rtcp.Sdes, rtcp.Bye, rtcp.Pli, rtcp.Fir, rtcp.Remb,
              rtcp.TransportCC)


def check(data: bytes) -> None:
    try:
        packets = rtcp.parse_compound(data)
    except rtcp.RtcpError:
        return
    for p in packets:
        if isinstance(p, ROUND_TRIP):
            again = rtcp.parse_compound(rtcp.serialize([p]))
            if again != [p]:
                raise AssertionError(f"{p!r} was written back as {again!r}")
        elif isinstance(p, rtcp.Nack):
            (again_nack,) = rtcp.parse_compound(rtcp.serialize([p]))
            assert isinstance(again_nack, rtcp.Nack) and set(again_nack.lost) == set(p.lost), (p, again_nack)


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("rtcp")
