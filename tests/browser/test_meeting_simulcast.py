"""The meeting client publishes its camera with simulcast (signalling/client/simulcast.js; VP9: SVC), E2EE on: a
subscriber whose tile is a thumbnail decodes the quarter layer and the publisher pauses the full one nobody takes;
the tile grows and the node moves it to the full layer, decoding on. Every frame of every layer went through the
SFrame transform: the subscriber's transform refused none (no authentication failure, replay or wrong sender).
Scenario: tests/browser/meeting_media_scenarios.py `meeting_simulcast`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_mls_meeting import meeting_config, run

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(300)]


def refused(opened: list[dict[str, Any]]) -> int:
    return sum(o["failed"] + o["replayed"] + o["wrongSender"] for o in opened)


def through_the_transform(pub: dict[str, Any]) -> None:
    """Every encoded frame of every layer was sealed (or dropped before the first epoch's keys): none left past the
    transform. The worker posts its counts every 500 ms: up to ~30 frames (3 layers at 20 fps) behind getStats."""
    encoded = sum(o["framesEncoded"] for o in pub["outbound"])
    sealed = sum(x["ok"] + x["noKey"] + x["dropped"] for x in pub["sealed"])
    assert encoded > 200 and sealed >= encoded - 45, (sealed, encoded, pub)


@pytest.mark.parametrize("codec", [None, "h264"])
def test_a_thumbnail_gets_the_quarter_layer_a_large_tile_the_full_one_encrypted_throughout(codec: str | None) -> None:
    name = f"meeting-simulcast-{codec or 'vp8'}"
    cfg, jwks = meeting_config(name, ["P", "S"], name)
    r = run(name, "meeting_simulcast", {**cfg, "codec": codec}, jwks)
    small, large, after = r["small"], r["large"], r["after"]
    # the camera as published: three encodings q, h, f (quarter, half, full of 1280x720)
    pub = r["pub_small"]
    assert [e["rid"] for e in pub["encodings"]] == ["q", "h", "f"], pub
    assert [e["scaleResolutionDownBy"] for e in pub["encodings"]] == [4, 2, 1], pub
    widths = {o["rid"]: o["frameWidth"] for o in pub["outbound"]}
    assert widths["q"] == 320 and widths["h"] == 640, widths
    assert all(x["mime"] == f"video/{(codec or 'vp8').upper()}" for x in pub["sealed"]), pub["sealed"]
    # the thumbnail: the quarter layer, decoded; the publisher pauses f (nobody takes it; h stays warm for a step up)
    assert small["tile"][1] <= 200 and 0 < small["frameWidth"] <= 400, small
    assert pub["encodings"][2]["active"] is False and pub["encodings"][0]["active"] is True, pub
    # the large tile: the full layer, still decoding; at the publisher f is back on and h, which nobody takes, paused
    assert large["tile"][1] > 400 and large["frameWidth"] >= 960, large
    assert after["framesDecoded"] > large["framesDecoded"] + 10, (large, after)
    assert [e["active"] for e in r["pub_large"]["encodings"]] == [True, False, True], r["pub_large"]
    through_the_transform(r["pub_large"])
    # E2EE: every frame the subscriber got opened (no failure of authentication, no replay, no wrong sender), and
    # what it decoded is what its transform opened (a few frames behind: the counts come every 500 ms)
    assert after["opened"] and refused(after["opened"]) == 0, after["opened"]
    assert sum(o["ok"] for o in after["opened"]) >= after["framesDecoded"] - 30, after
    assert after["lock"] == "green", after
    print("simulcast meeting figures:", {"small": small, "large": large, "after": after, "pub_small": pub,
                                         "pub_large": r["pub_large"]})


def test_vp9_sends_one_svc_stream_a_thumbnail_gets_its_lowest_spatial_layer_encrypted() -> None:
    cfg, jwks = meeting_config("meeting-svc", ["P", "S"], "meeting-svc")
    r = run("meeting-svc", "meeting_simulcast", {**cfg, "codec": "vp9"}, jwks)
    small, large, after = r["small"], r["large"], r["after"]
    pub = r["pub_small"]
    assert [e["scalabilityMode"] for e in pub["encodings"]] == ["L3T3_KEY"], pub
    assert small["tile"][1] <= 200 and 0 < small["frameWidth"] <= 400, small  # spatial layer 0 (320x180)
    assert large["tile"][1] > 400 and large["frameWidth"] >= 960, large  # the top spatial layer
    assert after["framesDecoded"] > large["framesDecoded"] + 10, (large, after)
    through_the_transform(r["pub_large"])
    assert after["opened"] and refused(after["opened"]) == 0, after["opened"]
    assert after["lock"] == "green", after
    print("svc meeting figures:", {"small": small, "large": large, "after": after, "pub_small": pub,
                                   "pub_large": r["pub_large"]})
