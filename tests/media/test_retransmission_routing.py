"""A subscriber receiving two videos gets its retransmissions (the bots behave like browsers here).

Each subscription has its own RTX SSRC (`a=ssrc-group:FID` in the node's answer) and every video m-line shares
the RTX payload type. aiortc registers only the media SSRCs and routes other packets by payload type, which is
ambiguous with two videos: it dropped every retransmission, NACK repaired nothing, and a lossy bot in a meeting
with two publishers decoded a fraction of the frames (found by the soak, issue 18). Browsers route RTX by the
FID group; `peer.Bot` now does too. Here, with 5 % of incoming RTP dropped, both videos decode in order.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpDecodingParameters, RTCRtpReceiveParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from loadtests import media
from loadtests.bots.loss import inject_loss
from loadtests.bots.peer import Bot, RtpRouter, _register_with_rtx
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def _rtx_received(bot: Bot) -> int:
    total = 0
    for tr in bot.pc.getTransceivers():
        rtx = getattr(tr.receiver, "_RTCRtpReceiver__rtx_ssrc", {})
        streams = getattr(tr.receiver, "_RTCRtpReceiver__remote_streams", {})
        total += sum(s.packets_received for ssrc, s in streams.items() if ssrc in rtx)
    return total


async def _two_publishers_one_lossy_subscriber() -> tuple[list[list[int]], int, int, int]:
    async with running_node() as rn:
        pubs = []
        for name in ("pub-a", "pub-b"):
            pub = Bot(rn.ws_url, rn.token(name=name), name)
            await pub.connect()
            await pub.publish(video=str(media.video_file("vp8")))
            pubs.append(pub)
        sub = Bot(rn.ws_url, rn.token(name="sub"), "sub")
        await sub.connect()
        await sub.negotiate()
        assert await wait_for(lambda: sub.pc.connectionState == "connected", 10)
        conn = inject_loss(sub.pc, 0.05)
        assert await wait_for(lambda: len(sub.video()) == 2 and all(v.frames > 0 for v in sub.video()), 15)
        await asyncio.sleep(5.0)
        for pub in pubs:
            await pub.close()
        await asyncio.sleep(1.5)  # what is still in flight or being retransmitted arrives
        served = rn.node.counts["nack_served"]
        numbers = [v.numbers[:] for v in sub.video()]
        rtx = _rtx_received(sub)
        await sub.close()
        return numbers, conn._castellan_dropped, served, rtx


def test_two_videos_with_loss_are_repaired_by_retransmission() -> None:
    numbers, dropped, served, rtx = asyncio.run(_two_publishers_one_lossy_subscriber())
    assert dropped > 5, "the loss injection did not drop anything"
    assert served > 0, "the node served no retransmission"
    assert rtx > 0, f"the node served {served} retransmissions, the subscriber received none of them"
    for seq in numbers:
        assert seq, "no video frame decoded"
        gaps = [(a, b) for a, b in zip(seq, seq[1:], strict=False) if b != a + 1]
        assert not gaps, f"decoded frames are not consecutive: {gaps[:5]}"


def test_a_stream_no_answer_announced_never_goes_to_another_m_lines_receiver() -> None:
    """Around a renegotiation a bot can get a stream whose SSRC it does not know: a new subscription's first
    packets before its answer is applied, the last ones of a track whose m-line it just set inactive. aiortc hands
    such a packet to the one receiver of its payload type; that receiver's NACK bookkeeping then took the jump to
    the other stream's sequence numbers for 128 lost packets (the soak). The bots drop it instead; a receiver
    whose answer announced no SSRC keeps aiortc's payload-type routing."""
    def params(mid: str, ssrc: int | None) -> RTCRtpReceiveParameters:
        vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
        encodings = [RTCRtpDecodingParameters(ssrc=ssrc, payloadType=97)] if ssrc is not None else []
        return RTCRtpReceiveParameters(codecs=[vp8], encodings=encodings, muxId=mid)

    class Receiver:
        pass

    transport = SimpleNamespace(_rtp_router=RtpRouter(), _rtp_header_extensions_map=HeaderExtensionsMap())
    announced = Receiver()
    _register_with_rtx(transport, announced, params("4", 1111))  # type: ignore[arg-type]
    router = transport._rtp_router
    assert router.route_rtp(RtpPacket(payload_type=97, ssrc=1111)) is announced
    assert router.route_rtp(RtpPacket(payload_type=97, ssrc=2222)) is None   # another stream: dropped
    assert router.route_rtp(RtpPacket(payload_type=97, ssrc=1111)) is announced
    _register_with_rtx(transport, Receiver(), params("6", 2222))  # type: ignore[arg-type]
    assert router.route_rtp(RtpPacket(payload_type=97, ssrc=2222)) is not announced  # its answer came: its own

    plain = RtpRouter()
    unannounced = Receiver()
    _register_with_rtx(SimpleNamespace(_rtp_router=plain, _rtp_header_extensions_map=HeaderExtensionsMap()),  # type: ignore[arg-type]
                       unannounced, params("0", None))
    assert plain.route_rtp(RtpPacket(payload_type=97, ssrc=3333)) is unannounced  # aiortc's rule, unchanged
