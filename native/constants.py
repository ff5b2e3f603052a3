"""The values the native engine, its pure-Python reference and the node share — defined here, once.

Pure Python, importable without the compiled extension. The engine gets every integer below as a C enum
constant of the same name: `setup.py` writes `native/_engine/constants.pxi` (generated, not in git) from this
file before Cython runs, so the per-packet path compares against immediates and pays nothing. At import,
`native.engine` re-exports these names (`native.engine.CODEC_VP8`) and refuses to load if it was built from
other values (edit this file -> rebuild the extension).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CODEC_OTHER", "CODEC_OPUS", "CODEC_VP8", "CODEC_VP9", "CODEC_H264", "CODEC_IDS",
    "EV_STUN", "EV_DTLS", "EV_RTCP", "EV_UNKNOWN_SSRC",
    "MAX_RTP", "LAYER_ALL", "OFF_RING", "START_WINDOW", "ARRIVAL_LOG_SIZE", "SEND_LOG_SIZE", "HIST_BUCKETS",
    "SENT_RING", "MAX_WORKERS", "SRS_PER_PACKET",
    "DROP_REASONS",
]

# ---- codecs: what a track carries (Engine.add_track's `codec`); decides keyframe detection and layer parsing ----
CODEC_OTHER: Final = 0
CODEC_OPUS: Final = 1
CODEC_VP8: Final = 2
CODEC_VP9: Final = 3
CODEC_H264: Final = 4

# the negotiated codec's name (lower case, as in SDP) -> its id; anything else is CODEC_OTHER
CODEC_IDS: Final[dict[str, int]] = {"opus": CODEC_OPUS, "vp8": CODEC_VP8, "vp9": CODEC_VP9, "h264": CODEC_H264}

# ---- event kinds: the first field of each (kind, peer, (host, port), payload) that poll()/serve() hand over ----
EV_STUN: Final = 1
EV_DTLS: Final = 2
EV_RTCP: Final = 3              # payload: the decrypted compound RTCP packet
EV_UNKNOWN_SSRC: Final = 4      # payload: the decrypted RTP packet of an SSRC nobody announced

# ---- sizes and limits ----
MAX_RTP: Final = 1500           # larger RTP is refused (counted), so rewrite/RTX/protect never outgrow a buffer
LAYER_ALL: Final = 7            # a subscription's temporal / spatial cap meaning "every layer"
OFF_RING: Final = 64            # per subscription: the last seq-offset changes (layer drops), for NACK mapping
START_WINDOW: Final = 0x4000    # a subscription forwards packets at most this far behind the newest
ARRIVAL_LOG_SIZE: Final = 1024  # transport-cc: arrivals a publisher peer may accumulate between two drains
SEND_LOG_SIZE: Final = 4096     # transport-cc: packets sent to a subscriber peer that feedback can still refer to
HIST_BUCKETS: Final = 10001     # latency histogram: 1 µs buckets up to 10 ms, the last one = overflow
SENT_RING: Final = 256          # per video subscription without RTX: its last packets as sent (protected), by
                                # out seq, re-sent byte for byte on a NACK (never protected twice: nonce reuse)
SRS_PER_PACKET: Final = 8       # RTCP sender reports per compound packet (Engine.sender_reports)
MAX_WORKERS: Final = 16         # media workers (threads sharing one engine's tables) an engine may run

# ---- drop reasons: counters()["drops"] keys, in the engine's index order ----
DROP_REASONS: Final[tuple[str, ...]] = (
    "malformed", "unknown_address", "srtp_auth", "srtp_replay", "unknown_ssrc", "not_ready",
    "send_failed", "event_overflow", "too_big", "not_started", "srtcp_auth", "unclassified",
    "pipe_full",        # a media worker's inbox was full: the datagram / fan-out for it was dropped
)
