"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), both ends.

Receive side (`FeedbackBuilder`): a publisher stamps a transport-wide sequence number on every packet it sends;
the engine logs (seq, arrival) natively, and the node drains that log every ~100 ms into this builder, which
turns it into RTCP transport-cc feedback for the publisher's own bandwidth estimator (what libwebrtc's
RemoteEstimatorProxy does). It unwraps the 16-bit numbers, reports each sequence number from the last reported
one on (missing ones as not received, so losses count), re-reports a window when a late packet arrives for a
sequence number already reported lost, and starts a new feedback packet when a receive delta does not fit 16
bits of 250 µs, at a large gap of missing numbers, or when a packet would grow too large.

Send side (`FeedbackReader`): a subscriber's feedback is about packets the node stamped; the reader extends its
sequence numbers and reference times and yields (extended seq, 16-bit seq, arrival µs or None) per packet,
which the node joins with the engine's send log for `sfu.congestion.bwe`.

Pure Python; times are µs on any one clock, passed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from sfu.feedback.rtcp import TWCC_DELTA_US, TWCC_REFERENCE_US, TransportCC

MAX_STATUS = 600          # sequence numbers reported in one feedback packet (at most ~1.4 kB on the wire)
MAX_GAP = 500             # a longer run of missing sequence numbers ends a feedback packet and is not reported
HISTORY = 2000            # arrivals kept (in sequence numbers behind the newest) for re-reporting
MAX_DELTA_TICKS = 0x7FFF  # a receive delta is a signed 16-bit count of 250 µs


def _ticks(us: int) -> int:
    return (us + TWCC_DELTA_US // 2) // TWCC_DELTA_US


class FeedbackBuilder:
    """Arrivals of one peer's packets -> transport-cc feedback packets, with a running feedback count."""

    def __init__(self, sender_ssrc: int) -> None:
        self.sender_ssrc = sender_ssrc
        self.arrivals: dict[int, int] = {}    # extended seq -> arrival µs (first arrival of a duplicate wins)
        self.max_seq: int | None = None       # highest extended seq received
        self.start: int | None = None         # first extended seq the next feedback reports
        self.fb_count = 0
        self.packets_sent = 0

    def add(self, arrivals: Iterable[tuple[int, int]]) -> None:
        """(16-bit transport seq, arrival µs) in arrival order, as the engine's log drains."""
        for seq16, arrival_us in arrivals:
            if self.max_seq is None:
                ext = 0x10000 + (seq16 & 0xFFFF)   # room below the first for reordered predecessors
            else:
                delta = ((seq16 - self.max_seq) + 0x8000 & 0xFFFF) - 0x8000
                ext = self.max_seq + delta
                if ext < 0 or ext <= self.max_seq - HISTORY:
                    continue                        # far too old: already reported lost long ago
            self.arrivals.setdefault(ext, arrival_us)
            if self.max_seq is None or ext > self.max_seq:
                self.max_seq = ext
            if self.start is None or ext < self.start:
                self.start = ext                    # a late packet: report again from it

    def build(self, media_ssrc: int) -> list[TransportCC]:
        """Feedback covering everything from the last report up to the newest arrival ([] if nothing new)."""
        if self.max_seq is None or self.start is None or self.start > self.max_seq:
            return []
        out: list[TransportCC] = []
        seq = self.start
        end = self.max_seq
        while seq <= end:
            # a feedback packet starts at `seq` (which may be missing: the losses since the last report)
            base = seq
            arrivals: list[int | None] = []
            prev_ticks: int | None = None
            trailing = 0                            # missing numbers at the end of `arrivals`
            big_gap = False
            while seq <= end and len(arrivals) < MAX_STATUS:
                a = self.arrivals.get(seq)
                if a is None:
                    if trailing >= MAX_GAP:
                        big_gap = True
                        break
                    arrivals.append(None)
                    trailing += 1
                    seq += 1
                    continue
                ticks = _ticks(a)
                if prev_ticks is None:
                    prev_ticks = (a // TWCC_REFERENCE_US) * (TWCC_REFERENCE_US // TWCC_DELTA_US)
                if abs(ticks - prev_ticks) > MAX_DELTA_TICKS:
                    break                           # the delta does not fit: the next packet starts here
                trailing = 0
                arrivals.append(a)
                prev_ticks = ticks
                seq += 1
            if trailing:
                # a packet never ends on missing numbers: the next one reports them, or skips a big gap
                del arrivals[len(arrivals) - trailing:]
                if big_gap:
                    while seq <= end and seq not in self.arrivals:
                        seq += 1
                else:
                    seq -= trailing
            if arrivals:
                out.append(TransportCC.from_arrivals(self.sender_ssrc, media_ssrc, base & 0xFFFF, arrivals,
                                                     self.fb_count))
                self.fb_count = (self.fb_count + 1) & 0xFF
        self.start = end + 1
        self.packets_sent += len(out)
        for old in [s for s in self.arrivals if s <= end - HISTORY]:
            del self.arrivals[old]
        return out


class FeedbackReader:
    """A peer's transport-cc feedback about the node's packets -> per packet (extended seq, seq, arrival µs)."""

    def __init__(self) -> None:
        self.max_seq: int | None = None       # highest extended seq seen in feedback
        self.ref_ext: int | None = None       # extended reference time (64 ms units) of the last feedback

    def _extend_seq(self, seq16: int) -> int:
        if self.max_seq is None:
            return 0x10000 + seq16
        return self.max_seq + (((seq16 - self.max_seq) + 0x8000 & 0xFFFF) - 0x8000)

    def read(self, fb: TransportCC) -> list[tuple[int, int, int | None]]:
        """[(extended seq, 16-bit seq, arrival µs on the receiver's clock or None), ...] for one feedback."""
        ref = fb.reference_time
        if self.ref_ext is None:
            ref_ext = ref
        else:
            ref_ext = self.ref_ext + (((ref - self.ref_ext) + 0x800000 & 0xFFFFFF) - 0x800000)
        self.ref_ext = ref_ext
        t = ref_ext * TWCC_REFERENCE_US
        base = self._extend_seq(fb.base_seq)
        out: list[tuple[int, int, int | None]] = []
        for i, (seq16, received, delta) in enumerate(fb.packets):
            if received and delta is not None:
                t += delta
                out.append((base + i, seq16, t))
            else:
                out.append((base + i, seq16, None))
        if out and (self.max_seq is None or out[-1][0] > self.max_seq):
            self.max_seq = out[-1][0]
        return out
