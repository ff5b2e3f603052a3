"""Offers applied on a real node (native engine, loopback socket; tests/fuzz/_node.py): what a participant's
offer may not do to the node or to the others in its room. Both cases were found by fuzzing (tests/fuzz/offer)."""

from __future__ import annotations

import pytest

from sfu.negotiation.sdp import SdpError

pytest.importorskip("native.engine")

from tests.fuzz._node import FuzzNode, offer  # noqa: E402 - needs the engine


def test_a_subscriber_that_cannot_decode_the_tracks_codec_gets_its_m_line_rejected_not_an_error():
    """A VP9 publication and a subscriber offering VP8 only: the answer rejects that m-line (port 0) and no
    subscription is made; the node raised KeyError (the participant got internal_error) before."""
    fz = FuzzNode()
    node = fz.node
    vp9 = fz.join("vp9-publisher")
    node.handle_offer(vp9, offer([("0", "video", "sendonly")], ssrc_base=9000).replace("VP8/90000", "VP9/90000"), {})
    (track,) = vp9.published.values()
    assert track.codec == "vp9"
    viewer = fz.join("viewer")
    answer = node.handle_offer(viewer, offer([("0", "video", "recvonly"), ("1", "audio", "recvonly")], ufrag="View"),
                               {"0": track.id, "1": fz.publisher_tracks()["0"]})
    video, audio = answer.split("m=")[1:]
    assert video.startswith("video 0 ") and "a=inactive" in video
    assert audio.startswith("audio ") and not audio.startswith("audio 0 ") and "a=sendonly" in audio
    assert set(viewer.subscriptions) == {"1"}
    node.leave(viewer)
    node.leave(vp9)
    assert fz.usage() == fz.baseline


@pytest.mark.parametrize("group", ["FID 99999999999 5011", "FID -1 5011", "FID 5010 4294967296"])
def test_an_out_of_range_ssrc_group_is_refused_and_takes_no_engine_index(group):
    """The SSRC reached the engine's add_track (OverflowError) after a track index was taken, so each such
    offer leaked one index of the node's track table: a few thousand filled it for everyone."""
    fz = FuzzNode()
    p = fz.join("p")
    bad = offer([("0", "audio", "sendonly"), ("1", "video", "sendonly")], ssrc_base=5000)
    bad = bad.replace("FID 5010 5011", group)
    for _ in range(3):
        with pytest.raises(SdpError, match="SSRC out of range"):
            fz.node.handle_offer(p, bad, {})
    fz.node.leave(p)
    assert fz.usage() == fz.baseline


@pytest.mark.parametrize(("edit", "message"), [
    (lambda o: o.replace("FID 5010 5011", "FID 5010 5010"), "lists an SSRC twice"),
    (lambda o: o.replace("a=ssrc:5000 cname", "a=ssrc:5010 cname"), "m-lines 0 and 1"),
])
def test_an_ssrc_used_twice_in_an_offer_is_refused_and_takes_no_engine_index(edit, message):
    """Found by fuzzing (tests/fuzz/offer): 'a=ssrc-group:FID 2002 2002' made the RTX sink collide with the
    track in the engine (ValueError, internal_error) after both indexes were taken."""
    fz = FuzzNode()
    p = fz.join("p")
    bad = edit(offer([("0", "audio", "sendonly"), ("1", "video", "sendonly")], ssrc_base=5000))
    with pytest.raises(SdpError, match=message):
        fz.node.handle_offer(p, bad, {})
    fz.node.leave(p)
    assert fz.usage() == fz.baseline


def test_a_renegotiation_reusing_an_rtx_ssrc_as_a_track_is_refused_without_a_leak():
    """The same collision across two offers (what one offer's checks cannot see): the engine refuses the SSRC,
    the node answers bad_sdp and gives back the indexes it took."""
    fz = FuzzNode()
    p = fz.join("p")
    fz.node.handle_offer(p, offer([("0", "video", "sendonly")], ssrc_base=5000), {})   # video 5000, RTX 5001
    after_first = fz.usage()
    second = offer([("0", "video", "sendonly"), ("1", "audio", "sendonly")], ssrc_base=5000)
    for line in ("a=ssrc-group:FID 5000 5001\r\n", "a=ssrc:5001 cname:abc\r\n", "a=ssrc:5000 cname:abc\r\n"):
        second = second.replace(line, "")                                                # video: unchanged
    second = second.replace("a=ssrc:5010 cname", "a=ssrc:5001 cname")                 # audio on the RTX SSRC
    with pytest.raises(SdpError, match="SSRC 5001"):
        fz.node.handle_offer(p, second, {})
    assert fz.usage() == after_first and [t.ssrc for t in p.published.values()] == [5000]
    fz.node.leave(p)
    assert fz.usage() == fz.baseline
