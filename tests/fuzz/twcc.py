"""Transport-cc feedback from a subscriber, as the node reads it: each record is the body of one RTPFB FMT=15
packet (parse_compound, RtcpError is a clean refusal), and the feedbacks in order go through one
sfu.congestion.twcc.FeedbackReader, which must extend sequence numbers and reference times across wraps and
give one consecutive entry per reported packet.

Input: records [length][body], at most 16."""

from __future__ import annotations

import struct

from sfu.congestion.twcc import FeedbackReader
from sfu.feedback import rtcp


def _packet(body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("!BBH", 0x80 | rtcp.FMT_TWCC, rtcp.PT_RTPFB, len(body) // 4) + body


def check(data: bytes) -> None:
    reader = FeedbackReader()
    i = 0
    for _ in range(16):
        if i >= len(data):
            break
        n = data[i]
        body, i = data[i + 1:i + 1 + n], i + 1 + n
        try:
            packets = rtcp.parse_compound(_packet(body))
        except rtcp.RtcpError:
            continue
        (fb,) = packets
        if not isinstance(fb, rtcp.TransportCC):
            raise AssertionError(f"an RTPFB FMT=15 packet parsed as {fb!r}")
        out = reader.read(fb)
        if len(out) != len(fb.packets):
            raise AssertionError(f"{len(fb.packets)} reported packets read as {len(out)}")
        for k, (ext, seq16, arrival) in enumerate(out):
            if ext != out[0][0] + k or ext & 0xFFFF != seq16 or seq16 != fb.packets[k][0]:
                raise AssertionError(f"entry {k}: {out[k]!r} for {fb.packets[k]!r} (first {out[0]!r})")
            if (arrival is None) == fb.packets[k][1]:
                raise AssertionError(f"entry {k}: arrival {arrival!r} for {fb.packets[k]!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("twcc")
