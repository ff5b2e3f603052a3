"""M-line recycling for aiortc bots, as browsers do it (JSEP §5.2.2; the browser client: session.js
`_negotiateOnce` reuses an inactive receive m-line for the next track of its kind).

aiortc never reuses an m-line: a bot that stays in a meeting adds two m-lines for every publisher that comes (audio
and video) and keeps them inactive after it leaves, so its offer grows for as long as it stays (~1 KB an m-line).
Over the hour's soak the staying bots' offers grew by dozens of m-lines, and the node's memory with them (each
renegotiation parses, answers and holds a bigger SDP: the soak's RSS stepped up at every publisher (re)join, no
allocation of the session itself being kept — memray, 2026-12-06). A browser's offer stays as long as the meeting's
largest moment. With `recycle`, a bot reuses an inactive receive transceiver of the same kind for a new track; the
node gives the m-line the new track's SSRCs in its answer, and `rebind` teaches aiortc's receiver them (aiortc
registers a receiver's SSRCs once, at its first negotiation) and starts its sequence bookkeeping afresh (the new
stream's numbers are unrelated to the old one's: a jump is not a hole)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiortc import sdp as aiortc_sdp
from aiortc.jitterbuffer import JitterBuffer


def recyclable(transceivers: Iterable[Any], kind: str, current: set[str], taken: set[Any]) -> Any | None:
    """A negotiated receive transceiver of `kind` whose track left (not in `current`), not already `taken`."""
    for tr in transceivers:
        gone = getattr(tr, "_castellan_track", None)
        if (gone is not None and gone not in current and tr not in taken and tr.kind == kind and not tr.stopped
                and tr.mid is not None and tr.sender.track is None):
            return tr
    return None


def announced_ssrcs(answer_sdp: str, mid: str) -> tuple[int | None, int | None]:
    """The (media, rtx) SSRCs the answer announces for `mid` (a=ssrc-group:FID, else the first a=ssrc)."""
    for media in aiortc_sdp.SessionDescription.parse(answer_sdp).media:
        if media.rtp.muxId != mid:
            continue
        for group in media.ssrc_group:
            if group.semantic == "FID" and len(group.items) == 2:
                return int(group.items[0]), int(group.items[1])
        return (media.ssrc[0].ssrc if media.ssrc else None), None
    return None, None


def rebind(tr: Any, answer_sdp: str, nack_generator: Callable[[], Any] | None) -> bool:
    """After the answer: the recycled transceiver's receiver takes the new SSRCs, a fresh jitter buffer and (video)
    a fresh NACK generator from `nack_generator`. False when the answer announced no stream for it."""
    media, rtx = announced_ssrcs(answer_sdp, tr.mid)
    receiver = tr.receiver
    if media is None or receiver.transport is None:
        return False
    router = receiver.transport._rtp_router
    router.register_receiver(receiver, ssrcs=[s for s in (media, rtx) if s is not None], payload_types=[],
                             mid=tr.mid)
    if rtx is not None:
        receiver._RTCRtpReceiver__rtx_ssrc[rtx] = media
    receiver._RTCRtpReceiver__active_ssrc.clear()  # NACKs (peer.py _renack) name the stream received now
    if tr.kind == "video":
        receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=512, is_video=True)
        if nack_generator is not None:
            receiver._RTCRtpReceiver__nack_generator = nack_generator()
    else:
        receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=4)
    return True
