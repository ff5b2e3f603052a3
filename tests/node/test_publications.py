"""How the node learns and ends what flows: a publisher whose offer names no SSRC (as Firefox and simulcast
senders do) is learned from the MID header extension of its first packets; a peer that stops answering
consent checks stops receiving media."""

from __future__ import annotations

import asyncio
import re

import pytest

from loadtests import media
from loadtests.bots.peer import Bot
from tests.harness import publisher_and_subscriber, running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


class SsrcLessBot(Bot):
    """Sends offers without a=ssrc / a=ssrc-group lines."""

    def shape_offer(self, sdp: str) -> str:
        return re.sub(r"a=ssrc(-group)?:[^\r\n]*\r\n", "", sdp)


def test_a_publication_without_signalled_ssrcs_is_learned_from_the_mid_extension():
    async def run():
        async with running_node() as rn:
            pub = SsrcLessBot(rn.ws_url, rn.token(name="pub"), "pub")
            await pub.connect()
            await pub.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
            p = rn.node.by_id[pub.joined["participant"]]
            pending_at_answer = len(p.pending_publications)
            sub = Bot(rn.ws_url, rn.token(name="sub"), "sub")
            await sub.connect()
            ok = await wait_for(lambda: sub.video() and sub.video()[0].frames > 30, 20)
            kinds = sorted(t.kind for t in p.published.values())
            await sub.close()
            await pub.close()
            return pending_at_answer, ok, kinds

    pending_at_answer, ok, kinds = asyncio.run(run())
    assert pending_at_answer == 2
    assert kinds == ["audio", "video"]
    assert ok, "the learned tracks did not reach the subscriber"


def test_media_stops_when_consent_checks_stop():
    async def run():
        async with running_node(consent_timeout=3.0) as rn:
            pub, sub = await publisher_and_subscriber(rn)
            p = rn.node.by_id[sub.joined["participant"]]
            await sub.pc.close()  # the browser tab froze or the network vanished: no more STUN, no DTLS close
            paused = await wait_for(lambda: p.media_address is None, 10)
            sent = [rn.node.engine.subscription_stats(s.index)[0] for s in p.subscriptions.values()]
            await asyncio.sleep(1.0)
            sent_later = [rn.node.engine.subscription_stats(s.index)[0] for s in p.subscriptions.values()]
            still_in = p.id in rn.node.by_id  # its signalling is still open: it may come back with an ICE restart
            await pub.close()
            return paused, sent, sent_later, still_in

    paused, sent, sent_later, still_in = asyncio.run(run())
    assert paused, "the node kept the address of a peer whose consent expired"
    assert sent == sent_later, "media was still sent after consent expired"
    assert still_in


def test_a_subscriber_gets_each_track_once_however_many_m_lines_ask_for_it():
    """An attacker's offer maps 20 receiving m-lines to one track: one subscription (each holds a send buffer
    in the engine), the other m-lines are answered inactive."""
    from aiortc import RTCPeerConnection

    async def run():
        async with running_node() as rn:
            pub = Bot(rn.ws_url, rn.token(name="pub"), "pub")
            await pub.connect()
            await pub.publish(video=str(media.video_file("vp8")))
            assert await wait_for(lambda: any(t.kind == "video" for t in rn.node.tracks_by_ssrc.values()), 10)
            track = next(t for t in rn.node.tracks_by_ssrc.values() if t.kind == "video")
            attacker = rn.node.join(_claims(rn, "attacker"))
            pc = RTCPeerConnection()
            for _ in range(20):
                pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            mids = [t.mid for t in pc.getTransceivers()]
            answer = rn.node.handle_offer(attacker, pc.localDescription.sdp, {m: track.id for m in mids})
            await pc.close()
            await pub.close()
            return len(attacker.subscriptions), answer.count("a=sendonly"), answer.count("a=inactive")

    subs, sending, inactive = asyncio.run(run())
    assert (subs, sending, inactive) == (1, 1, 19)


def _claims(rn, participant: str):
    return rn.signalling.verifier.verify(rn.token(participant=participant, name=participant))
